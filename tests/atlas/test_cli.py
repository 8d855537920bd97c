"""``visioncircuits atlas``: bad input is one line, exit code 2, and nothing written."""
from __future__ import annotations

import json

import pytest

from visioncircuits.atlas import AtlasConfig
from visioncircuits.cli import main
from visioncircuits.errors import InputError


def _fails(args, tmp_path, capsys, needle):
    out = tmp_path / "site"
    rc = main(["atlas", *args, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert needle in err
    assert not out.exists()


def test_bad_options_before_the_model_loads(tmp_path, capsys):
    _fails(["no-such-model", "--dataset", str(tmp_path / "missing")], tmp_path, capsys, "dataset folder not found")
    _fails(["toy-resnet-s0", "--shard", "3/2"], tmp_path, capsys, "shard")
    _fails(["toy-resnet-s0", "--grid", "0"], tmp_path, capsys, "--grid")
    _fails(["toy-resnet-s0", "--k", "0"], tmp_path, capsys, "--k")
    _fails(["toy-resnet-s0", "--sae", str(tmp_path / "nosae")], tmp_path, capsys, "SAE folder not found")
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"models": []}))
    _fails(["toy-resnet-s0", "--universality", str(bad)], tmp_path, capsys, "not a universality report")
    _fails(["toy-resnet-s0", "--units", "=3"], tmp_path, capsys, "LAYER=RANGE")
    _fails(["toy-resnet-s0", "--gallery", str(tmp_path)], tmp_path, capsys, "not a gallery folder")
    (tmp_path / "gallery.json").write_text("[1, 2]")
    _fails(["toy-resnet-s0", "--gallery", str(tmp_path)], tmp_path, capsys, "has no layer")


def test_bad_layers_and_units_after_loading_write_nothing(tmp_path, capsys):
    _fails(["toy-resnet-s0", "--layers", "block9.relu"], tmp_path, capsys, "block9.relu")
    _fails(["toy-resnet-s0", "--layers", "block1.relu2", "--units", "0:999"], tmp_path, capsys, "units of block1.relu2")
    _fails(["toy-resnet-s0", "--layers", "block1.relu2", "--atlas-layer", "block2.relu2"], tmp_path, capsys,
           "atlas layer")


def test_config_messages_name_fields():
    with pytest.raises(InputError, match="AtlasConfig.grid"):
        AtlasConfig(grid=0)
    with pytest.raises(InputError, match="AtlasConfig.layout"):
        AtlasConfig(layout="tsne")
    assert AtlasConfig.quick().units == "0:8" and AtlasConfig.quick(grid=5).grid == 5
    assert AtlasConfig(units="0:4", layer_units=(("a", "1,2"),)).units_for("a") == "1,2"
