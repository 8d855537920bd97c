"""Branch pruning: rows of an Inception block run only their own branch, and stay the same rows."""
from __future__ import annotations

import logging

import pytest
import torch

from visioncircuits.circuits import branch_pruning
from visioncircuits.circuits import expanded as expanded_mod
from visioncircuits.circuits.branch_pruning import RowGroup, zeroed
from visioncircuits.circuits.expanded import ExpandedWeights, centre_readout
from visioncircuits.zoo import load_model


@pytest.fixture(scope="module")
def inception():
    torch.manual_seed(0)
    return load_model("inceptionv1-lucent", weights="random")


def test_groups_are_the_four_branches_of_mixed4a(inception):
    ew = ExpandedWeights(inception, center="captum")
    c = inception.channels("maxpool4")
    groups, leaves = branch_pruning.row_groups(
        ew.lin.net, ew.lin.get_module("maxpool4"),
        lambda x: ew._run("maxpool4", "mixed4a", lambda a: centre_readout(a, center="captum"), x),
        (c, 5, 5), ew.lin.device)
    # 1x1, 3x3, 5x5 and pool branches: 192 + 204 + 48 + 64 channels of mixed4a, in order
    assert [len(g.rows) for g in groups] == [192, 204, 48, 64]
    assert groups[1].rows[0] == 192 and groups[3].rows[-1] == 507
    assert "maxpool4" not in leaves  # the injected layer itself is never a block leaf
    skipped_by_1x1 = set(groups[0].skip)
    assert "mixed4a_3x3" in skipped_by_1x1 and "mixed4a_1x1" not in skipped_by_1x1
    assert "mixed4a" not in skipped_by_1x1  # the concat is read by every row


@pytest.mark.parametrize("lower,upper", [("maxpool4", "mixed4a"), ("mixed3a", "mixed3b")])
def test_pruned_rows_equal_unpruned_and_brute_force(inception, lower, upper):
    pruned = ExpandedWeights(inception, center="captum").compute(lower, upper, crop=5)
    plain = ExpandedWeights(inception, center="captum", prune_branches=False).compute(lower, upper, crop=5)
    assert torch.equal(pruned, plain)  # the same sums: linear ops, values forward do not matter
    few = [0, 200, 400, pruned.shape[0] - 1]  # one row of each branch, by captum's loop
    loop = ExpandedWeights(inception, center="captum").compute_loop(lower, upper, crop=5, units=few)
    torch.testing.assert_close(pruned[few], loop, rtol=1e-4, atol=1e-6)


def test_a_missed_dependency_is_caught_by_the_probe_and_recomputed(inception, monkeypatch, caplog):
    ew = ExpandedWeights(inception, center="captum")
    want = ExpandedWeights(inception, center="captum", prune_branches=False).compute("maxpool4", "mixed4a", crop=5)
    real = branch_pruning.row_groups

    def wrong_groups(*args, **kw):  # every row told it does not need the 3x3 branch
        groups, leaves = real(*args, **kw)
        bad = [RowGroup(g.rows, tuple(sorted(set(g.skip) | {"mixed4a_3x3"}))) for g in groups]
        return bad, leaves

    monkeypatch.setattr(expanded_mod, "row_groups", wrong_groups)
    with caplog.at_level(logging.WARNING, logger="visioncircuits.circuits.expanded"):
        got = ew.compute("maxpool4", "mixed4a", crop=5)
    assert "failed the probe check" in caplog.text
    assert torch.equal(got, want)


def test_zeroed_restores_forward_also_on_exceptions(inception):
    ew = ExpandedWeights(inception)
    conv = ew.lin.get_module("mixed4a_3x3")
    leaf = branch_pruning.BlockLeaf("mixed4a_3x3", conv, (204, 5, 5))
    with pytest.raises(RuntimeError):
        with zeroed([leaf]):
            out = conv(torch.ones(2, 96, 5, 5))
            assert out.shape == (2, 204, 5, 5) and not out.any()
            raise RuntimeError("boom")
    assert "forward" not in conv.__dict__
    assert conv(torch.ones(1, 96, 5, 5)).abs().sum() > 0
