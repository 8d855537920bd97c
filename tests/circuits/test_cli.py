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
               "--weights", "random", "--depth", "1", "--top-k", "3", "--null", "10", "--no-vis", "--out", str(out)])
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


def test_bench_compares_against_captums_algorithm_in_full(capsys):
    rc = main(["bench", "circuits", "--model", "cifar10-resnet20", "--mode", "compare", "--max-pairs", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
        for line in lines
        if line.startswith("| compare")
    ]
    assert len(rows) == 1 and rows[0]["pair"] == "layer2.2 -> layer3.0" and rows[0]["shape"] == "64x32x16x16"
    assert rows[0]["center"] == "captum"
    assert float(rows[0]["max_abs_diff"]) < 1e-5  # every row of captum's algorithm reproduced
    assert "captum_cpu_s" in rows[0] and "loop" not in out
