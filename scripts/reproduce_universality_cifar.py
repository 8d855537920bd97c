"""CIFAR ResNet-20 vs ResNet-56 (published weights) on the 1,000 sample photos: minibatch linear
CKA (unbiased HSIC, batches of 100) between every main layer of the two (10 x 28), and for
each ResNet-20 layer the most similar ResNet-56 layer against proportional depth. One thread.

    python scripts/reproduce_universality_cifar.py            # ~1-2 min on one thread
"""

from __future__ import annotations

import sys

import numpy as np
from _common import command, hub_cache, parse_no_options, sample_images
from scipy.stats import spearmanr

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.universality.activations import resolve_layers, stream_activations
    from visioncircuits.universality.minibatch import BatchGrams, MinibatchCKA
    from visioncircuits.universality.probes import FolderProbes
    from visioncircuits.zoo import load_model

    with Timer() as t, deterministic(threads=1), hub_cache():
        models = {"a": load_model("cifar10-resnet20"), "b": load_model("cifar10-resnet56")}
        layers = {k: resolve_layers(m, "main") for k, m in models.items()}
        probes = FolderProbes(sample_images(), 32, limit=1000)
        acc, ga, gb = MinibatchCKA(len(layers["a"]), len(layers["b"])), BatchGrams(), BatchGrams()
        stream = stream_activations(models, layers, (x for _, x in probes.batches(100)), mode="flatten", progress=False)
        for feats in stream:
            acc.update_grams(
                ga(list(feats["a"].values())), gb(list(feats["b"].values())), next(iter(feats["a"].values())).shape[0]
            )
        m = np.asarray(acc.result())
    na, nb = m.shape
    argmax = [int(i) for i in m.argmax(1)]
    proportional = [int(round(i * (nb - 1) / (na - 1))) for i in range(na)]
    values = {
        "layers_a": layers["a"],
        "layers_b": layers["b"],
        "images": len(probes),
        "cka": m.round(5).tolist(),
        "row_argmax": argmax,
        "row_proportional": proportional,
        "row_best": [float(x) for x in m.max(1)],
        "col_argmax": [int(i) for i in m.argmax(0)],
        "spearman_rows": float(spearmanr(range(na), argmax)[0]),
    }
    write_results(RESULTS_DIR / "universality_cifar.json", values, command(), t, threads=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
