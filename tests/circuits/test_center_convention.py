"""Centre conventions: with ``center="captum"`` the rows equal captum.optim's algorithm.

captum.optim's ``extract_expanded_weights`` (re-implemented from its source in
``visioncircuits.bench._captum_circuits``, since the PyPI wheel has no ``captum.optim``) reads
the upper centre at ``(H - 1) // 2``; this project's default reads ``H // 2``. On the tiny
model's 16x16 maps the two differ by one position.
"""

from __future__ import annotations

import pytest
import torch

from visioncircuits.bench._captum_circuits import captum_extract_expanded_weights
from visioncircuits.circuits.expanded import ExpandedWeights, centre_index, expanded_weights
from visioncircuits.circuits.linearize import linearize
from visioncircuits.errors import UnknownNameError


def test_centre_index_conventions():
    assert [centre_index(n) for n in (4, 5, 14, 28)] == [2, 2, 7, 14]
    assert [centre_index(n, "captum") for n in (4, 5, 14, 28)] == [1, 2, 6, 13]
    with pytest.raises(UnknownNameError):
        centre_index(4, "middle")


@pytest.mark.parametrize("window", [True, False])
def test_captum_convention_equals_captum_algorithm(tiny_model, window):
    ref = captum_extract_expanded_weights(linearize(tiny_model), "relu1", "relu2")
    ours = ExpandedWeights(tiny_model, center="captum", window=window).compute("relu1", "relu2")
    assert ours.shape == ref.shape == (6, 4, 16, 16)
    assert torch.allclose(ours, ref, atol=1e-6)
    # one 3x3 conv: captum's rows hold the kernel around position (16 - 1) // 2 = 7
    k = tiny_model.net.conv2.weight.detach()
    assert torch.allclose(ref[:, :, 6:9, 6:9], k, atol=1e-6)
    # this project's default reads H // 2 = 8: the same kernel one position lower and to the right
    floor = expanded_weights(tiny_model, "relu1", "relu2")
    assert torch.allclose(floor[:, :, 7:10, 7:10], k, atol=1e-6)
    assert not torch.allclose(floor, ref)


def test_captum_convention_crops_like_captum(tiny_model):
    lin = linearize(tiny_model)
    for crop in (3, 5):
        ref = captum_extract_expanded_weights(lin, "relu1", "relu2", crop=crop)
        ours = expanded_weights(tiny_model, "relu1", "relu2", crop=crop, center="captum")
        assert torch.allclose(ours, ref, atol=1e-6)
    k = tiny_model.net.conv2.weight.detach()
    assert torch.allclose(expanded_weights(tiny_model, "relu1", "relu2", crop=3, center="captum"), k, atol=1e-6)
    # the auto crop is centred on the same position
    assert expanded_weights(tiny_model, "relu1", "relu2", crop="auto", center="captum").shape == (6, 4, 3, 3)


def test_captum_convention_to_logits_and_across_the_network(tiny_model):
    ref = captum_extract_expanded_weights(linearize(tiny_model), "relu1", "fc")  # the logits module
    ours = expanded_weights(tiny_model, "relu1", "logits", center="captum")
    assert torch.allclose(ours, ref, atol=1e-6)
