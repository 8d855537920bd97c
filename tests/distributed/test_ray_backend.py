"""The backend itself: shard order, progress totals, a task's own error, a SIGKILLed worker, the CLI flag."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from visioncircuits.cli import main
from visioncircuits.distributed import RayConfig, image_shards, unit_shards
from visioncircuits.distributed.backend import run_shards
from visioncircuits.errors import InputError

pytestmark = pytest.mark.ray


def _square_sum(shard: list, offset: int) -> int:
    return sum(x * x for x in shard) + offset


def _fail(shard: list) -> int:
    raise InputError(f"bad shard {shard}")


def _die_once(shard: list, marker: str) -> list:
    """SIGKILL this worker the first time shard 1 runs; the retry finds the marker and finishes."""
    if shard[0] == 1 and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return [x * 10 for x in shard]


def test_shards_cover_the_job_once_in_order():
    assert unit_shards(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert unit_shards([1, 2], 5) == [[1], [2]]
    assert image_shards(list(range(10)), 3, batch_size=4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert image_shards(list(range(10)), 2, batch_size=3) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9]]


def test_results_come_back_in_shard_order(ray_cluster):
    shards = [[1, 2], [3], [4, 5, 6]]
    assert run_shards(_square_sum, shards, RayConfig(progress=False), shared=(100,)) == [105, 109, 177]


def test_a_task_error_reaches_the_caller_as_itself(ray_cluster):
    with pytest.raises(InputError, match=r"bad shard \[2\]"):
        run_shards(_fail, [[2]], RayConfig(progress=False))


def test_a_killed_worker_is_retried(ray_cluster, tmp_path):
    marker = tmp_path / "killed"
    out = run_shards(_die_once, [[0], [1], [2, 3]], RayConfig(max_retries=2, progress=False), shared=(str(marker),))
    assert marker.exists() and out == [[0], [10], [20, 30]]


def test_without_retries_a_killed_worker_fails_the_job(ray_cluster, tmp_path):
    import ray

    with pytest.raises(ray.exceptions.WorkerCrashedError):
        run_shards(_die_once, [[1]], RayConfig(max_retries=0, progress=False), shared=(str(tmp_path / "k"),))


@pytest.mark.parametrize("argv, message", [
    (["--ray", "--ray-shards", "0"], "--ray-shards must be >= 1"),
    (["--ray", "nonsense"], "--ray takes no value"),
    (["--ray-gpus", "1"], "--ray-gpus needs --ray"),
])
def test_cli_flag_errors_are_one_line(argv, message, tmp_path, capsys):
    code = main(["gallery", "toy-resnet-s0", "block1.relu2", "--out", str(tmp_path / "g"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()
