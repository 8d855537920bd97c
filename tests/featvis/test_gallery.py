"""Gallery: files and manifest, resume, shards, notes, and HTML escaping of hostile names."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visioncircuits.errors import InputError
from visioncircuits.featvis.gallery import build_gallery, parse_shard

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "data"
    d.mkdir()
    for name in ["a.png", "b.png", "c.png", '<img src=x onerror=alert(1)>.png']:
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(d / name)
    (d / "corrupt.png").write_bytes(b"\x89PNG broken")
    return d


def test_gallery_outputs_notes_and_escaping(tiny_model, folder, tmp_path):
    out = tmp_path / "g"
    res = build_gallery(tiny_model, "relu2", out, units="0:3", dataset=folder, steps=3, size=16, k=2,
                        negative=True, diverse=2, unit_notes={1: HOSTILE, 2: "ground truth: stripes"}, progress=False)
    assert res.rendered == [0, 1, 2] and res.total_finished == 3
    man = json.loads((out / "gallery.json").read_text())
    assert man["model"] == "tiny" and man["layer"] == "relu2" and man["n_units"] == 3
    u = {r["index"]: r for r in man["units"]}
    assert u[1]["note"] == HOSTILE and u[0]["note"] is None
    for r in man["units"]:
        for key in ("vis", "negative"):
            assert (out / r[key]).is_file()
        assert len(r["diverse"]) == 2 and all((out / p).is_file() for p in r["diverse"])
        assert len(r["examples"]) == 2 and all((out / e["crop"]).is_file() for e in r["examples"])
        assert r["dataset"]["skipped"] == 1 and r["dataset"]["n_images"] == 4
        assert set(r["stats"]) >= {"mean", "q50", "q90", "q99", "max", "frac_active"}
        assert isinstance(r["value"], float) and isinstance(r["negative_value"], float)
    html = (out / "index.html").read_text()
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert "<img src=x onerror" not in html
    assert "ground truth: stripes" in html
    assert "http://" not in html and "https://" not in html  # offline: nothing external
    assert html.count('class="card"') == 3 and "data:image/png;base64," in html
    assert not list(out.rglob("*.tmp"))


def test_gallery_resume_and_shards(tiny_model, tmp_path):
    out = tmp_path / "g"
    a = build_gallery(tiny_model, "relu2", out, units="0:5", steps=2, size=16, shard="1/2", progress=False)
    assert a.rendered == [0, 2, 4] and a.total_finished == 3
    b = build_gallery(tiny_model, "relu2", out, units="0:5", steps=2, size=16, shard="2/2", progress=False)
    assert b.rendered == [1, 3] and b.total_finished == 5
    vis = out / "units" / "relu2_0" / "vis.png"
    mtime = vis.stat().st_mtime_ns
    again = build_gallery(tiny_model, "relu2", out, units="0:5", steps=2, size=16, progress=False)
    assert again.rendered == [] and sorted(again.skipped) == [0, 1, 2, 3, 4]
    assert vis.stat().st_mtime_ns == mtime
    # an interrupted unit (no unit.json) is redone; changed settings redo everything
    (out / "units" / "relu2_3" / "unit.json").unlink()
    assert build_gallery(tiny_model, "relu2", out, units="0:5", steps=2, size=16, progress=False).rendered == [3]
    assert build_gallery(tiny_model, "relu2", out, units="0:2", steps=3, size=16, progress=False).rendered == [0, 1]
    # the manifest lists only units of its own settings: the 3 left at steps=2 are counted, not listed
    man = json.loads((out / "gallery.json").read_text())
    assert man["n_units"] == 2 and man["stale_units"] == 3 and man["settings"]["steps"] == 3
    # notes can change without re-rendering
    res = build_gallery(
        tiny_model, "relu2", out, units="0:2", steps=3, size=16, unit_notes={0: "new label"}, progress=False
    )
    assert res.rendered == []
    assert "new label" in (out / "index.html").read_text()


def test_bad_shard_and_units(tiny_model, tmp_path):
    assert parse_shard("3/4") == (3, 4)
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(InputError):
            parse_shard(bad)
    with pytest.raises(InputError, match="out of range"):
        build_gallery(tiny_model, "relu2", tmp_path, units="0:99", steps=1, progress=False)
    assert not (tmp_path / "gallery.json").exists()
