"""``visioncircuits models`` and ``visioncircuits layers``: output and one-line errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visioncircuits.cli import main

REPO = Path(__file__).resolve().parents[2]


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1:]
    return rows


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    rows = _rows(capsys.readouterr().out)
    for name in ("inceptionv1", "inceptionv1-lucent", "cifar10-resnet20", "cifar10-resnet32", "cifar10-resnet44",
                 "cifar10-resnet56", "cifar10-resnet110", "torchvision:<name>", "timm:<name>"):
        assert name in rows, name
        assert rows[name][-1], f"{name} has no description"
    assert "googlenet" in rows["torchvision:<name>"][-1]


def test_layers_of_cifar_resnet20_with_shapes(capsys):
    assert main(["layers", "cifar10-resnet20"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["relu"][0] == "16 x 32 x 32"
    assert rows["layer2.0.conv1"][0] == "32 x 16 x 16"
    assert rows["layer3.2"][0] == "64 x 8 x 8" and rows["layer3.2"][2] == "*"
    assert rows["linear"][0] == "10"


def test_unknown_inceptionv1_layer_suggests_lucid_names(capsys):
    assert main(["layers", "inceptionv1", "mixed3z", "--size", "64"]) == 2
    err = capsys.readouterr().err
    assert "unknown layer of inceptionv1 'mixed3z'; closest:" in err and "mixed3a" in err and "mixed3b" in err


def test_layers_of_inceptionv1_at_224(capsys):
    assert main(["layers", "inceptionv1", "--size", "224", "--main"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["mixed3b"][0] == "480 x 28 x 28"
    assert rows["mixed4a"][0] == "508 x 14 x 14"
    assert "mixed3b_5x5" not in rows and len(rows) == 13  # header + 12 main layers


def test_layers_filter_and_other_sizes(capsys):
    assert main(["layers", "cifar10-resnet20", "layer1.0", "linear", "--size", "64"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert set(rows) == {"layer", "layer1.0", "linear"}
    assert rows["layer1.0"][0] == "16 x 64 x 64"


@pytest.mark.parametrize("argv,expected", [
    (["layers", "inceptionV1"], "unknown model 'inceptionV1'; closest: inceptionv1"),
    (["layers", "cifar10-resnet2"], "closest: cifar10-resnet32, cifar10-resnet20"),
    (["layers", "cifar10-resnet20", "layer3.7"], "unknown layer of cifar10-resnet20 'layer3.7'; closest: "),
    (["layers", "cifar10-resnet20", "--size", "0"], "--size must be a positive"),
    (["layers", "torchvision:resnet51"], "closest: torchvision:resnet50"),
])
def test_bad_input_exits_2_with_one_line(argv, expected, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert expected in err and err.startswith("error: ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err and captured.out == ""


def test_real_entry_point_has_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "visioncircuits", "layers", "cifar10-resnet20", "layer3.2.relu3"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown layer of cifar10-resnet20 'layer3.2.relu3'; closest: ")
    assert "layer3.2.relu1" in proc.stderr and "layer3.2.relu2" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
