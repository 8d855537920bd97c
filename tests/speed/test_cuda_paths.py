"""Every speed path also runs on CUDA (issue 16): autocast, channels_last, batching, coarse-to-fine,
expanded weights' channels_last rows. Skips without a GPU; correctness only, never timing."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.featvis import RenderConfig, render

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"),
]

UNITS = ["conv2:0", "conv2:1", "conv2:2"]


@pytest.fixture
def cuda_model(tiny_model):
    tiny_model.to("cuda")
    return tiny_model


@pytest.mark.parametrize("options", [dict(precision="bf16"), dict(precision="fp16"), dict(channels_last=True),
                                     dict(coarse_to_fine=0.5, lr_schedule="cosine", early_stop=0.0),
                                     RenderConfig.fast(steps=1).__dict__])
def test_render_speed_options_run_on_cuda(cuda_model, options):
    options = {k: v for k, v in options.items() if k in ("precision", "channels_last", "coarse_to_fine",
                                                         "lr_schedule", "early_stop")}
    assert cuda_model.device.type == "cuda"
    ref = render(cuda_model, UNITS, steps=12, size=16, progress=False)
    res = render(cuda_model, UNITS, steps=12, size=16, progress=False, batch_size=2, **options)
    assert res.images.shape == (3, 3, 16, 16) and res.images.device.type == "cpu"
    assert sum(res.values) == pytest.approx(sum(ref.values), rel=0.5)


def test_expanded_weights_on_cuda_equal_the_loop(cuda_model):
    from visioncircuits.circuits.expanded import ExpandedWeights

    ew = ExpandedWeights(cuda_model)
    fast = ew.compute("relu1", "relu2", crop=3)
    slow = ew.compute_loop("relu1", "relu2", crop=3)
    assert fast.device.type == "cuda"
    assert torch.allclose(fast, slow, atol=1e-5)
