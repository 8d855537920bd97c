"""The Kornblith et al. (2019) CKA colab's reference example, computed by this package:
`np.random.seed(1337)`, X = randn(100, 10), Y = randn(100, 10) + X. The colab prints linear CKA
0.55761, RBF CKA (threshold 0.5) 0.65483, debiased linear CKA 0.51346 and mean squared CCA
0.54312 (uncentred); tests/universality/test_similarity.py asserts the same to 5 digits.

    python scripts/reproduce_cka_reference.py            # < 1 s
"""
from __future__ import annotations

import sys

import numpy as np
from _common import command, parse_no_options

from visioncircuits.results import RESULTS_DIR, Timer, write_results


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.universality.cca import mean_squared_cca
    from visioncircuits.universality.cka import linear_cka, rbf_cka

    with Timer() as t:
        np.random.seed(1337)
        x = np.random.randn(100, 10)
        y = np.random.randn(100, 10) + x
        values = {"linear_cka": float(linear_cka(x, y)), "rbf_cka_t05": float(rbf_cka(x, y, threshold=0.5)),
                  "debiased_linear_cka": float(linear_cka(x, y, debiased=True)),
                  "mean_squared_cca_uncentred": float(mean_squared_cca(x, y, center=False)),
                  "mean_squared_cca": float(mean_squared_cca(x, y))}
    write_results(RESULTS_DIR / "cka_reference.json", values, command(), t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
