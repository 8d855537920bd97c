"""A finished SAE folder is never replaced by other settings unless asked, and a checkpoint of other
settings is compared before any of its tensors is loaded."""
from __future__ import annotations

import json
import os

import pytest
import torch

from visioncircuits.atomic import _HOST
from visioncircuits.cli import main
from visioncircuits.errors import InputError
from visioncircuits.sae.checkpoint import CHECKPOINT_FILE
from visioncircuits.sae.stream import SampleStream
from visioncircuits.sae.train import TrainConfig, _fingerprint, train_sae


def _data(n=1500, d=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g).relu() * 3


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_finished_sae_of_other_settings_is_not_overwritten(tmp_path):
    x = _data()
    cfg = TrainConfig(d_sae=32, k=2, steps=5, batch_size=100, warmup_steps=1)
    train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, progress=False)
    before = _snapshot(tmp_path)
    other = TrainConfig(d_sae=64, k=2, steps=5, batch_size=100, warmup_steps=1)
    with pytest.raises(InputError, match=r"other settings \(d_sae 32 -> 64\).*overwrite") as e:
        train_sae(SampleStream(x), 16, other, out_dir=tmp_path, progress=False)
    assert "\n" not in str(e.value)
    assert _snapshot(tmp_path) == before  # nothing touched
    sae = train_sae(SampleStream(x), 16, other, out_dir=tmp_path, progress=False, overwrite=True)
    assert sae.d_sae == 64 and json.loads((tmp_path / "cfg.json").read_text())["d_sae"] == 64


def test_killed_run_rerun_with_other_latents_starts_afresh_without_loading_the_checkpoint(tmp_path, caplog):
    x = _data()
    big = TrainConfig(d_sae=64, k=2, steps=30, batch_size=100, warmup_steps=1, checkpoint_every=10)
    train_sae(SampleStream(x), 16, big, out_dir=tmp_path, progress=False, stop_after=15)  # "killed"
    assert (tmp_path / CHECKPOINT_FILE).exists() and not (tmp_path / "cfg.json").exists()
    small = TrainConfig(d_sae=32, k=2, steps=12, batch_size=100, warmup_steps=1, checkpoint_every=10)
    with caplog.at_level("WARNING"):
        sae = train_sae(SampleStream(x), 16, small, out_dir=tmp_path, progress=False)  # crashed on shapes before
    assert "other settings (d_sae 64 -> 32" in caplog.text
    assert sae.d_sae == 32 and sae.cfg["training"]["steps_done"] == 12 and sae.cfg["training"]["finished"]


def test_weights_digest_is_compared_when_both_runs_record_it(tmp_path):
    x = _data()
    cfg = TrainConfig(d_sae=32, k=2, steps=5, batch_size=100, warmup_steps=1)
    meta = {"model": "m", "layer": "l", "model_weights": "file:aaa"}
    train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, meta=meta, progress=False)
    with pytest.raises(InputError, match="weights 'file:aaa' -> 'file:bbb'"):
        train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, meta={**meta, "model_weights": "file:bbb"},
                  progress=False)
    # the same settings and weights: the finished SAE is reused, not retrained
    again = train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, meta=meta, progress=False)
    assert again.cfg["training"]["finished"]


def test_leftover_tmp_in_an_sae_folder_is_cleaned_on_resume(tmp_path):
    x = _data()
    cfg = TrainConfig(d_sae=32, k=2, steps=20, batch_size=100, warmup_steps=1, checkpoint_every=5)
    train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, progress=False, stop_after=7)
    dead = tmp_path / f".{CHECKPOINT_FILE}.{_HOST}-{4_000_000 - 7}.abcd1234.tmp"
    dead.write_bytes(b"half a checkpoint")
    live = tmp_path / f".cfg.json.{_HOST}-{os.getpid()}.abcd1234.tmp"
    live.write_bytes(b"{")
    train_sae(SampleStream(x), 16, cfg, out_dir=tmp_path, progress=False)
    assert not dead.exists() and live.exists()


def test_cli_refuses_before_loading_the_model(tmp_path, capsys, monkeypatch):
    out = tmp_path / "sae"
    out.mkdir()
    finished = TrainConfig(d_sae=32, k=4, steps=50, batch_size=256)
    fp = _fingerprint(finished, {"model": "toy-vgg-s0", "layer": "relu3"})
    (out / "cfg.json").write_text(json.dumps({"d_sae": 32, "training": {"fingerprint": fp, "finished": True}}))
    before = _snapshot(out)

    def no_model(*a, **k):
        raise AssertionError("the model must not load")

    monkeypatch.setattr("visioncircuits.zoo.load_model", no_model)
    args = ["sae", "train", "toy-vgg-s0", "relu3", "--k", "4", "--toyworld", "--steps", "50", "--batch-size",
            "256", "--out", str(out), "--no-progress"]
    assert main(args[:4] + ["--latents", "64"] + args[4:]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "d_sae 32 -> 64" in err and "--overwrite" in err
    assert _snapshot(out) == before
