"""Demo stage 50 (real MobileNets) in quick mode: without photos it uses scikit-image's
licence-clean samples and says so; with ImageNet-named photos it traces the dog unit on the
dog photos among them. Quick settings: the checks are about wiring and honesty of the page,
the measured numbers live in scripts/reproduce_mobilenet_*.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _run(tmp_path, dataset=None):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo import stage_50_mobilenet as stage

    arts = stage.run(DemoContext(out=tmp_path, quick=True, dataset=dataset))
    return arts, json.loads((tmp_path / "mobilenet" / "summary.json").read_text())


def test_stage_50_quick_without_photos(tmp_path):
    pytest.importorskip("skimage")
    arts, summary = _run(tmp_path)
    assert len(arts) == 4 and all((tmp_path / a.href).is_file() for a in arts)
    assert summary["user_photos"] is False and "scikit-image" in summary["data"]
    page = (tmp_path / "mobilenet" / "index.html").read_text()
    assert "scikit-image" in page and "CC0" in page and "MobileNetV1" in page
    # the circuit starts at the dog unit and reaches two layers down
    nodes = summary["circuit"]["nodes"]
    assert nodes[0].startswith("blocks.15:") and any(n.startswith("blocks.9:") for n in nodes)
    assert summary["circuit"]["method"] == "weights"  # no photos of the user's: data-free expanded weights
    # no dog photos to measure a dog unit's circuit on: the page says so instead of inventing numbers
    assert summary["circuit"]["metrics"]["status"] == "not computed"
    assert "faithfulness" not in summary["circuit"]["metrics"] and "Not computed: no photos" in page
    assert (tmp_path / "mobilenet" / "universality" / "report.json").is_file()
    assert set(summary["sae"]["raw"]) >= {"explained_variance", "l0"}


@pytest.mark.shared
def test_stage_50_quick_with_imagenet_photos(tmp_path, sample_images_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    names = sorted(p.name for p in sample_images_dir.iterdir())
    for name in names[150:160] + names[400:404]:  # 9 dogs (151..159) and some others
        (photos / name).symlink_to(sample_images_dir / name)
    arts, summary = _run(tmp_path / "out", dataset=photos)
    assert summary["user_photos"] is True and str(photos) in summary["data"]
    assert "dog photos" in summary["circuit"]["note"]
    # metrics on the dog photos left out of attribution (9 dogs: 4 traced, the next 4 held out), null of 2
    m = summary["circuit"]["metrics"]
    assert m["status"] == "computed" and m["images"] == {"reference": 4, "held_out": 4,
                                                         "selection": "the held-out images given"}
    assert m["n_images"] == 4 and m["null"]["n"] == 2 and m["curve"]["faithfulness"][-1] == 1.0
    page = (tmp_path / "out" / "mobilenet" / "index.html").read_text()
    assert "4 other dog photos held out from attribution" in page and "null of 2 circuits" in page
    assert not (tmp_path / "out" / "mobilenet" / "builtin_images").exists()


def test_demo_dataset_must_be_a_photo_folder(tmp_path):
    out = tmp_path / "out"
    for bad in (tmp_path / "missing", tmp_path):  # absent; a folder without images
        r = subprocess.run(
            [sys.executable, "-m", "visioncircuits", "demo", "--quick", "--out", str(out), "--dataset", str(bad)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--dataset" in r.stderr
        assert not out.exists()
