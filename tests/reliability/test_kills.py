"""SIGKILL each long job at two points (the second during the resumed run), resume, and compare
with an uninterrupted run: byte-identical files, or equal values where only the timing fields
listed in visioncircuits/reliability/compare.py differ."""
from __future__ import annotations

import pytest

from visioncircuits.reliability.kills import JOBS, kill_sequence, reference_run

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


@pytest.mark.parametrize("job", JOBS, ids=[j.name for j in JOBS])
def test_killed_and_resumed_equals_uninterrupted(job, tmp_path):
    ref = reference_run(job, tmp_path)
    result = kill_sequence(job, tmp_path, ref)
    assert result.kills, f"no kill landed before {job.name} finished (missed: {result.missed})"
    assert result.final_code == 0
    assert result.differences == [], result.differences
