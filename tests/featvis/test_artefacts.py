"""The stride-checkerboard measure on synthetic images whose answer is known."""
from __future__ import annotations

import math

import pytest
import torch

from visioncircuits.errors import InputError
from visioncircuits.featvis.artefacts import relative_to, stride_peak_ratio, stride_peak_ratio_batches

N = 64


def _grid():
    return torch.meshgrid(torch.arange(N), torch.arange(N), indexing="ij")


def _pink_noise(n: int, seed: int = 0) -> torch.Tensor:
    """1/f-amplitude noise: a natural-image-like smooth spectrum with no periodic peaks."""
    f = torch.fft.fftfreq(N)
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt().clamp(min=1.0 / N)
    white = torch.randn(n, 3, N, N, generator=torch.Generator().manual_seed(seed))
    return torch.fft.ifft2(torch.fft.fft2(white) / radius).real


def test_pure_checkerboard_has_huge_stride2_ratio_and_nothing_else():
    y, x = _grid()
    cb = ((x + y) % 2).float().expand(1, 3, N, N)
    r = stride_peak_ratio(cb)
    assert r["2"] > 1e6 and r["all"] > 1e6
    for s in ("4", "8", "16"):
        assert r[s] == pytest.approx(1.0)  # no power there at all (numerical floor)


def test_coarse_checkerboard_is_found_at_its_own_stride():
    y, x = _grid()
    cb8 = ((x // 4 + y // 4) % 2).float().expand(1, 3, N, N)  # period 8 px
    r = stride_peak_ratio(cb8)
    assert r["8"] > 1e6
    assert r["2"] == pytest.approx(1.0) and r["16"] == pytest.approx(1.0)


def test_smooth_images_score_about_one():
    r = stride_peak_ratio(_pink_noise(8))
    for s, v in r.items():
        assert 0.5 < v < 1.6, (s, v)
    y, x = _grid()
    blob = torch.exp(-((x - 30.0) ** 2 + (y - 25.0) ** 2) / (2 * 10.0 ** 2)).expand(1, 3, N, N)
    assert stride_peak_ratio(blob)["all"] < 2.0


def test_a_faint_checkerboard_on_a_smooth_image_is_detected_and_graded():
    y, x = _grid()
    cb = ((x + y) % 2).float().expand(1, 3, N, N)
    smooth = _pink_noise(1, seed=3)
    smooth = smooth / smooth.std()
    clean = stride_peak_ratio(smooth)["2"]
    weak = stride_peak_ratio(smooth + 0.05 * cb)["2"]  # 5% of the image's sd
    strong = stride_peak_ratio(smooth + 0.2 * cb)["2"]
    assert clean < 1.0 < 3.0 < weak < 20.0 < strong


def test_batches_pool_like_one_batch_and_relative_divides():
    imgs = _pink_noise(6, seed=1)
    one = stride_peak_ratio(imgs)
    pooled = stride_peak_ratio_batches([imgs[:2], imgs[2:]])
    for k in one:
        assert math.isclose(one[k], pooled[k], rel_tol=1e-6)
    rel = relative_to({"2": 4.0, "all": 3.0}, {"2": 2.0, "all": 1.5, "4": 1.0})
    assert rel == {"2": 2.0, "all": 2.0}


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError):
        stride_peak_ratio(torch.zeros(5, 5))
    with pytest.raises(InputError):
        stride_peak_ratio(torch.rand(1, 3, 6, 6), strides=(8,))
