"""Stride-aware transformation robustness: settings follow the network's strides; it removes
the checkerboard that rendering without transforms leaves on MobileNetV2."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.errors import InputError
from visioncircuits.featvis.stride_aware import (
    GaussianBlur,
    resolve_model_transforms,
    stride_aware_transforms,
    total_stride,
)
from visioncircuits.featvis.transforms import Jitter, Pad


def test_blur_keeps_constant_images_and_sigma_zero_is_identity():
    g = torch.Generator().manual_seed(0)
    flat = torch.full((3, 3, 16, 16), 0.3)
    assert torch.allclose(GaussianBlur([0.5, 1.0])(flat, g), flat, atol=1e-6)
    x = torch.rand(2, 3, 16, 16, generator=g)
    assert torch.allclose(GaussianBlur([0.0])(x, g), x, atol=1e-5)


def test_blur_damps_the_two_pixel_checkerboard_far_more_than_a_smooth_ramp():
    y, x = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    cb = ((x + y) % 2).float().expand(1, 3, 32, 32) - 0.5
    ramp = (x.float() / 31).expand(1, 3, 32, 32)
    blur = GaussianBlur([1.0])
    assert blur(cb)[..., 4:-4, 4:-4].abs().max() < 0.05  # amplitude 0.5 -> < 0.05
    assert torch.allclose(blur(ramp)[..., 4:-4, 4:-4], ramp[..., 4:-4, 4:-4], atol=1e-4)


def test_preset_covers_every_phase_of_the_coarsest_stride():
    t = stride_aware_transforms(32).transforms
    jitters = [s for s in t if isinstance(s, Jitter)]
    assert jitters[0].d == 16 and 2 * jitters[0].d + 1 >= 32  # every offset mod 32
    assert jitters[1].d == 8
    assert isinstance(t[0], Pad) and t[0].pad == 16
    assert stride_aware_transforms(4).transforms[1].d == 2
    assert not any(isinstance(s, GaussianBlur) for s in stride_aware_transforms(8, max_sigma=0).transforms)
    with pytest.raises(InputError):
        stride_aware_transforms(0)


def test_total_stride_and_auto_choice_follow_the_target_layer():
    from visioncircuits.zoo import load_model

    model = load_model("mobilenet-v2")  # shipped in models/, no network
    assert total_stride(model, ["blocks.2"], 224) == 4
    assert total_stride(model, ["blocks.9"], 224) == 16
    assert total_stride(model, ["blocks.15", "blocks.2"], 224) == 32
    assert total_stride(model, ["blocks.15"], 128) == 32
    tf = resolve_model_transforms(model, "stride_aware", ["blocks.2"], 224)
    assert [s.d for s in tf.transforms if isinstance(s, Jitter)] == [2, 1]
    x = torch.rand(2, 3, 64, 64)
    out = resolve_model_transforms(model, "stride_aware", ["blocks.9"], 64)(x, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 64 + 2 * 8, 64 + 2 * 8)


@pytest.mark.slow  # ~1 CPU-minute: 2 x 2 renders of MobileNetV2 at 64 px
def test_stride_aware_renders_of_mobilenet_have_less_stride2_power_than_untransformed():
    """The claim in docs/readme/featvis.md (results/mobilenet_galleries.json: stride-2 power 2.5x
    lower with the preset than without transforms on blocks.5), at test size."""
    from visioncircuits.featvis import render
    from visioncircuits.featvis.artefacts import stride_peak_ratio
    from visioncircuits.zoo import load_model

    model = load_model("mobilenet-v2")
    units = ["blocks.5:0", "blocks.5:1", "blocks.5:2"]
    plain = render(model, units, steps=12, size=64, transforms="none", progress=False)
    aware = render(model, units, steps=12, size=64, transforms="stride_aware", progress=False)
    p2, a2 = stride_peak_ratio(plain.images)["2"], stride_peak_ratio(aware.images)["2"]
    assert a2 < 0.8 * p2, (a2, p2)
    assert min(aware.values) > 0  # the preset still drives the units up
