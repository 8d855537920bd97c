"""Weights: safe reading only, strict matching, clear errors, nothing half-loaded."""
from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from visioncircuits.errors import InputError, WeightsError
from visioncircuits.zoo import load_model
from visioncircuits.zoo.weights import load_into, read_state_dict


class _Payload:
    """Unpickling this would create ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, how):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    obj = {"conv1.weight": torch.zeros(1), "evil": _Payload(marker)}
    if how == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    with pytest.raises(WeightsError, match="refused|cannot read"):
        load_model("cifar10-resnet20", weights=path)
    assert not marker.exists()


def test_safetensors_and_torch_files_round_trip(tmp_path):
    src = load_model("cifar10-resnet20", weights="random")
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p))
    state = {k: v.contiguous() for k, v in src.net.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, tmp_path / "w.th")  # akamaster's layout
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = src(x)
        for name in ("w.safetensors", "w.th"):
            assert torch.equal(load_model("cifar10-resnet20", weights=tmp_path / name)(x), ref), name


def test_random_weights_are_reproducible():
    a = load_model("cifar10-resnet20", weights="random")
    b = load_model("cifar10-resnet20", weights="random")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_mismatched_state_dict_lists_missing_and_unexpected_keys(tmp_path):
    state = load_model("cifar10-resnet20", weights="random").net.state_dict()
    state.pop("linear.weight")
    state["extra.weight"] = torch.zeros(3)
    state["conv1.weight"] = torch.zeros(16, 3, 5, 5)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as e:
        load_model("cifar10-resnet20", weights=tmp_path / "bad.pth")
    msg = str(e.value)
    assert "1 missing (e.g. linear.weight)" in msg
    assert "1 unexpected (e.g. extra.weight)" in msg
    assert "conv1.weight: file (16, 3, 5, 5) vs model (16, 3, 3, 3)" in msg


def test_failed_load_leaves_the_network_untouched():
    net = load_model("cifar10-resnet20", weights="random").net
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bad = {k: torch.ones_like(v) for k, v in before.items()}
    bad.pop("linear.bias")
    with pytest.raises(WeightsError):
        load_into(net, bad, "test")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_truncated_and_garbage_files_are_clear_errors(tmp_path):
    good = tmp_path / "good.pth"
    torch.save(load_model("cifar10-resnet20", weights="random").net.state_dict(), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:5000])
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        read_state_dict(tmp_path / "cut.pth")
    with pytest.raises(WeightsError, match="cannot read safetensors"):
        read_state_dict(tmp_path / "junk.safetensors")
    # a text file given as weights: torch's unpickler fails with an IndexError deep inside
    (tmp_path / "passwd.pth").write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        read_state_dict(tmp_path / "passwd.pth")


def test_missing_file_directory_and_bad_arguments(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model("cifar10-resnet20", weights=tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="directory"):
        load_model("cifar10-resnet20", weights=tmp_path)
    with pytest.raises(WeightsError, match="'random' for untrained"):
        load_model("cifar10-resnet20", weights="randon")
    with pytest.raises(InputError, match="weights must be"):
        load_model("cifar10-resnet20", weights=123)
    with pytest.raises(InputError, match="unknown device"):
        load_model("cifar10-resnet20", weights="random", device="gpu0")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="state dict of tensors"):
        load_model("cifar10-resnet20", weights=tmp_path / "list.pth")
