"""Parameterisations (shape, range, determinism, MACO's fixed magnitude), colour/spectrum
statistics from a folder, and per-image transforms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.featvis import param as P
from visioncircuits.featvis import stats
from visioncircuits.featvis import transforms as T


@pytest.mark.parametrize("kind", P.PARAMS)
def test_param_shape_range_determinism(kind):
    a = P.make_param(kind, 3, 20, seed=1)()
    b = P.make_param(kind, 3, 20, seed=1)()
    c = P.make_param(kind, 3, 20, seed=2)()
    assert a.shape == (3, 3, 20, 20)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    # image i depends only on (seed, first_index + i): a batch split gives the same images
    d = P.make_param(kind, 2, 20, seed=1, first_index=1)()
    assert torch.allclose(a[1:], d)


def test_unknown_param_is_clear():
    with pytest.raises(UnknownNameError, match="fft"):
        P.make_param("fftt", 1, 8)


def test_fft_spectrum_is_one_over_f():
    s = P.one_over_f(8, 8)
    f = P.rfft2d_freqs(8, 8)
    assert s.shape == (8, 5)
    assert s[0, 0] == pytest.approx(8.0)  # DC clamped at 1 / max(h, w)
    assert torch.allclose(s[1:, 1:], 1 / f[1:, 1:])


def test_maco_keeps_magnitude_fixed_and_optimises_phase():
    p = P.make_param("maco", 2, 16)
    assert [n for n, t in p.named_parameters()] == ["phase"]
    mag0 = p.magnitude.clone()
    opt = torch.optim.Adam(p.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        (-p()[:, 0].mean()).backward()
        opt.step()
    assert torch.equal(p.magnitude, mag0)
    # the image's spectrum magnitude (before standardising) is the fixed one
    spec = torch.polar(p.magnitude.expand_as(p.phase), p.phase)
    img = torch.fft.irfftn(spec, s=(16, 16), norm="ortho")
    back = torch.fft.rfftn(img, s=(16, 16), norm="ortho").abs()
    inner = back[..., 1:-1]  # bins that round-trip exactly (no Hermitian folding)
    assert torch.allclose(inner[:, :, 1:], mag0.expand_as(back)[..., 1:-1][:, :, 1:], rtol=1e-3, atol=1e-4)
    with pytest.raises(InputError):
        P.make_param("maco", 1, 16, magnitude=torch.ones(3, 16, 16))


def _write_images(folder, colours, size=24):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, c in enumerate(colours):
        arr = np.clip(np.array(c)[None, None, :] * rng.uniform(0.2, 1.0, (size, size, 1)), 0, 1)
        Image.fromarray((arr * 255).astype(np.uint8)).save(folder / f"im{i}.png")


def test_colour_correlation_from_folder(tmp_path):
    # grey images of varying brightness: all variance lies on the luminance axis (1,1,1)
    _write_images(tmp_path / "grey", [(1, 1, 1)] * 4)
    m = stats.colour_correlation_sqrt(tmp_path / "grey", size=16)
    assert m.shape == (3, 3)
    lum = m[:, 0] / m[:, 0].norm()
    assert torch.allclose(lum, torch.full((3,), 3 ** -0.5), atol=1e-3)
    assert m[:, 1:].norm() < 1e-3 * m[:, 0].norm()
    # reds only: the main axis is red
    _write_images(tmp_path / "red", [(1, 0, 0)] * 4)
    r = stats.colour_correlation_sqrt(tmp_path / "red", size=16)
    assert r[:, 0].abs().argmax().item() == 0
    assert P.normalised_colour_matrix(r).norm(dim=0).max() == pytest.approx(1.0)


def test_magnitude_spectrum_from_folder_feeds_maco(tmp_path):
    _write_images(tmp_path / "im", [(1, 0.5, 0.2)] * 3)
    mag = stats.magnitude_spectrum(tmp_path / "im", 16)
    assert mag.shape == (3, 16, 9) and (mag >= 0).all()
    img = P.make_param("maco", 1, 16, magnitude=mag)()
    assert img.shape == (1, 3, 16, 16)


def _gen(x):
    return torch.Generator(device=x.device).manual_seed(0)


@pytest.mark.parametrize(
    "t", [T.Jitter(3), T.RandomScale([0.8, 1.25]), T.RandomRotate([-30, 30]), T.default_transforms(32)]
)
def test_transforms_draw_per_image(t):
    x = torch.rand(1, 3, 32, 32).repeat(16, 1, 1, 1)  # 16 identical images
    y = t(x, _gen(x))
    assert y.device == x.device and y.dtype == x.dtype
    distinct = {tuple(img.flatten()[:200].round(decimals=4).tolist()) for img in y}
    assert len(distinct) > 1, "every image got the same transform"


def test_transforms_keep_shape_range_and_are_seeded():
    x = torch.rand(4, 3, 32, 32)
    for t in (T.Jitter(3), T.RandomScale([0.9, 1.1]), T.RandomRotate([-10, 10])):
        y = t(x, _gen(x))
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    tf = T.default_transforms(32)
    assert tf(x, _gen(x)).shape == (4, 3, 36, 36)  # pad round(12 * 32 / 224) = 2 on each side
    assert torch.equal(tf(x, _gen(x)), tf(x, _gen(x)))


def test_jitter_is_an_exact_integer_shift():
    x = torch.zeros(1, 3, 9, 9)
    x[0, :, 4, 4] = 1.0
    y = T.Jitter(2)(x, _gen(x))
    assert torch.isclose(y.max(), torch.tensor(1.0)) and (y > 1e-6).sum() == 3  # one pixel, 3 channels


def test_fused_affines_equal_sequential_application():
    x = torch.rand(3, 3, 16, 16)
    rot = T.RandomRotate([90])
    scale = T.RandomScale([2.0])
    fused = T.Compose([rot, scale])(x)
    seq = T.apply_affine(x, rot.theta(3, 16, None, x.device) @ scale.theta(3, 16, None, x.device))
    assert torch.allclose(fused, seq)
    # rotation by 90 degrees is a permutation of pixels
    r = T.Compose([rot])(x)
    assert torch.allclose(r, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-4) or torch.allclose(
        r, torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-4
    )


def test_bad_transform_arguments():
    with pytest.raises(InputError):
        T.Jitter(-1)
    with pytest.raises(InputError):
        T.RandomScale([0])
    with pytest.raises(InputError):
        T.resolve_transforms(3.5, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_transforms_on_cuda():
    x = torch.rand(4, 3, 32, 32, device="cuda")
    assert T.default_transforms(32)(x, _gen(x)).device == x.device
