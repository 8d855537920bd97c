"""Hostile files: truncated and bomb images are skipped and counted, odd modes load, hostile
names are escaped on pages and survive non-UTF-8 bytes, malicious pickles never run, and
wrong-shape cfg.json files are one InputError."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from visioncircuits.data import ImageFolder, UnreadableImageError, load_image
from visioncircuits.errors import InputError, WeightsError
from visioncircuits.reliability import hostile
from visioncircuits.reliability.runner import run_in_process, run_subprocess

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    return root, hostile.hostile_folder(root / "images")


def test_unreadable_files_are_skipped_and_counted(folder):
    root, made = folder
    data = ImageFolder(root / "images", 32)
    read = [p for paths, _ in data.batches(4) for p in paths]
    bad = {str(made[k]) for k in ("truncated_jpeg", "empty_png", "text_as_jpeg", "bomb_error", "bomb_warning")}
    assert set(data.stats.skipped) == bad
    assert data.stats.read == len(read) == len(made) - len(bad)


@pytest.mark.parametrize("kind", ["bomb_error", "bomb_warning"])
def test_decompression_bombs_are_refused_without_decoding(folder, kind):
    _, made = folder
    t = time.process_time()
    with pytest.raises(UnreadableImageError, match="DecompressionBomb"):
        load_image(made[kind], 32)
    assert time.process_time() - t < 5  # 100-400 Mpx were never decoded (decoding takes minutes)
    assert made[kind].stat().st_size < 10_000


@pytest.mark.parametrize("kind", ["cmyk_jpeg", "gray16_png", "palette_alpha_png", "one_bit_png", "gray_alpha_png"])
def test_odd_modes_load_as_rgb_in_unit_range(folder, kind):
    _, made = folder
    x = load_image(made[kind], 24)
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.std()) > 0


def test_gallery_on_a_hostile_folder_escapes_names_and_skips_bad_files(folder, tmp_path):
    root, made = folder
    out = tmp_path / "gallery"
    res = run_in_process(["gallery", "toy-vgg-s0", "relu3", "--units", "0:3", "--steps", "2", "--quiet", "--k", "12",
                          "--dataset", str(root / "images"), "--out", str(out)])
    assert res.code == 0, res.stderr
    pages = list(out.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_bytes().decode("utf-8")  # valid UTF-8 even with a non-UTF-8 file name
        assert "<svg onload" not in text and "<img src=x" not in text
    index = (out / "index.html").read_text()
    assert "&lt;svg onload=alert(1)&gt;" in index  # shown, escaped
    assert "bad-\\udcff\\udcfe-name.png" in index  # the non-UTF-8 name, shown as escapes
    for unit_json in out.rglob("unit.json"):
        text = unit_json.read_text()
        for k in ("truncated_jpeg", "bomb_error", "bomb_warning", "empty_png", "text_as_jpeg"):
            assert made[k].name not in text


def test_non_utf8_out_folder_and_output_lines(tmp_path):
    """A user's folder name with bytes that are not UTF-8 works end to end in a real process."""
    raw_out = os.path.join(os.fsencode(tmp_path), b"out-\xff")
    res = run_subprocess(["toyworld", "sample", "--n", "2", "--out", os.fsdecode(os.path.join(raw_out, b"s.png"))])
    assert res.code == 0 and "Traceback" not in res.stderr
    assert os.path.exists(os.path.join(raw_out, b"s.png")) and "\\udcff" in res.stdout


def test_malicious_pickle_never_runs(tmp_path):
    from visioncircuits.zoo.weights import read_state_dict

    evil = hostile.malicious_pickle(tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="refused to load"):
        read_state_dict(evil)
    assert not (tmp_path / hostile.MARKER).exists()
    import pickle  # the file is armed: full unpickling (never done by the tool) would create the marker

    with open(evil, "rb") as f:
        pickle.load(f)
    assert (tmp_path / hostile.MARKER).exists()


@pytest.mark.parametrize("name", sorted(hostile.BAD_SAE_CONFIGS))
def test_wrong_shape_sae_configs_are_one_input_error(tmp_path, name):
    from visioncircuits.errors import VisionCircuitsError
    from visioncircuits.sae.config import read_config

    d = hostile.bad_sae_folders(tmp_path)[name]
    with pytest.raises(InputError if name != "arch_unknown" else VisionCircuitsError) as e:
        read_config(d)
    assert "\n" not in str(e.value) and str(Path(d) / "cfg.json") in str(e.value)
