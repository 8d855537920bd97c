"""``visioncircuits render`` / ``gallery`` / ``bench featvis`` through the real CLI entry point."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from visioncircuits.cli import main

BASE = ["--weights", "random", "--steps", "2", "--size", "16", "--quiet"]


def test_render_cli_writes_pngs_and_json(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["render", "cifar10-resnet20", "layer1.0:3", "layer3.2:5@1,1", "--out", str(out), *BASE]) == 0
    rec = json.loads((out / "render.json").read_text())
    assert [u["unit"] for u in rec["units"]] == ["layer1.0:3", "layer3.2:5@1,1"]
    for u in rec["units"]:
        with Image.open(out / u["png"]) as im:
            assert im.size == (16, 16)
        assert isinstance(u["value"], float)
    assert "layer1.0:3" in capsys.readouterr().out


@pytest.mark.parametrize("args, msg", [
    (["render", "cifar10-resnet20", "layer9:0"], "unknown layer"),
    (["render", "cifar10-resnet20", "layer3.2:64"], "out of range"),
    (["render", "cifar10-resnet20", "layer3.2"], "cannot parse unit"),
    (["render", "no-such-model", "layer3.2:0"], "unknown model"),
    (["render", "cifar10-resnet20", "layer3.2:0", "--steps", "-1"], "--steps"),
    (["render", "cifar10-resnet20", "layer3.2:0", "--spectrum-from", "x"], "maco"),
    (["gallery", "cifar10-resnet20", "layer3.2", "--shard", "0/3"], "shard"),
    (["gallery", "cifar10-resnet20", "layer3.2", "--units", "60:70"], "out of range"),
    (["gallery", "cifar10-resnet20", "layer3.2", "--dataset", "/no/such/dir"], "not found"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, msg):
    out = tmp_path / "o"
    assert main([args[0], "--out", str(out), *BASE, *args[1:]]) == 2  # later options win
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and msg in err and "\n" not in err
    assert not out.exists() or not any(out.rglob("*.png"))


def test_gallery_cli_with_notes_and_resume(tmp_path, capsys):
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"1": "vertical <edges>"}))
    out = tmp_path / "g"
    args = [
        "gallery",
        "cifar10-resnet20",
        "layer3.2",
        "--units",
        "0:2",
        "--notes",
        str(notes),
        "--out",
        str(out),
        *BASE,
    ]
    assert main(args) == 0
    assert "rendered 2 units" in capsys.readouterr().out
    html = (out / "index.html").read_text()
    assert "vertical &lt;edges&gt;" in html
    assert main(args) == 0
    assert "rendered 0 units, 2 already done" in capsys.readouterr().out
    # the objective is a setting: switching it re-renders, and is recorded
    assert main(args + ["--objective", "neuron"]) == 0
    assert "rendered 2 units" in capsys.readouterr().out
    assert json.loads((out / "gallery.json").read_text())["settings"]["objective"] == "neuron"
    notes.write_text("[1, 2]")
    assert main(args) == 2
    assert "notes file" in capsys.readouterr().err


def test_bench_featvis_runs_both_engines(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "featvis", "--model", "cifar10-resnet20", "--weights", "random", "--layer", "layer2.0",
                 "--units", "0:2", "--size", "16", "--steps", "3", "--eval-every", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["engine"] for r in rows] == [
        "lucent render_vis",
        "visioncircuits render (sd 0.1)",
        "bare fwd+bwd to layer",
    ]
    for r in rows:
        assert r["seconds"] > 0 and r["s/unit-step"] > 0 and r["step (s)"] > 0
    assert isinstance(rows[0]["objective"], float) and isinstance(rows[1]["objective"], float)
    assert "visioncircuits render" in capsys.readouterr().out


def test_render_cli_maco_spectrum_and_colour_from_folder(tmp_path):
    import numpy as np

    d = tmp_path / "photos"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(d / f"{i}.png")
    (d / "bad.png").write_bytes(b"nope")
    out = tmp_path / "m"
    assert main(["render", "cifar10-resnet20", "layer2.0:1", "--param", "maco", "--spectrum-from", str(d),
                 "--colour-from", str(d), "--out", str(out), *BASE]) == 0
    rec = json.loads((out / "render.json").read_text())
    assert rec["param"] == "maco" and (out / rec["units"][0]["png"]).is_file()
