"""``visioncircuits steer``: writes steer.json and steer.html; bad input is one line, exit 2, nothing written."""
from __future__ import annotations

import json

import pytest

from visioncircuits.cli import main


def test_steer_toy_writes_json_and_page(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["steer", "toy-vgg-s0", "relu3:12", "--alpha", "0.5", "2", "--toyworld", "--n", "8", "--show", "4",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((out / "steer.json").read_text())
    assert data["unit"] == "relu3:12" and data["layer"] == "relu3" and data["n_images"] == 8
    assert [a["alpha"] for a in data["alphas"]] == [0.5, 2.0]
    assert data["scale"] == "max" and data["scale_value"] > 0
    assert data["alphas"][1]["raw_alpha"] == pytest.approx(2 * data["scale_value"])
    assert data["target_name"] in data["class_names"]
    html = (out / "steer.html").read_text()
    assert "relu3:12" in html and html.count("<img ") == 4 and "<polyline" in html
    assert "http://" not in html and "https://" not in html
    assert "steer.html" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["toy-vgg-s0", "relu3:1", "--alpha", "nan", "--toyworld"], "--alpha"),
        (["toy-vgg-s0", "relu3:1", "--alpha", "1", "--toyworld", "--scale", "-2"], "--scale"),
        (["toy-vgg-s0", "relu3:1", "--alpha", "1", "--toyworld", "--n", "0"], "--n"),
        (["toy-vgg-s0", "relu3:1", "--alpha", "1", "--toyworld", "--batch-size", "0"], "--batch-size"),
        (["toy-vgg-s0", "logit:1", "--alpha", "1", "--toyworld"], "cannot steer"),
        (["toy-vgg-s0", "relu3", "--alpha", "1", "--toyworld"], "cannot parse unit"),
        (["toy-vgg-s0", "relu3:1", "--alpha", "1", "--dataset", "/nonexistent/dir"], "--dataset"),
    ],
)
def test_bad_flags_fail_before_the_model_loads(tmp_path, capsys, monkeypatch, argv, match):
    import visioncircuits.zoo

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the flags were checked")

    monkeypatch.setattr(visioncircuits.zoo, "load_model", no_load)
    out = tmp_path / "o"
    rc = main(["steer", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["no-such-model", "relu3:1"], "unknown model"),
        (["toy-vgg-s0", "relu3:99"], "out of range"),
        (["toy-vgg-s0", "relu9:1"], "unknown layer"),
    ],
)
def test_bad_names_are_one_line_and_write_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "o"
    rc = main(["steer", *argv, "--alpha", "1", "--toyworld", "--n", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_empty_dataset_is_rejected(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["steer", "toy-vgg-s0", "relu3:1", "--alpha", "1", "--dataset", str(tmp_path / "empty"),
               "--out", str(tmp_path / "o")])
    assert rc == 2 and "no images" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_dataset_and_toyworld_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["steer", "toy-vgg-s0", "relu3:1", "--alpha", "1", "--dataset", str(tmp_path), "--toyworld",
              "--out", str(tmp_path / "o")])
    assert e.value.code == 2
