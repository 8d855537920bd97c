"""Every story notebook runs top to bottom, offline, and shows its images inline.

A notebook that breaks fails CI. Each is executed in a fresh kernel with the repo as its
working directory; outputs are not written back.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_four_story_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    for prefix in ("01_", "02_", "03_", "04_"):
        assert any(n.startswith(prefix) for n in names), f"missing notebook {prefix}*: {names}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_renders_images(path, tmp_path):
    import nbclient  # dev dependencies, installed by .ci/run: a missing one fails, never skips
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    env_before = os.environ.get("VISIONCIRCUITS_NB_OUT")
    os.environ["VISIONCIRCUITS_NB_OUT"] = str(tmp_path)
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("VISIONCIRCUITS_NB_OUT", None)
        else:
            os.environ["VISIONCIRCUITS_NB_OUT"] = env_before
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert len(images) >= 1, f"{path.name} rendered no inline image"
