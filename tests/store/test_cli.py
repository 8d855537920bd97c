"""`visioncircuits activations`: bad input is one line on stderr, exit code 2 and nothing written."""
from __future__ import annotations

import json

import pytest

from visioncircuits.cli import main
from visioncircuits.store import ActivationStore

from .conftest import LAYER, MODEL


def test_cli_harvests_and_resumes(image_dir, tmp_path, capsys):
    out = tmp_path / "s"
    args = [MODEL, LAYER, "--dataset", str(image_dir), "--out", str(out), "--positions", "3", "--chunk-size", "4",
            "--no-progress"]
    assert main(["activations", *args, "--shard", "2/2"]) == 0
    assert "1 chunks written" in capsys.readouterr().out
    assert main(["activations", *args]) == 0
    assert "2 chunks written, 1 already finished); complete" in capsys.readouterr().out
    assert len(ActivationStore(out)) == 30


@pytest.mark.parametrize("extra, message", [
    (["--positions", "0"], "--positions must be positive"),
    (["--chunk-size", "0"], "--chunk-size must be positive"),
    (["--shard", "3/2"], "bad shard 3/2"),
    (["--shard", "x"], "cannot parse shard"),
    (["--layer-typo"], None),  # argparse: exit code 2 too
])
def test_bad_flags(image_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "s"
    argv = ["activations", MODEL, LAYER, "--dataset", str(image_dir), "--out", str(out), *extra]
    if message is None:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    else:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_inputs(image_dir, tmp_path, capsys):
    out = tmp_path / "s"
    cases = [
        ([MODEL, "relu9", "--dataset", str(image_dir)], "unknown layer"),
        (["no-such-model", LAYER, "--dataset", str(image_dir)], "unknown model"),
        ([MODEL, LAYER, "--dataset", str(tmp_path / "missing")], "image folder not found"),
    ]
    for args, message in cases:
        assert main(["activations", *args, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
    (tmp_path / "file").write_text("x")
    assert main(["activations", MODEL, LAYER, "--dataset", str(image_dir), "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    # an existing store made with other settings is refused, untouched
    base = ["activations", MODEL, LAYER, "--dataset", str(image_dir), "--out", str(out), "--no-progress"]
    assert main([*base, "--positions", "2"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main([*base, "--positions", "3"]) == 2
    assert "other settings (positions: 2 -> 3)" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_sae_train_from_a_store(image_dir, tmp_path, capsys):
    store = tmp_path / "s"
    assert main(["activations", MODEL, LAYER, "--dataset", str(image_dir), "--out", str(store), "--positions", "8",
                 "--no-progress"]) == 0
    sae_dir = tmp_path / "sae"
    base = ["sae", "train", MODEL, LAYER, "--store", str(store), "--latents", "16", "--k", "2", "--steps", "4",
            "--batch-size", "32", "--eval-images", "2", "--out", str(sae_dir), "--no-progress"]
    capsys.readouterr()
    assert main([*base, "--positions", "4"]) == 2
    assert "--positions is set when the store is made" in capsys.readouterr().err
    assert main(["sae", "train", MODEL, "relu1", *base[4:]]) == 2
    assert "holds toy-narrow-s0 relu2, not toy-narrow-s0 relu1" in capsys.readouterr().err
    assert main([*base[:5], str(tmp_path / "nope"), *base[6:]]) == 2
    assert "activation store not found" in capsys.readouterr().err
    assert not sae_dir.exists()
    assert main([*base, "--stop-after", "2"]) == 0
    assert "stopped at step 2 of 4" in capsys.readouterr().out
    assert main(base) == 0
    cfg = json.loads((sae_dir / "cfg.json").read_text())
    assert cfg["training_data"]["kind"] == "store" and cfg["training_data"]["rows"] == 80
    assert cfg["training"]["fingerprint"]["store_key"] == json.loads((store / "manifest.json").read_text())[
        "settings_key"]
    assert cfg["metrics"]["eval_data"]["overlaps_training"] is True
