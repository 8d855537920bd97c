"""Demo stage 10 in quick mode, end to end through the CLI: pages written, labels beside units."""
import json

import pytest

from visioncircuits.cli import main
from visioncircuits.zoo.toy import MODELS_DIR

pytestmark = pytest.mark.skipif(
    not (MODELS_DIR / "toy-resnet-s0.safetensors").exists(), reason="toy-resnet-s0 weights not trained yet"
)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--stages", "toyzoo", "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_index_links_the_stage(demo_out):
    index = (demo_out / "index.html").read_text()
    assert "toyzoo/index.html" in index and "This stage failed" not in index
    sections = json.loads((demo_out / "demo.json").read_text())
    assert [s["name"] for s in sections] == ["stage_10_toyzoo"] and sections[0]["error"] is None


def test_zoo_page_and_summary(demo_out):
    page = (demo_out / "toyzoo" / "index.html").read_text()
    summary = json.loads((demo_out / "toyzoo" / "toyzoo.json").read_text())
    names = [m["name"] for m in summary["models"]]
    assert "toy-vgg-s0" in names and all(n in page for n in names)
    assert all(m["accuracy"] >= 0.9 for m in summary["models"])  # 60 fresh images each in quick mode
    assert len(summary["labels"]) == 26 and "red blob" in page and "data:image/png;base64," in page
    assert (demo_out / "toyzoo" / "samples.png").exists()


def test_gallery_shows_ground_truth_labels(demo_out):
    g = demo_out / "toyzoo" / "gallery"
    manifest = json.loads((g / "gallery.json").read_text())
    summary = json.loads((demo_out / "toyzoo" / "toyzoo.json").read_text())
    assert manifest["model"] == "toy-resnet-s0" and manifest["layer"] == "block2.relu2" and manifest["n_units"] == 4
    html = (g / "index.html").read_text()
    for u in manifest["units"]:
        lab = summary["labels"][u["index"]]
        assert u["note"] and lab["label"] in u["note"]
        assert lab["label"] in html
