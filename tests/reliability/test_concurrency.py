"""Two shards, and two identical runs, into one gallery folder at once: both finish, the manifest
lists every unit once, and the files equal one uninterrupted run's."""
from __future__ import annotations

import pytest

from visioncircuits.reliability.concurrency import SCENARIOS, reference, run_scenario

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrency")
    return root, reference(root)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_simultaneous_runs_leave_one_consistent_result(ref, scenario):
    root, reference_dir = ref
    result = run_scenario(scenario, root, reference_dir)
    assert result.codes == [0, 0], result.problems
    assert result.problems == []
