"""``visioncircuits sae train|eval`` end to end on the real CIFAR ResNet-20, and clear errors."""
from __future__ import annotations

import json

import pytest

from visioncircuits.cli import main
from visioncircuits.sae.io import load_sae


def test_train_then_eval(tmp_path, hub_cache, sample_images_dir, capsys):
    out = tmp_path / "sae"
    rc = main(["sae", "train", "cifar10-resnet20", "layer3", "--latents", "64", "--k", "4",
               "--dataset", str(sample_images_dir), "--steps", "6", "--batch-size", "256", "--image-batch", "8",
               "--eval-images", "8", "--out", str(out), "--no-progress", "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| explained_variance" in text and "| loss_recovered" in text
    sae = load_sae(out)
    assert sae.cfg["layer"] == "layer3" and sae.cfg["model"] == "cifar10-resnet20" and sae.d_in == 64
    assert sae.cfg["training"]["steps_done"] == 6 and sae.cfg["training_data"]["kind"] == "folder"
    assert json.loads((out / "metrics.json").read_text())["l0"] == pytest.approx(4.0)

    rc = main(["sae", "eval", "cifar10-resnet20", str(out), "--images", "8", "--json", str(tmp_path / "m.json"),
               "--no-progress", "--threads", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    metrics = json.loads(printed[printed.index("{"):])
    assert metrics["images"] == 8 and metrics["samples"] == 8 * 64  # 8x8 positions per image
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["explained_variance"] == pytest.approx(metrics["explained_variance"])
    assert metrics["loss_kind"] == "kl_to_clean"

    # The SAE of one model does not silently evaluate on another.
    assert main(["sae", "eval", "cifar10-resnet56", str(out), "--weights", "random", "--no-progress"]) == 2
    assert "trained on cifar10-resnet20" in capsys.readouterr().err


TRAIN = ["sae", "train", "cifar10-resnet20"]
OUT = ["--out", "{tmp}/a"]


@pytest.mark.parametrize("argv, message", [
    (TRAIN + ["layer3", "--latents", "64", "--dataset", "{imgs}"] + OUT, "--k is required"),
    (TRAIN + ["layer3", "--latents", "64", "--k", "65", "--dataset", "{imgs}"] + OUT, "--k must be between"),
    (TRAIN + ["layer3", "--latents", "64", "--k", "4", "--arch", "topq", "--dataset", "{imgs}"] + OUT,
     "unknown SAE architecture"),
    (TRAIN + ["layer9", "--latents", "64", "--k", "4", "--weights", "random", "--dataset", "{imgs}"] + OUT,
     "unknown layer"),
    (TRAIN + ["layer3", "--latents", "64", "--k", "4", "--weights", "random", "--dataset", "{tmp}/none"] + OUT,
     "image folder not found"),
    (["sae", "eval", "cifar10-resnet20", "{tmp}/missing", "--weights", "random"], "no SAE at"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    argv = [a.format(tmp=tmp_path, imgs=imgs) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "a" / "cfg.json").exists()


def test_isolated_fraction_reaches_the_trainer_and_needs_the_toy_world(tmp_path, capsys):
    import json

    out = tmp_path / "sae"
    rc = main(["sae", "train", "toy-narrow-s0", "conv3", "--latents", "16", "--k", "1", "--toyworld",
               "--isolated-fraction", "0.3", "--steps", "3", "--batch-size", "128", "--eval-images", "8",
               "--no-progress", "--threads", "1", "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "cfg.json").read_text())["training_data"]["isolated_fraction"] == 0.3
    rc = main(["sae", "train", "toy-narrow-s0", "conv3", "--latents", "16", "--k", "1", "--dataset", str(tmp_path),
               "--isolated-fraction", "0.3", "--steps", "3", "--no-progress", "--out", str(tmp_path / "other")])
    assert rc == 2 and "--toyworld" in capsys.readouterr().err
    assert not (tmp_path / "other" / "sae.safetensors").exists()
