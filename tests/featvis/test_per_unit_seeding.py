"""Per-unit seeding: a unit's rendering does not depend on its batch, the batch size, shards or resumes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visioncircuits.device import batch_invariant
from visioncircuits.featvis import gallery as gallery_mod
from visioncircuits.featvis import render
from visioncircuits.featvis.gallery import build_gallery
from visioncircuits.featvis.param import make_param
from visioncircuits.featvis.seeding import ImageRNG, image_seed
from visioncircuits.featvis.transforms import default_transforms
from visioncircuits.zoo import load_model

SETTINGS = dict(steps=12, size=32, progress=False, write_html=False)


def _snapshot(out: Path) -> tuple:
    """Every PNG's bytes and every unit's value/negative value, by unit folder."""
    pngs = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}
    units = json.loads((out / "gallery.json").read_text())["units"]
    return pngs, {u["unit"]: (u["value"], u.get("negative_value")) for u in units}


@pytest.fixture(scope="module")
def toy():
    return load_model("toy-vgg-s0")


def test_image_seed_is_stable_and_names_the_identity():
    a = image_seed("toy-vgg-s0", "conv3:1", 0)
    assert a == image_seed("toy-vgg-s0", "conv3:1", 0)  # no per-process salt (hashlib, not hash())
    assert a == 5146049929226655343  # pinned: a change here is a new seeding scheme (bump SEEDING_VERSION)
    others = {image_seed("toy-vgg-s1", "conv3:1", 0), image_seed("toy-vgg-s0", "conv3:2", 0),
              image_seed("toy-vgg-s0", "conv3:1", 1), image_seed("toy-vgg-s0", "-conv3:1", 0)}
    assert a not in others and len(others) == 4


@pytest.mark.parametrize("kind", ["fft", "pixel", "maco"])
def test_init_and_transform_draws_follow_the_image_not_the_batch(kind):
    s = [image_seed("m", f"l:{i}", 0) for i in range(4)]
    full = make_param(kind, 4, 16, seeds=s)()
    alone = make_param(kind, 1, 16, seeds=s[2:3])()
    assert torch.equal(full[2], alone[0])
    # transform draws: image 2's stream is the same alone, in a batch of 4, or with other neighbours
    x = torch.rand(4, 3, 16, 16)
    tf = default_transforms(16)
    torch.testing.assert_close(tf(x, ImageRNG(s))[2:3], tf(x[2:3], ImageRNG(s[2:3])), rtol=0, atol=0)
    mixed = [s[3], s[2]]
    torch.testing.assert_close(tf(x[[3, 2]], ImageRNG(mixed))[1:], tf(x[2:3], ImageRNG(s[2:3])), rtol=0, atol=0)
    with pytest.raises(ValueError):
        tf(x, ImageRNG(s[:2]))


def test_render_of_a_unit_alone_equals_it_inside_a_batch(toy):
    with batch_invariant():
        alone = render(toy, ["conv3:1"], steps=16, size=32, progress=False)
        batch = render(toy, ["conv3:5", "conv3:1", "conv4:2"], steps=16, size=32, progress=False)
        again = render(toy, ["conv3:1"], steps=16, size=32, progress=False)
    assert torch.equal(alone.images[0], batch.images[1]) and alone.values[0] == batch.values[1]
    assert torch.equal(alone.images, again.images)  # deterministic for a seed
    # with the default (multi-threaded, oneDNN) kernels only float rounding differs
    loose = render(toy, ["conv3:5", "conv3:1"], steps=16, size=32, progress=False)
    torch.testing.assert_close(loose.images[1], alone.images[0], atol=2e-3, rtol=0)
    other_seed = render(toy, ["conv3:1"], steps=16, size=32, progress=False, seed=1)
    assert (other_seed.images - alone.images).abs().max() > 0.05


def test_gallery_is_identical_however_the_work_is_split(toy, tmp_path, monkeypatch):
    kw = dict(SETTINGS, units="0:4", negative=True, diverse=2)
    with batch_invariant():
        build_gallery(toy, "conv3", tmp_path / "bs4", batch_size=8, **kw)  # negative: 4 units + 4 negatives
        build_gallery(toy, "conv3", tmp_path / "bs1", batch_size=2, **kw)
        build_gallery(toy, "conv3", tmp_path / "shards", batch_size=8, shard="1/2", **kw)
        build_gallery(toy, "conv3", tmp_path / "shards", batch_size=8, shard="2/2", **kw)
        # killed after two units were finished, then resumed: the rest render in a smaller batch
        real = gallery_mod.write_json
        written: list = []

        def dying_write_json(path, obj, **kw2):
            if Path(path).name == "unit.json" and len(written) == 2:
                raise KeyboardInterrupt("killed")
            if Path(path).name == "unit.json":
                written.append(path)
            return real(path, obj, **kw2)

        monkeypatch.setattr(gallery_mod, "write_json", dying_write_json)
        with pytest.raises(KeyboardInterrupt):
            build_gallery(toy, "conv3", tmp_path / "resumed", batch_size=8, **kw)
        monkeypatch.setattr(gallery_mod, "write_json", real)
        res = build_gallery(toy, "conv3", tmp_path / "resumed", batch_size=8, **kw)
    assert len(res.skipped) == 2 and len(res.rendered) == 2
    ref = _snapshot(tmp_path / "bs4")
    assert len(ref[0]) == 4 * (1 + 1 + 2)  # vis, negative, 2 diverse
    for name in ("bs1", "shards", "resumed"):
        got = _snapshot(tmp_path / name)
        assert got[1] == ref[1], name  # equal values
        assert got[0] == ref[0], name  # byte-identical PNGs


@pytest.fixture
def two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)  # the default kernels: oneDNN and two threads
    yield
    torch.set_num_threads(old)


def test_exact_config_gives_identical_resumes_at_default_threads_and_is_never_mixed(toy, tmp_path, two_threads):
    """``RenderConfig(exact=True)`` (``--exact``) does what the ``batch_invariant()`` block does,
    without the caller's help, and its units are never reused by a run without it (or back)."""
    kw = dict(SETTINGS, negative=True)
    units = [f"conv3:{c}" for c in range(6)]
    batch = render(toy, units, steps=12, size=32, progress=False, exact=True)
    alone = render(toy, units[2:3], steps=12, size=32, progress=False, exact=True)
    # without exact these differ by ~1e-6 on this machine's CPU (oneDNN picks its sums by batch)
    assert torch.equal(batch.images[2], alone.images[0]) and batch.values[2] == alone.values[0]
    ref = build_gallery(toy, "conv3", tmp_path / "ref", batch_size=8, exact=True, units="0:4", **kw)
    assert len(ref.rendered) == 4
    build_gallery(toy, "conv3", tmp_path / "resumed", batch_size=2, exact=True, units="0:1", **kw)
    res = build_gallery(toy, "conv3", tmp_path / "resumed", batch_size=8, exact=True, units="0:4", **kw)
    assert len(res.skipped) == 1 and len(res.rendered) == 3
    assert _snapshot(tmp_path / "resumed") == _snapshot(tmp_path / "ref")
    assert torch.get_num_threads() == 2  # the numeric mode is restored afterwards
    assert torch.backends.mkldnn.enabled and not torch.are_deterministic_algorithms_enabled()
    settings = json.loads((tmp_path / "ref" / "gallery.json").read_text())["settings"]
    assert settings["exact"] is True
    loose = build_gallery(toy, "conv3", tmp_path / "ref", batch_size=8, units="0:4", **kw)
    assert len(loose.rendered) == 4 and not loose.skipped  # another numeric mode: rendered again
    again = build_gallery(toy, "conv3", tmp_path / "ref", batch_size=8, exact=True, units="0:4", **kw)
    assert len(again.rendered) == 4


def test_clearing_a_unit_keeps_a_live_process_temp_file(tmp_path):
    """Two identical runs into one folder: one clearing a unit must not delete the other's
    in-progress atomic write (its rename would fail), but a dead process's temp file goes."""
    import os

    from visioncircuits.atomic import _HOST

    udir = tmp_path / "units" / "conv3_0"
    udir.mkdir(parents=True)
    (udir / "unit.json").write_text("{}")
    (udir / "vis.png").write_bytes(b"old")
    live = udir / f".vis.png.{_HOST}-{os.getpid()}.abc.tmp"
    dead = udir / f".vis.png.{_HOST}-999999999.abc.tmp"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    gallery_mod._clear_unit(udir)
    assert sorted(p.name for p in udir.iterdir()) == [live.name]
