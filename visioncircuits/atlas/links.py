"""Links from a unit to things outside its layer: SAE latents reading it, and matched units in
other models from universality reports. Both are read from files, no model run needed."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence, Union

import torch

from visioncircuits.errors import InputError


def sae_layer(sae_dir: Union[str, os.PathLike]) -> str:
    """The layer an SAE reads (from its ``cfg.json``; a bad folder is one InputError)."""
    from visioncircuits.sae.config import read_config

    if not Path(sae_dir).is_dir():
        raise InputError(f"SAE folder not found: {sae_dir}")
    return str(read_config(sae_dir).layer)


def sae_readers(sae_dir: str, units: Sequence[int], top: int) -> tuple[dict, dict]:
    """(unit index -> [(latent, encoder weight)], latent -> [(unit index, weight)]) for ``units``.

    A latent "reads" channel c with weight ``W_enc[c, latent]``; per unit the ``top`` latents
    with the largest positive weight, per chosen latent its ``top`` strongest site units.
    """
    from visioncircuits.sae.io import load_sae

    w = load_sae(sae_dir, device="cpu").W_enc.detach().float()  # (d_in, d_sae)
    per_unit: dict = {}
    for c in units:
        v, j = w[int(c)].topk(min(top, w.shape[1]))
        per_unit[int(c)] = [(int(a), float(b)) for a, b in zip(j.tolist(), v.tolist()) if b > 0]
    latents = sorted({j for rows in per_unit.values() for j, _ in rows})
    idx = torch.tensor([int(c) for c in units], dtype=torch.long)
    per_latent: dict = {}
    for j in latents:
        col = w[idx, j]
        v, r = col.topk(min(top, len(idx)))
        per_latent[j] = [(int(idx[a]), float(b)) for a, b in zip(r.tolist(), v.tolist())]
    return per_unit, per_latent


def read_universality(path: Union[str, os.PathLike]) -> dict:
    """A universality ``report.json`` (checked to have ``pairs``)."""
    p = Path(path)
    try:
        rep = json.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"universality report not found: {p}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"universality report {p} is not readable JSON: {e}") from None
    if not isinstance(rep, dict) or not isinstance(rep.get("pairs"), list):
        raise InputError(f"{p} is not a universality report (no 'pairs' list)")
    return rep


def universality_matches(reports: Sequence[dict], model_name: str) -> dict:
    """address -> [{"model", "unit", "r", "significant"}], best first, from every report pair
    that involves ``model_name``."""
    out: dict = {}
    for rep in reports:
        for pair in rep["pairs"]:
            a, b = pair.get("a"), pair.get("b")
            for m in (pair.get("matching") or {}).get("matches", []):
                if a == model_name:
                    mine, other, name = m.get("unit_a"), m.get("unit_b"), b
                elif b == model_name:
                    mine, other, name = m.get("unit_b"), m.get("unit_a"), a
                else:
                    continue
                out.setdefault(str(mine), []).append({"model": str(name), "unit": str(other), "r": float(m["r"]),
                                                      "significant": bool(m.get("significant"))})
    for rows in out.values():
        rows.sort(key=lambda r: -r["r"])
    return out
