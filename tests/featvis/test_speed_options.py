"""Opt-in speed options of the render loop (issue 16): they must render the same thing.

Correctness only (speed lives in ``visioncircuits bench featvis_speed``): channels_last is
the same math; bf16 stays near float32; coarse-to-fine returns full-size images whose values
are the true objective; schedules and early stop do what they say; defaults stay untouched.
"""
from __future__ import annotations

import pytest
import torch

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.featvis import RenderConfig, render
from visioncircuits.featvis.coarse_to_fine import tile_param
from visioncircuits.featvis.fast_loop import uses_speed_options
from visioncircuits.featvis.param import make_param
from visioncircuits.featvis.precision import autocast, channels_last_model
from visioncircuits.featvis.schedule import PlateauStop, lr_factor

UNITS = ["conv2:0", "conv2:1", "conv2:2"]  # pre-ReLU: never a dead unit


def _render(model, **kw):
    return render(model, UNITS, steps=kw.pop("steps", 20), size=16, progress=False, **kw)


def test_defaults_use_the_unchanged_loop():
    assert not uses_speed_options(RenderConfig())
    assert uses_speed_options(RenderConfig(channels_last=True))
    assert uses_speed_options(RenderConfig.fast())


def test_channels_last_renders_the_same_images(tiny_model):
    # the fast loop with only channels_last set is the default loop's math in another memory format
    a = _render(tiny_model)
    b = _render(tiny_model, channels_last=True)
    assert torch.allclose(a.images, b.images, atol=1e-4)
    assert b.values == pytest.approx(a.values, rel=1e-3, abs=1e-4)


def test_channels_last_model_restores_the_memory_format(tiny_model):
    conv = next(p for p in tiny_model.parameters() if p.dim() == 4)
    before = conv.detach().clone()
    with channels_last_model(tiny_model.net):
        assert conv.is_contiguous(memory_format=torch.channels_last)
    assert conv.is_contiguous() and torch.equal(conv, before)


def test_bf16_objective_is_near_fp32(tiny_model):
    x = torch.rand(4, 3, 16, 16)
    ref = tiny_model.run_with_cache(x, ["conv2"])["conv2"]
    with autocast(tiny_model.device, "bf16"):
        low = tiny_model.run_with_cache(x, ["conv2"])["conv2"]
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), ref, rtol=0.05, atol=0.05 * float(ref.abs().max()))
    a, b = _render(tiny_model), _render(tiny_model, precision="bf16")
    # the render under bf16 climbs as far (values are always measured in float32)
    assert all(isinstance(v, float) for v in b.values)
    assert sum(b.values) == pytest.approx(sum(a.values), rel=0.1)


@pytest.mark.parametrize("kind", ["fft", "pixel"])
def test_tiling_a_parameterisation_is_exact(kind):
    small = make_param(kind, 2, 8, seed=1, sd=0.5)
    large = make_param(kind, 2, 16, seed=5)
    tile_param(small, large, 2)
    assert torch.allclose(large(), small().repeat(1, 1, 2, 2), atol=1e-5)


def test_coarse_to_fine_gives_full_size_images_and_true_values(tiny_model):
    r = _render(tiny_model, coarse_to_fine=0.5, eval_every=5)
    assert r.images.shape == (3, 3, 16, 16)
    acts = tiny_model.run_with_cache(r.images, ["conv2"])["conv2"]
    for i, c in enumerate((0, 1, 2)):
        assert r.values[i] == pytest.approx(acts[i, c].mean().item(), rel=1e-4, abs=1e-5)
    before = _render(tiny_model, steps=0).values
    assert sum(r.values) > sum(before)
    assert [h[0] for h in r.history] == [5, 10, 15, 20]


def test_lr_schedules():
    assert lr_factor("constant", 7, 10) == 1.0
    assert lr_factor("cosine", 1, 100) == pytest.approx(1.0, abs=1e-3)
    assert lr_factor("cosine", 100, 100) == pytest.approx(0.1)
    assert lr_factor("warmup_cosine", 1, 100) == pytest.approx(0.1)
    assert lr_factor("warmup_cosine", 10, 100) == pytest.approx(1.0)
    with pytest.raises(UnknownNameError):
        lr_factor("linear-ish", 1, 10)


def test_plateau_stop_stops_on_a_plateau_only():
    rising = PlateauStop(0.01, steps=64, window=8)
    assert not any(rising.update(float(i)) for i in range(64))
    flat = PlateauStop(0.01, steps=64, window=8)
    stops = [flat.update(1.0) for _ in range(64)]
    assert stops.index(True) == 15  # after min_steps = 2 * window
    assert not any(PlateauStop(None, steps=64).update(1.0) for _ in range(64))


def test_early_stop_ends_the_render_early(tiny_model):
    r = _render(tiny_model, steps=64, early_stop=10.0, eval_every=4)  # any progress counts as a plateau
    assert r.history[-1][0] == 16  # 2 * window (window = max(8, steps // 8))
    assert r.images.shape == (3, 3, 16, 16)


@pytest.mark.parametrize("bad", [dict(precision="fp8"), dict(lr_schedule="nope"), dict(coarse_to_fine=1.5),
                                 dict(coarse_to_fine=0.5, param="maco"), dict(early_stop=-1.0)])
def test_bad_speed_options_name_the_field(bad):
    with pytest.raises(InputError, match="RenderConfig"):
        RenderConfig(**bad)


def test_gallery_settings_record_speed_options_only_when_set():
    from visioncircuits.featvis.gallery import speed_settings

    assert speed_settings(RenderConfig()) == {}
    assert speed_settings(RenderConfig(channels_last=True, precision="bf16")) == {"channels_last": True,
                                                                                   "precision": "bf16"}


@pytest.mark.slow
def test_compile_path_equals_eager(tiny_model):
    a = _render(tiny_model, steps=3, redirect_relu=False, channels_last=True)
    b = _render(tiny_model, steps=3, redirect_relu=False, channels_last=True, compile=True)
    assert torch.allclose(a.images, b.images, atol=1e-3)


def test_bench_curve_sums_chunk_times_and_averages_all_units():
    """A render split into chunks (batch_size 1) is timed over all chunks, not the last one."""
    from visioncircuits.bench.featvis_speed import merge_chunks

    history = [(8, 1.0, [1.0, 2.0]), (16, 2.0, [3.0, 4.0]), (8, 1.5, [5.0]), (16, 3.0, [7.0])]
    assert merge_chunks(history) == [(8, 2.5, pytest.approx(8 / 3)), (16, 5.0, pytest.approx(14 / 3))]
    one = [(8, 1.0, [1.0, 2.0]), (16, 2.0, [3.0, 4.0])]
    assert merge_chunks(one) == [(8, 1.0, 1.5), (16, 2.0, 3.5)]
