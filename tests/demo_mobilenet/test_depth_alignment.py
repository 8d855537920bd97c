"""Depth alignment of a CKA matrix: argmax vs proportional depth, rank correlation."""

from __future__ import annotations

import numpy as np
import pytest

from visioncircuits.universality.depth_alignment import depth_alignment


def _band(n_a, n_b, shift=0.0):
    da, db = np.linspace(0, 1, n_a), np.linspace(0, 1, n_b)
    return np.exp(-((da[:, None] + shift - db[None, :]) ** 2) / 0.02)


def test_proportional_band_is_exact():
    names_a, names_b = [f"a{i}" for i in range(7)], [f"b{i}" for i in range(9)]
    r = depth_alignment(_band(7, 9), names_a, names_b)
    assert r["exact"] == 1.0 and r["spearman_index_vs_argmax"] == pytest.approx(1.0)
    assert r["rows"][0]["argmax_b"] == "b0" and r["rows"][-1]["argmax_b"] == "b8"


def test_shifted_band_is_offset_but_monotone():
    r = depth_alignment(_band(7, 9, shift=0.25), list("abcdefg"), list("ABCDEFGHI"))
    assert r["exact"] < 0.5 and r["mean_abs_offset_layers"] >= 1
    assert r["spearman_index_vs_argmax"] > 0.9


def test_reversed_band_is_anticorrelated():
    r = depth_alignment(_band(7, 9)[::-1], list("abcdefg"), list("ABCDEFGHI"))
    assert r["spearman_index_vs_argmax"] == pytest.approx(-1.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        depth_alignment(np.zeros((2, 3)), ["a"], ["b", "c", "d"])
