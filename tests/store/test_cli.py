"""`visioncircuits activations`: bad input is one line on stderr, exit code 2 and nothing written."""
from __future__ import annotations

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
