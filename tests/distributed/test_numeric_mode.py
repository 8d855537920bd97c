"""batch_invariant() covers every CPU convolution path (NNPACK takes over from 16 images), and Ray tasks copy it."""
from __future__ import annotations

import torch

from visioncircuits.device import batch_invariant
from visioncircuits.distributed.backend import numeric_mode


def test_a_batch_of_16_gives_each_image_its_batch_of_1_activations():
    from visioncircuits.zoo import load_model

    model = load_model("toy-resnet-s0", device="cpu")
    x = torch.rand(16, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with batch_invariant(), torch.no_grad():
        batch = model.run_with_cache(x, ["block2.relu2"])["block2.relu2"]
        alone = model.run_with_cache(x[:1], ["block2.relu2"])["block2.relu2"]
        mode = numeric_mode()
    assert torch.equal(batch[0], alone[0])  # differed by ~7e-6 while NNPACK was on
    assert mode == {"mkldnn": False, "nnpack": False, "deterministic": True}
    assert numeric_mode()["mkldnn"] == torch.backends.mkldnn.enabled  # restored outside
