"""``visioncircuits circuit``: outputs on success, one clear line and exit 2 on bad input."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.atomic import write_png
from visioncircuits.cli import main


def test_weights_circuit_writes_every_format(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["circuit", "cifar10-resnet20", "logit:3", "--weights", "random", "--depth", "2", "--top-k", "2",
               "--no-vis", "--out", str(out)])
    assert rc == 0
    for suffix in ("graphml", "json", "gexf", "dot", "html"):
        assert (out / f"circuit.{suffix}").stat().st_size > 0
    data = json.loads((out / "circuit.json").read_text())
    assert len(data["edges"]) == 2 + 4 and data["graph"]["target"] == "logit:3"
    assert {n["layer"] for n in data["nodes"]} == {"logits", "layer3.2", "layer3.1"}
    assert "6 edges" in capsys.readouterr().out


def test_attribution_circuit_from_a_folder(tmp_path):
    imgs = tmp_path / "imgs"
    for i in range(3):
        write_png(imgs / f"{i}.png", torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(i)))
    out = tmp_path / "out"
    rc = main(["circuit", "cifar10-resnet20", "layer3.0:5", "--method", "attribution", "--dataset", str(imgs),
               "--weights", "random", "--depth", "1", "--top-k", "3", "--no-vis", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "circuit.json").read_text())
    assert len(data["edges"]) == 3 and all("act_mean" in n for n in data["nodes"])


@pytest.mark.parametrize("args, message", [
    (["cifar10-resnet20", "layer9:3"], "unknown layer"),
    (["cifar10-resnet20", "layer3.2:99"], "out of range"),
    (["cifar10-resnet20", "logit:1", "--method", "weightz"], "unknown circuit method"),
    (["cifar10-resnet20", "logit:1", "--method", "attribution"], "needs a dataset"),
    (["cifar10-resnet20", "logit:1", "--dataset", "/nonexistent/dir"], "--dataset"),
    (["cifar10-resnet20", "logit:1", "--top-k", "0"], "top_k"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    rc = main(["circuit", *args, "--weights", "random", "--no-vis", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_bench_compares_against_the_loop(capsys):
    rc = main(
        [
            "bench",
            "circuits",
            "--model",
            "cifar10-resnet20",
            "--mode",
            "compare",
            "--loop-rows",
            "2",
            "--max-pairs",
            "1",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| compare")]
    assert len(rows) == 1 and "layer2.2 -> layer3.0" in out
    diffs = [float(r.split("|")[-3]) for r in rows]  # max_abs_diff: both methods computed the same rows
    assert all(d < 1e-5 for d in diffs)
