"""``visioncircuits zoo import-tflite``: Google's .tflite files -> the shared float32 weights,
tensor for tensor; bad files are one error line with exit code 2 and nothing written."""

from __future__ import annotations


import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from visioncircuits.cli import main

pytest.importorskip("tflite")

JOBS = {
    "mobilenet-v2": (["mobilenet_v2_1.0_224_quant.tflite"], "mobilenet_v2_1.0_224_tflite.safetensors"),
    "mobilenet-v1": (
        ["mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", "mobilenet_quant_v1_224_head_layers.tflite"],
        "mobilenet_v1_1.0_224_tflite.safetensors",
    ),
    "mobilenet-v1-0.75-192": (["mobilenet_v1_0.75_192_quant.tflite"], "mobilenet_v1_0.75_192_tflite.safetensors"),
}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.shared
@pytest.mark.parametrize("name", list(JOBS))
def test_import_rebuilds_the_shared_float32_weights(name, shared_dir, tmp_path, capsys):
    files, reference = JOBS[name]
    out = tmp_path / f"{name}.safetensors"
    rc = main(["zoo", "import-tflite", *[str(shared_dir / "weights" / "tflite" / f) for f in files], "--out", str(out)])
    assert rc == 0
    assert f"load_model('{name}'" in capsys.readouterr().out
    got, want = load_file(str(out)), load_file(str(shared_dir / "weights" / reference))
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == torch.float32 and torch.equal(got[k], want[k]), k
    with safe_open(str(out), "pt") as f:
        import json

        meta = json.loads(f.metadata()["config"])
    assert meta["model"] == name and meta["source_files"] == files and len(meta["source_sha256"][0]) == 64
    from visioncircuits.zoo import load_model

    model = load_model(name, weights=out)  # the importer's output loads strictly
    assert torch.equal(model.net.classifier.bias, want["classifier.bias"][1:])


def test_not_a_tflite_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"\x00" * 64)
    out = tmp_path / "out.safetensors"
    assert main(["zoo", "import-tflite", str(bad), "--out", str(out)]) == 2
    assert "not a TFLite model" in _one_error_line(capsys)
    assert not out.exists()
    assert main(["zoo", "import-tflite", str(tmp_path / "missing.tflite"), "--out", str(out)]) == 2
    assert "not found" in _one_error_line(capsys)
    assert main(["zoo", "import-tflite", str(bad), "--out", str(tmp_path / "out.pth")]) == 2
    assert ".safetensors" in _one_error_line(capsys)


def test_truncated_tflite_file_is_one_line(shared_dir, tmp_path, capsys):
    src = (shared_dir / "weights" / "tflite" / "mobilenet_v1_0.75_192_quant.tflite").read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(src[: len(src) // 3])
    out = tmp_path / "out.safetensors"
    assert main(["zoo", "import-tflite", str(cut), "--out", str(out)]) == 2
    _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.shared
def test_split_model_needs_its_head_and_the_parts_must_fit(shared_dir, tmp_path, capsys):
    t = shared_dir / "weights" / "tflite"
    out = tmp_path / "out.safetensors"
    extractor, head = (
        str(t / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"),
        str(t / "mobilenet_quant_v1_224_head_layers.tflite"),
    )
    assert main(["zoo", "import-tflite", extractor, "--out", str(out)]) == 2
    assert "head file" in _one_error_line(capsys)
    assert main(["zoo", "import-tflite", head, extractor, "--out", str(out)]) == 2  # parts swapped
    _one_error_line(capsys)
    assert main(["zoo", "import-tflite", str(t / "mobilenet_v2_1.0_224_quant.tflite"), head, "--out", str(out)]) == 2
    assert "already ends in logits" in _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.shared
def test_parts_with_different_quantization_are_refused(shared_dir, tmp_path, monkeypatch, capsys):
    from visioncircuits.zoo.tflite_read import Quant, TfliteModel

    t = shared_dir / "weights" / "tflite"
    original = TfliteModel.quant

    def shifted(self, idx):
        q = original(self, idx)
        if "head_layers" in self.path.name and idx in self.inputs:
            return Quant(q.scale * 1.01, q.zero_point, q.axis)
        return q

    monkeypatch.setattr(TfliteModel, "quant", shifted)
    out = tmp_path / "out.safetensors"
    assert (
        main(
            [
                "zoo",
                "import-tflite",
                str(t / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"),
                str(t / "mobilenet_quant_v1_224_head_layers.tflite"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "different quantization" in _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.shared
def test_a_changed_stride_or_activation_is_caught(shared_dir, tmp_path, monkeypatch):
    """The checks can fail: the same file read with one conv's stride or activation altered."""
    from visioncircuits.errors import InputError
    from visioncircuits.zoo import tflite_read
    from visioncircuits.zoo.tflite_import import import_tflite

    path = shared_dir / "weights" / "tflite" / "mobilenet_v1_0.75_192_quant.tflite"
    original = tflite_read.TfliteModel._op

    def tamper(field, value, index):
        def _op(self, i, opnames):
            op = original(self, i, opnames)
            if i == index:
                op.options[field] = value
            return op

        return _op

    monkeypatch.setattr(tflite_read.TfliteModel, "_op", tamper("stride", (1, 1), 1))  # the stem is op 0, stride 2
    import_tflite([path])  # op 1 is block 0's stride-1 depthwise conv: unchanged, fine
    monkeypatch.setattr(tflite_read.TfliteModel, "_op", tamper("stride", (1, 1), 0))
    with pytest.raises(InputError, match="stride"):
        import_tflite([path])
    monkeypatch.setattr(tflite_read.TfliteModel, "_op", tamper("activation", "NONE", 2))
    with pytest.raises(InputError, match="activation"):
        import_tflite([path])
    monkeypatch.setattr(tflite_read.TfliteModel, "_op", tamper("padding", "VALID", 5))
    with pytest.raises(InputError, match="padding"):
        import_tflite([path])


def test_without_the_tflite_package_the_error_says_how_to_install(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tflite(name, *a, **k):
        if name == "tflite":
            raise ImportError("no tflite")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tflite)
    f = tmp_path / "x.tflite"
    f.write_bytes(b"x")
    assert main(["zoo", "import-tflite", str(f), "--out", str(tmp_path / "o.safetensors")]) == 2
    assert "visioncircuits[tflite]" in _one_error_line(capsys)
