"""Minibatch CKA against the full computation; streaming unit correlation, matching, nulls."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from visioncircuits.errors import InputError, VisionCircuitsError
from visioncircuits.universality.matching import (
    CrossCorrelation,
    MinibatchCKA,
    benjamini_hochberg,
    full_cka_matrix,
    match_units,
    null_strengths,
    permute_images,
    significance,
)


def _layers(n=600, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 20))
    b = a @ rng.normal(size=(20, 30)) + 2 * rng.normal(size=(n, 30))
    c = rng.normal(size=(n, 6))
    return a, b, c


def test_single_batch_equals_full_debiased_cka():
    a, b, c = _layers(200)
    m = MinibatchCKA(2, 2)
    m.update([a, c], [b, a])
    np.testing.assert_allclose(m.result(), full_cka_matrix([a, c], [b, a], debiased=True), atol=1e-10)


def test_minibatch_estimate_tracks_full_cka_and_state_is_constant_size():
    a, b, c = _layers(1200)
    m = MinibatchCKA(2, 2)
    sizes = None
    for i in range(0, 1200, 100):
        m.update({"a": a[i:i + 100], "c": c[i:i + 100]}, [b[i:i + 100], a[i:i + 100]])
        state = [v.nbytes for v in vars(m).values() if isinstance(v, np.ndarray)]
        sizes = sizes or state
        assert state == sizes  # memory does not grow with the number of batches
    got, full = m.result(), full_cka_matrix([a, c], [b, a], debiased=True)
    assert got[0, 1] == pytest.approx(1.0)
    assert abs(got[0, 0] - full[0, 0]) < 0.05 and got[0, 0] > 0.5
    assert abs(got[1, 0]) < 0.05 and abs(got[1, 1]) < 0.05
    assert m.examples == 1200 and m.batches == 12


def test_minibatch_tiny_batches_and_dead_layers():
    a, b, _ = _layers(100)
    m = MinibatchCKA(2, 1)
    dead = np.zeros((100, 5))
    m.update([a[:50], dead[:50]], [b[:50]])
    m.update([a[50:53], dead[50:53]], [b[50:53]])  # 3 images: no unbiased estimate
    assert m.skipped_examples == 3
    r = m.result()
    assert np.isfinite(r).all() and r[1, 0] == 0.0 and m.degenerate_x == [1]
    empty = MinibatchCKA(1, 1)
    empty.update([a[:2]], [b[:2]])
    with pytest.raises(InputError, match="no batch of at least 4"):
        empty.result()
    with pytest.raises(InputError, match="same images"):
        MinibatchCKA(1, 1).update([a[:10]], [b[:9]])


def test_streaming_correlation_matches_numpy_with_large_offsets():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 3, 5, 5)) * 1e-3 + 1e4  # large mean, tiny variance
    b = np.concatenate([a[:, :2] * 2 + rng.normal(size=(4, 2, 5, 5)) * 1e-3, rng.normal(size=(4, 2, 5, 5))], axis=1)
    cc = CrossCorrelation(3, 4)
    for i in range(4):
        cc.update(torch.tensor(a[i:i + 1]), torch.tensor(b[i:i + 1]))
    sa = a.transpose(0, 2, 3, 1).reshape(-1, 3)
    sb = b.transpose(0, 2, 3, 1).reshape(-1, 4)
    ref = np.corrcoef(sa.T, sb.T)[:3, 3:]
    np.testing.assert_allclose(cc.result(), ref, atol=1e-6)


def test_dead_units_correlate_zero():
    rng = np.random.default_rng(6)
    a = torch.tensor(rng.normal(size=(50, 3)))
    a[:, 1] = 2.5
    cc = CrossCorrelation(3, 3)
    cc.update(a, a.clone())
    r = cc.result()
    assert np.isfinite(r).all() and (r[1] == 0).all() and (r[:, 1] == 0).all()
    assert cc.dead_a == [1] and cc.dead_b == [1]
    assert r[0, 0] == pytest.approx(1.0)


def test_hungarian_is_optimal_and_recovers_a_permutation():
    rng = np.random.default_rng(7)
    corr = rng.uniform(-1, 1, size=(5, 6))
    best = max(sum(corr[i, j] for i, j in enumerate(p)) for p in itertools.permutations(range(6), 5))
    got = match_units(corr, "hungarian")
    assert sum(m.r for m in got) == pytest.approx(best)
    assert len({m.b for m in got}) == 5
    perm = rng.permutation(8)
    eye = np.eye(8)[:, perm] * 0.9 + rng.uniform(0, 0.1, size=(8, 8))
    assert {(m.a, m.b) for m in match_units(eye)} == {(int(perm[j]), j) for j in range(8)}
    assert [m.r for m in got] == sorted((m.r for m in got), reverse=True)


def test_semi_and_mutual_matching():
    corr = np.array([[0.9, 0.8, 0.0],
                     [0.95, 0.1, 0.2],
                     [0.0, 0.3, 0.7]])
    semi = {(m.a, m.b) for m in match_units(corr, "semi")}
    assert semi == {(0, 0), (1, 0), (2, 2)}
    mutual = {(m.a, m.b) for m in match_units(corr, "mutual")}
    assert mutual == {(1, 0), (2, 2)}
    with pytest.raises(VisionCircuitsError, match="closest"):
        match_units(corr, "hungarain")
    with pytest.raises(InputError, match="NaN"):
        match_units(np.array([[np.nan]]))


def test_significance_against_null():
    null = np.linspace(0, 0.5, 100)  # null matches never exceed 0.5
    s = significance([0.9, 0.45, 0.0], null)
    assert s.p[0] == pytest.approx(1 / 101)
    assert s.p[1] == pytest.approx((1 + 10) / 101)
    assert s.p[2] == pytest.approx(1.0)
    assert s.significant.tolist() == [True, False, False]
    assert s.z[0] > 3 and s.null_n == 100
    np.testing.assert_allclose(
        benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5]
    )
    with pytest.raises(InputError):
        significance([0.1], [])


def test_permute_images_is_a_derangement_and_nulls_match_the_procedure():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(10)
    for _ in range(20):
        p = permute_images(t, g)
        assert sorted(p.tolist()) == list(range(10)) and (p != t).all()
    with pytest.raises(InputError):
        permute_images(torch.zeros(1), g)
    corr = np.array([[0.2, 0.1], [0.0, 0.3]])
    assert sorted(null_strengths([corr, corr]).tolist()) == [0.2, 0.2, 0.3, 0.3]


def test_minibatch_cka_is_scale_free_across_batches_in_float32():
    a, b, _ = _layers(400)
    ref = MinibatchCKA(1, 1)
    big = MinibatchCKA(1, 1)
    for i in range(0, 400, 100):
        ref.update([a[i:i + 100]], [b[i:i + 100]])
        big.update(
            [torch.tensor(a[i : i + 100] * 1e25, dtype=torch.float32)],
            [torch.tensor(b[i : i + 100] * 1e-25, dtype=torch.float32)],
        )
    assert np.isfinite(big.result()).all()
    assert big.result()[0, 0] == pytest.approx(ref.result()[0, 0], abs=1e-4)
    # the estimate is the sum over batches: batch order does not matter
    rev = MinibatchCKA(1, 1)
    for i in reversed(range(0, 400, 100)):
        rev.update([a[i:i + 100]], [b[i:i + 100]])
    assert rev.result()[0, 0] == pytest.approx(ref.result()[0, 0], abs=1e-9)


def test_minibatch_cka_equals_hand_computed_sum_of_unbiased_hsic():
    from visioncircuits.universality.measures import center_gram

    a, b, _ = _layers(300, seed=9)
    a = a * np.repeat([1.0, 50.0, 0.02], 100)[:, None]  # batches of very different magnitude
    acc = MinibatchCKA(1, 1)
    hxy = hxx = hyy = 0.0
    for i in range(0, 300, 100):
        x, y = torch.tensor(a[i:i + 100]), torch.tensor(b[i:i + 100])
        acc.update([x], [y])
        kx = center_gram(x @ x.T, unbiased=True)
        ky = center_gram(y @ y.T, unbiased=True)
        hxy += float((kx * ky).sum())
        hxx += float((kx * kx).sum())
        hyy += float((ky * ky).sum())
    assert acc.result()[0, 0] == pytest.approx(hxy / np.sqrt(hxx * hyy), rel=1e-9)
