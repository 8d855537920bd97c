"""Gallery resume is keyed by a fingerprint: another model, other weights or other settings re-render."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from visioncircuits.atomic import _HOST, clean_stale_tmp, is_stale_tmp
from visioncircuits.featvis.gallery import build_gallery
from visioncircuits.fingerprint import digest, weights_digest
from visioncircuits.zoo import get_spec, load_model

FAST = dict(units="0:2", steps=2, size=32, progress=False, write_html=False)


def _dead_pid() -> int:
    """A pid no process has (the highest pid number is far below this)."""
    return 4_000_000 - 7


@pytest.fixture(scope="module")
def vgg0():
    return load_model("toy-vgg-s0")


def test_another_model_into_the_same_folder_re_renders(vgg0, tmp_path):
    out = tmp_path / "g"
    first = build_gallery(vgg0, "conv3", out, **FAST)
    assert first.rendered == [0, 1]
    vgg1 = load_model("toy-vgg-s1")
    second = build_gallery(vgg1, "conv3", out, **FAST)
    assert second.rendered == [0, 1] and second.skipped == []  # was "0 rendered, 2 already done"
    man = json.loads((out / "gallery.json").read_text())
    assert man["model"] == "toy-vgg-s1" and man["n_units"] == 2 and man["stale_units"] == 0
    assert man["fingerprint"]["model"] == "toy-vgg-s1"
    assert {u["fingerprint"] for u in man["units"]} == {man["fingerprint"]["key"]}
    assert build_gallery(vgg1, "conv3", out, **FAST).rendered == []  # and now it resumes


def test_same_name_other_weights_file_re_renders(vgg0, tmp_path):
    out = tmp_path / "g"
    build_gallery(vgg0, "conv3", out, **FAST)
    other = load_model("toy-vgg-s0", weights=get_spec("toy-vgg-s1").default_weights)
    assert weights_digest(other) != weights_digest(vgg0) and weights_digest(vgg0).startswith("file:")
    assert build_gallery(other, "conv3", out, **FAST).rendered == [0, 1]
    # a random init is fingerprinted by its tensors, and differs from the trained weights
    rnd = load_model("toy-vgg-s0", weights="random")
    assert weights_digest(rnd).startswith("state:") and build_gallery(rnd, "conv3", out, **FAST).rendered == [0, 1]


@pytest.mark.parametrize("change", [dict(transforms="none"), dict(lr=0.01), dict(param_kwargs={"sd": 0.3}),
                                    dict(seed=3), dict(diverse=1), dict(objective="neuron")])
def test_other_render_settings_re_render(vgg0, tmp_path, change):
    out = tmp_path / "g"
    build_gallery(vgg0, "conv3", out, **FAST)
    assert build_gallery(vgg0, "conv3", out, **{**FAST, **change}).rendered == [0, 1]
    assert build_gallery(vgg0, "conv3", out, **{**FAST, **change}).rendered == []


def test_batch_size_is_not_part_of_the_fingerprint(vgg0, tmp_path):
    out = tmp_path / "g"
    build_gallery(vgg0, "conv3", out, batch_size=2, **FAST)
    assert build_gallery(vgg0, "conv3", out, batch_size=1, **FAST).rendered == []


def test_re_render_clears_the_old_unit_files(vgg0, tmp_path):
    out = tmp_path / "g"
    build_gallery(vgg0, "conv3", out, diverse=2, negative=True, **FAST)
    udir = out / "units" / "conv3_0"
    assert (udir / "diverse_1.png").exists() and (udir / "negative.png").exists()
    build_gallery(vgg0, "conv3", out, **{**FAST, "steps": 3})
    assert sorted(p.name for p in udir.iterdir()) == ["unit.json", "vis.png"]


def test_leftover_tmp_files_of_killed_writes_are_cleaned_on_resume(vgg0, tmp_path):
    out = tmp_path / "g"
    build_gallery(vgg0, "conv3", out, **FAST)
    udir = out / "units" / "conv3_1"
    dead = udir / f".vis.png.{_HOST}-{_dead_pid()}.k2j3h4g5.tmp"  # a write killed before its rename
    live = udir / f".vis.png.{_HOST}-{os.getpid()}.a1b2c3d4.tmp"  # a writer that is still running
    old_style = udir / ".unit.json.zz9x8c7v.tmp"  # the former naming: removed once it is a day old
    for f in (dead, live, old_style):
        f.write_bytes(b"half")
    os.utime(old_style, (1, 1))
    res = build_gallery(vgg0, "conv3", out, **FAST)
    assert res.rendered == [] and not dead.exists() and not old_style.exists() and live.exists()
    assert not is_stale_tmp(live) and clean_stale_tmp(out) == 0
    fresh_old_style = udir / ".vis.png.qq1w2e3r.tmp"
    fresh_old_style.write_bytes(b"x")
    assert not is_stale_tmp(fresh_old_style)  # could belong to a live writer of another version
    assert not is_stale_tmp(Path(udir / "vis.png"))


def test_fingerprint_digest_is_stable_and_canonical():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert digest({"a": 1}) == "015abd7f5cc57a2dd94b7590"  # pinned: resumes across processes rely on it
