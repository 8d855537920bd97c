"""Real networks: CIFAR ResNet-20 vs ResNet-56 (published weights) on the sample photos.

Kornblith et al. (2019) and Nguyen et al. (2021) show that layers of ResNets of different
depth line up by proportional depth. A broken CKA, a wrong layer order, mixed-up images
between models or a broken preprocessing path destroys that diagonal.
"""
from __future__ import annotations

import numpy as np
import pytest

from visioncircuits.universality.compare import cka_matrices
from visioncircuits.universality.probes import FolderProbes, resolve_layers

pytestmark = pytest.mark.shared


def _within_one_block(argmax: np.ndarray, n_rows: int, n_cols: int, block: float) -> np.ndarray:
    """Is each row's most similar column within ``block`` relative depth of the row's own depth?"""
    row_depth = np.arange(n_rows) / (n_rows - 1)
    col_depth = argmax / (n_cols - 1)
    return np.abs(col_depth - row_depth) <= block + 1e-9


@pytest.fixture(scope="module")
def cifar_cka(hub_cache, sample_images_dir):
    from visioncircuits.zoo import load_model

    models = {"r20": load_model("cifar10-resnet20"), "r56": load_model("cifar10-resnet56")}
    layers = {k: resolve_layers(m, None) for k, m in models.items()}  # stem relu + every residual block
    acc = cka_matrices(models, layers, FolderProbes(sample_images_dir, 32, limit=120), batch_size=40, progress=False)
    return acc[("r20", "r56")], layers


def test_resnet20_vs_resnet56_layers_line_up_by_proportional_depth(cifar_cka):
    acc, layers = cifar_cka
    m = acc.result()
    assert m.shape == (10, 28) and acc.examples == 120
    assert np.isfinite(m).all() and m.min() > -0.05 and m.max() <= 1.0 + 1e-9
    block20 = 1 / 9  # one ResNet-20 block in relative depth (= three ResNet-56 blocks)
    rows = _within_one_block(m.argmax(axis=1), 10, 28, block20)
    cols = _within_one_block(m.argmax(axis=0), 28, 10, block20)
    assert rows.mean() >= 0.8, (m.argmax(axis=1), rows)
    assert cols.mean() >= 0.8, (m.argmax(axis=0), cols)
    # the argmax walks forward with depth: strongly rank-correlated with the layer index
    from scipy.stats import spearmanr

    assert spearmanr(np.arange(10), m.argmax(axis=1)).statistic > 0.95
    # the ends: stem with stem, last block with (one of) the last blocks
    assert m.argmax(axis=1)[0] <= 2 and m.argmax(axis=1)[-1] >= 25
    # and a layer is much more like its counterpart than like the far end of the other net
    assert m[0, :3].max() > 2 * m[0, -1] and m[-1, -3:].max() > 2 * m[-1, 0]
