"""``visioncircuits toyworld train/eval`` end to end on a tiny budget, resume, and clear errors."""

import json

import pytest
import torch
from safetensors.torch import load_file

from visioncircuits.cli import main
from visioncircuits.toyworld.train import TrainConfig, train


def test_train_then_eval_cli(tmp_path, capsys):
    rc = main(
        [
            "toyworld",
            "train",
            "narrow",
            "--seed",
            "3",
            "--out",
            str(tmp_path),
            "--steps",
            "3",
            "--batch",
            "8",
            "--eval-n",
            "20",
        ]
    )
    assert rc == 0
    w = tmp_path / "toy-narrow-s3.safetensors"
    assert w.exists() and not list(tmp_path.glob(".*.train.safetensors"))  # resume checkpoint cleaned up
    meta = json.loads((tmp_path / "toy-narrow-s3.json").read_text())
    assert meta["steps"] == 3 and 0 <= meta["accuracy"] <= 1 and meta["supervised"] is True
    assert {"train_seconds", "cpu_seconds"} <= meta.keys()  # recorded for the card; a 3-step run may round to 0.0 s
    card = (tmp_path / "toy-narrow-s3.md").read_text()
    assert "visioncircuits toyworld train narrow --seed 3" in card and "--steps 3" in card
    assert "supervised" in card and "Built in, not emerged" in card
    assert "wrote" in capsys.readouterr().out
    rc = main(["toyworld", "eval", "toy-narrow-s0", "--weights", str(w), "--n", "20"])
    out = capsys.readouterr().out
    assert rc == 0 and "held-out accuracy" in out
    assert float(out.split("accuracy ")[1].split()[0]) == pytest.approx(meta["accuracy"], abs=1e-4)


def test_resume_matches_uninterrupted(tmp_path):
    """Training 4 steps in one go equals 2 steps, a checkpoint, and a resumed run."""
    a = tmp_path / "a"
    train(TrainConfig("narrow", seed=1, steps=4, batch=4, checkpoint_every=2), a, progress=False)
    b = tmp_path / "b"
    cfg = TrainConfig("narrow", seed=1, steps=4, batch=4, checkpoint_every=2)

    class Stop(Exception):
        pass

    import visioncircuits.toyworld.train as tr

    real = tr.generate
    calls = {"n": 0}

    def interrupt(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # killed during step 3, after the step-2 checkpoint
            raise Stop
        return real(*args, **kw)

    tr.generate = interrupt
    try:
        with pytest.raises(Stop):
            train(cfg, b, progress=False)
    finally:
        tr.generate = real
    assert (b / ".toy-narrow-s1.train.safetensors").exists() and not (b / "toy-narrow-s1.safetensors").exists()
    train(cfg, b, progress=False)
    wa, wb = load_file(str(a / "toy-narrow-s1.safetensors")), load_file(str(b / "toy-narrow-s1.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5), k


def test_unsupervised_cli_writes_the_u_model_with_an_honest_card(tmp_path, capsys):
    rc = main(
        [
            "toyworld",
            "train",
            "vgg",
            "--unsupervised",
            "--seed",
            "2",
            "--out",
            str(tmp_path),
            "--steps",
            "2",
            "--batch",
            "4",
            "--eval-n",
            "0",
        ]
    )
    assert rc == 0 and not (tmp_path / "toy-vgg-s2.safetensors").exists()
    meta = json.loads((tmp_path / "toy-vgg-u-s2.json").read_text())
    assert meta["supervised"] is False and meta["aux_weight"] == 0.0 and meta["name"] == "toy-vgg-u-s2"
    card = (tmp_path / "toy-vgg-u-s2.md").read_text()
    assert "class loss only" in card and "--unsupervised" in card and "Built in" not in card


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["toyworld", "train", "vggg"], "unknown toy architecture 'vggg'"),
        (["toyworld", "train", "vgg", "--steps", "0"], "steps"),
        (["toyworld", "eval", "toy-vgg-s9"], "unknown model"),
        (["toyworld", "train", "vgg", "--unsupervised", "--aux-weight", "2"], "drop --aux-weight"),
        (["toyworld", "eval", "toy-vgg-s0", "--n", "0"], "--n must be"),
    ],
)
def test_bad_input_is_one_line(argv, needle, capsys, tmp_path):
    if argv[1] == "train":
        argv = argv + ["--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    """Fingerprints: a killed run's checkpoint is reused only by a run with the same config."""
    import dataclasses

    from visioncircuits.toyworld.train import TrainConfig, train

    cfg = TrainConfig(arch="narrow", seed=1, steps=4, batch=8, checkpoint_every=2)

    class Stop(Exception):
        pass

    import visioncircuits.toyworld.train as tr

    real, calls = tr.generate, {"n": 0}

    def interrupt(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Stop
        return real(*args, **kw)

    tr.generate = interrupt
    try:
        with pytest.raises(Stop):
            train(cfg, tmp_path, progress=False)
    finally:
        tr.generate = real
    ck = tmp_path / ".toy-narrow-s1.train.safetensors"
    assert ck.exists()
    with caplog.at_level("WARNING"):
        res = train(dataclasses.replace(cfg, lr=1e-3), tmp_path, progress=False)
    assert "other settings" in caplog.text and res.name == "toy-narrow-s1" and not ck.exists()
