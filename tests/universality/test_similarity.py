"""Layer-similarity measures: published reference values, invariances, and the failure
modes of other CKA/CCA packages (zero variance, tiny batches, scale mismatch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncircuits.errors import InputError, VisionCircuitsError
from visioncircuits.universality.measures import (
    METRICS,
    linear_cka,
    mean_squared_cca,
    mutual_knn,
    procrustes_distance,
    procrustes_similarity,
    pwcca,
    rbf_cka,
    similarity,
    svcca,
)


@pytest.fixture(scope="module")
def xy():
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    return x, y


def test_reference_values_kornblith_colab(xy):
    x, y = xy
    assert round(linear_cka(x, y), 5) == 0.55761
    assert round(rbf_cka(x, y, threshold=0.5), 5) == 0.65483
    assert round(linear_cka(x, y, debiased=True), 5) == 0.51346
    # the colab's cca() applies QR to the raw (uncentred) features
    assert round(mean_squared_cca(x, y, center=False), 5) == 0.54312
    # centring first is the same computation on centred data
    assert mean_squared_cca(x, y) == pytest.approx(
        mean_squared_cca(x - x.mean(0), y - y.mean(0), center=False), abs=1e-12
    )


def test_gram_and_feature_space_linear_cka_agree(xy):
    x, y = xy
    wide = np.concatenate([x, np.random.default_rng(0).normal(size=(100, 200))], axis=1)  # d > n: gram path
    narrow = linear_cka(x, y)  # d < n: feature-space path
    from visioncircuits.universality.measures import cka_from_grams, gram_linear
    xc, yc = torch.tensor(x - x.mean(0)), torch.tensor(y - y.mean(0))
    assert narrow == pytest.approx(cka_from_grams(gram_linear(xc), gram_linear(yc)), abs=1e-12)
    wc = torch.tensor(wide - wide.mean(0))
    assert linear_cka(wide, y) == pytest.approx(cka_from_grams(gram_linear(wc), gram_linear(yc)), abs=1e-12)


def test_invariances(xy):
    x, y = xy
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(10, 10)))
    assert linear_cka(x @ q * 7.0 + 3.0, y) == pytest.approx(linear_cka(x, y), abs=1e-10)
    assert rbf_cka(x @ q * 7.0, y, 0.5) == pytest.approx(rbf_cka(x, y, 0.5), abs=1e-10)
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert procrustes_similarity(x @ q, x) == pytest.approx(1.0)
    assert procrustes_distance(x @ q, x) == pytest.approx(0.0, abs=1e-9)
    a = np.random.default_rng(2).normal(size=(10, 10))  # any invertible map: CCA sees the same space
    assert svcca(x @ a, x, keep=10) == pytest.approx(1.0)
    assert mean_squared_cca(x @ a, x) == pytest.approx(1.0)
    assert pwcca(x @ a, x) == pytest.approx(1.0)
    assert mutual_knn(x, x * 3.0, k=5) == 1.0


def test_unrelated_representations_score_low():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    assert linear_cka(x, y) < 0.05
    assert abs(linear_cka(x, y, debiased=True)) < 0.02
    assert mean_squared_cca(x, y) < 0.05
    assert mutual_knn(x, y, k=10) < 0.1


def test_scale_mismatch_float32_no_overflow(xy):
    x, y = xy
    big, small = (x * 1e30).astype(np.float32), (y * 1e-30).astype(np.float32)
    for name, fn in METRICS.items():
        ref = fn(x.astype(np.float32), y.astype(np.float32))
        got = fn(big, small)
        assert np.isfinite(got), name
        assert got == pytest.approx(ref, abs=1e-4), name


def test_zero_variance_units_are_harmless(xy):
    x, y = xy
    dead = np.concatenate([x, np.zeros((100, 3)), np.full((100, 2), 5.0)], axis=1)
    for name, fn in METRICS.items():
        got = fn(dead, y)
        assert np.isfinite(got), name
        assert got == pytest.approx(fn(x, y), abs=1e-8), name


def test_constant_representation_is_a_clear_error(xy):
    _, y = xy
    const = np.full((100, 4), 0.1)
    for name in METRICS:
        with pytest.raises(InputError, match="(?i)variance|constant|zero"):
            similarity(const, y, name)


def test_tiny_batches_defined_or_clear_error():
    rng = np.random.default_rng(4)
    one = rng.normal(size=(1, 5))
    for name in METRICS:
        with pytest.raises(InputError, match="at least"):
            similarity(one, one, name)
    three = rng.normal(size=(3, 5))
    with pytest.raises(InputError, match="at least 4"):
        linear_cka(three, three, debiased=True)
    two = rng.normal(size=(2, 5))
    assert linear_cka(two, two) == pytest.approx(1.0)  # defined for n = 2
    four = rng.normal(size=(4, 5))
    assert np.isfinite(linear_cka(four, rng.normal(size=(4, 5)), debiased=True))
    with pytest.raises(InputError, match="more examples than directions"):
        mean_squared_cca(rng.normal(size=(20, 30)), rng.normal(size=(20, 30)))
    with pytest.raises(InputError, match="k < n"):
        mutual_knn(four, four, k=4)


def test_bad_input_errors():
    with pytest.raises(InputError, match="same number of examples"):
        linear_cka(np.ones((5, 2)) * np.arange(5)[:, None], np.ones((6, 2)))
    with pytest.raises(InputError, match="NaN"):
        linear_cka(np.array([[1.0, np.nan], [2, 3], [4, 5]]), np.ones((3, 2)))
    with pytest.raises(VisionCircuitsError, match="closest"):
        similarity(np.eye(5), np.eye(5), "linear_ckaa")
    with pytest.raises(InputError, match="threshold"):
        rbf_cka(np.eye(5), np.eye(5), threshold=0)
