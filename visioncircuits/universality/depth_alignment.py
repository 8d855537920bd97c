"""Does a layer's most similar layer in another network sit at the same relative depth?

Two independently trained networks of different depth (MobileNetV1's 13 blocks vs
MobileNetV2's 17) cannot be compared layer by layer by index; a CKA matrix can. This
compares each row's argmax with the layer at the *proportional* depth (a layer's position
among the compared layers, scaled to [0, 1]) and summarises how monotone the argmax is.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import spearmanr


def relative_depths(n: int) -> np.ndarray:
    """Positions 0..n-1 scaled to [0, 1] (a single layer sits at 0)."""
    return np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)


def depth_alignment(cka: np.ndarray, layers_a: Sequence[str], layers_b: Sequence[str]) -> dict:
    """Per row of ``cka`` (layers of A x layers of B): argmax layer of B, the B layer nearest
    to proportional depth, and their distance in B layers; plus the Spearman correlation of
    A's layer index with the argmax index (1 = perfectly monotone), the share of rows whose
    argmax is within one layer of proportional, and the mean CKA on the argmax."""
    cka = np.asarray(cka, dtype=float)
    if cka.shape != (len(layers_a), len(layers_b)):
        raise ValueError(f"CKA matrix {cka.shape} does not match {len(layers_a)} x {len(layers_b)} layers")
    da, db = relative_depths(len(layers_a)), relative_depths(len(layers_b))
    argmax = cka.argmax(axis=1)
    proportional = np.abs(da[:, None] - db[None, :]).argmin(axis=1)
    rows = [
        {
            "layer_a": layers_a[i],
            "argmax_b": layers_b[int(argmax[i])],
            "proportional_b": layers_b[int(proportional[i])],
            "cka_argmax": round(float(cka[i, argmax[i]]), 4),
            "cka_proportional": round(float(cka[i, proportional[i]]), 4),
            "offset_layers": int(argmax[i] - proportional[i]),
        }
        for i in range(len(layers_a))
    ]
    rho = (
        float(np.asarray(spearmanr(np.arange(len(layers_a)), argmax)[0]))
        if len(set(argmax.tolist())) > 1
        else float("nan")
    )
    off = np.abs(argmax - proportional)
    return {
        "rows": rows,
        "spearman_index_vs_argmax": None if np.isnan(rho) else round(float(rho), 4),
        "within_one_layer": round(float((off <= 1).mean()), 4),
        "exact": round(float((off == 0).mean()), 4),
        "mean_abs_offset_layers": round(float(off.mean()), 3),
        "mean_cka_argmax": round(float(cka[np.arange(len(argmax)), argmax].mean()), 4),
    }
