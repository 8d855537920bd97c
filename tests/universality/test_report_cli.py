"""report.json / report.html from the pipeline, and the CLI's one-line errors."""

from __future__ import annotations

import json
import re

import pytest
import torch

from visioncircuits.cli import main
from visioncircuits.errors import InputError
from visioncircuits.universality.compare import CompareConfig
from visioncircuits.universality.pipeline import ReportConfig, run_universality
from visioncircuits.universality.probes import TensorProbes


def _no_nan(text: str):
    def bad(c):
        raise AssertionError(f"non-finite number {c} in report.json")

    return json.loads(text, parse_constant=bad)


def test_report_is_self_contained_escaped_and_finite(model_pair, tmp_path):
    a, b, p1, p2, c = model_pair
    evil = '<script>alert("x")</script>'
    a.spec.name = evil
    probes = TensorProbes(torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    torch.manual_seed(5)
    c_random = type(c)(type(c.net)(5, 7), c.spec, c.spec.preprocess()).eval()
    with pytest.raises(InputError, match="different layers or channels"):
        run_universality(
            [evil, "net-c"],
            TensorProbes(torch.rand(8, 3, 16, 16)),
            tmp_path / "x",
            models={evil: a, "net-c": c},
            null_models={"net-c": b},
        )
    labels = {
        evil: {i: ("edge" if i < 4 else "curve" if i < 8 else None) for i in range(10)},
        "net-c": {i: "edge" for i in range(12)},
    }  # every C unit an edge: the answer cannot depend on the matching
    opts = ReportConfig(
        top_pairs=3, featvis_steps=4, compare=CompareConfig(batch_size=8, grid=4, progress=False, top_examples=2)
    )
    rep = run_universality(
        [evil, "net-c"],
        probes,
        tmp_path,
        models={evil: a, "net-c": c},
        null_models={"net-c": c_random},
        options=opts,
        label_fn=lambda name, model, units: labels[name],
    )
    html = (tmp_path / "report.html").read_text()
    assert evil not in html and "&lt;script&gt;" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from the network
    assert html.count('src="data:image/png;base64,') >= 2 + 3 * 2 * 2  # heatmap, histogram, vis, examples
    data = _no_nan((tmp_path / "report.json").read_text())
    pair = data["pairs"][0]
    assert pair["a"] == evil and len(pair["cka"]["matrix"]) == 2 and len(pair["cka"]["matrix"][0]) == 2
    assert len(pair["matching"]["matches"]) == 10  # min(10 units of A, 12 of C)
    lab = pair["labels"]
    assert lab["n"] == 8 and lab["chance"] == pytest.approx(0.5)
    # whichever C unit each A unit is matched to, exactly A's 4 labelled edges share their label
    assert lab["same_label"] == 4
    assert len(pair["transfer"]) == 3 and pair["null"]["random_weights"]["n"] == 10
    si = pair["same_index"]  # 4 + 6 units of A have a same-address unit among C's 5 + 7: chance 1/12 each
    assert si["identity_pairs"] == 10 and si["matches"] == 10 and si["chance"] == pytest.approx(1 / 12)
    assert "Same-index baseline" in html
    assert (tmp_path / pair["cka"]["figure"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "_images" not in pair and "_nulls" not in data and rep["_nulls"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["universality", "cifar10-resnet20", "--toyworld", "--out", "X"], "at least two models"),
        (
            ["universality", "cifar10-resnet20", "cifar10-resnet2O", "--dataset", "D", "--out", "X"],
            "unknown model 'cifar10-resnet2O'; closest: cifar10-resnet",
        ),
        (["universality", "a", "b", "--toyworld", "--out", "X", "--method", "hungarain"], "unknown matching method"),
        (
            ["universality", "a", "b", "--toyworld", "--out", "X", "--batch-size", "2"],
            "--batch-size must be at least 4",
        ),
        (["universality", "a", "b", "--toyworld", "--out", "X", "--n", "0"], "--n must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


@pytest.mark.shared
def test_cli_missing_folder_and_out_is_file(tmp_path, capsys, hub_cache):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert (
        main(
            [
                "universality",
                "cifar10-resnet20",
                "cifar10-resnet32",
                "--dataset",
                str(tmp_path / "none"),
                "--out",
                str(tmp_path / "o"),
                "--no-random-null",
            ]
        )
        == 2
    )
    assert "image folder not found" in capsys.readouterr().err
    assert (
        main(["universality", "cifar10-resnet20", "cifar10-resnet32", "--dataset", str(tmp_path), "--out", str(f)]) == 2
    )
    assert "is a file" in capsys.readouterr().err
    assert f.read_text() == "x"  # no damage


@pytest.mark.shared
def test_cli_end_to_end_on_cifar(hub_cache, sample_images_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(
        [
            "universality",
            "cifar10-resnet20",
            "cifar10-resnet56",
            "--dataset",
            str(sample_images_dir),
            "--n",
            "24",
            "--batch-size",
            "12",
            "--grid",
            "2",
            "--featvis-steps",
            "0",
            "--no-random-null",
            "--top-pairs",
            "2",
            "--layers",
            "layer1.0,layer3.2",
            "layer1.0,layer3.8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "matches significant" in stdout and "report.html" in stdout
    data = _no_nan((out / "report.json").read_text())
    pair = data["pairs"][0]
    assert (
        pair["cka"]["layers_a"] == ["layer1.0", "layer3.2"]
        and pair["cka"]["layers_b"] == ["layer1.0", "layer3.8"]
        and data["probes"]["n_images"] == 24
    )
    m = pair["cka"]["matrix"]
    assert m[0][0] > m[0][1] and m[1][1] > m[1][0]  # same-depth layers are the most similar
    assert len(pair["matching"]["matches"]) == 16 + 64
    assert (out / "report.html").exists() and (out / pair["cka"]["figure"]).exists()


def test_rerun_reuses_visualisations(model_pair, tmp_path, monkeypatch):
    a, b, *_ = model_pair
    probes = TensorProbes(torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(2)))
    opts = ReportConfig(
        top_pairs=2,
        featvis_steps=3,
        random_null=False,
        compare=CompareConfig(batch_size=8, grid=2, progress=False, top_examples=1),
    )
    first = run_universality(["net-a", "net-b"], probes, tmp_path, models={"net-a": a, "net-b": b}, options=opts)
    assert len(list((tmp_path / "vis").glob("*.png"))) == 4

    import importlib

    fr = importlib.import_module(
        "visioncircuits.featvis.render"
    )  # the module (the package re-exports a function of that name)

    def boom(*args, **kwargs):
        raise AssertionError("rendered again although the pictures were on disk")

    monkeypatch.setattr(fr, "render", boom)
    second = run_universality(["net-a", "net-b"], probes, tmp_path, models={"net-a": a, "net-b": b}, options=opts)
    assert second["pairs"][0]["transfer"] == first["pairs"][0]["transfer"]
