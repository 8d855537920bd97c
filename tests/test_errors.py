"""Error types and closest-name suggestions."""
from __future__ import annotations

from visioncircuits.errors import InputError, UnknownNameError, VisionCircuitsError, WeightsError, closest, unknown


def test_closest_prefers_close_spellings_then_substrings():
    names = ["mixed3a", "mixed3b", "mixed4a", "conv2d0", "mixed3b_5x5", "softmax2_pre_activation_matmul"]
    assert set(closest("mixed3c", names)[:2]) == {"mixed3a", "mixed3b"}
    assert "softmax2_pre_activation_matmul" in closest("softmax2", names)
    assert closest("zzzz", names)  # always something to suggest
    assert len(closest("mixed", names, n=2)) == 2


def test_unknown_builds_a_one_line_keyerror_without_quotes():
    err = unknown("model", "resnet2O", ["cifar10-resnet20", "inceptionv1"])
    assert isinstance(err, UnknownNameError) and isinstance(err, KeyError) and isinstance(err, VisionCircuitsError)
    assert str(err) == "unknown model 'resnet2O'; closest: cifar10-resnet20"
    assert str(unknown("layer", "x", [])) == "unknown layer 'x'"


def test_error_hierarchy():
    assert issubclass(InputError, ValueError) and issubclass(InputError, VisionCircuitsError)
    assert issubclass(WeightsError, VisionCircuitsError)
