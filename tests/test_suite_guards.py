"""The suite's own guards (tests/conftest.py): skips that would hide a broken setup fail the run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"

SAMPLE = '''
import os, pytest

@pytest.mark.shared
def test_shared_skips():
    pytest.skip("pretend the shared weights are missing")

def test_offline_is_set():
    assert os.environ["VISIONCIRCUITS_OFFLINE"] == "1"

@pytest.mark.browser
def test_browser_skips():
    pytest.skip("pretend no browser")
'''


def _run(tmp_path: Path, shared_exists: bool, ci: bool, extra: str = "") -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "conftest.py").write_text(f"import runpy\nglobals().update(runpy.run_path({str(CONFTEST)!r}))\n")
    (tmp_path / "test_sample.py").write_text(SAMPLE + extra)
    shared = tmp_path / "shared"
    if shared_exists:
        (shared / "weights").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "VISIONCIRCUITS_OFFLINE")}
    env.update(VISIONCIRCUITS_SHARED=str(shared), PYTHONDONTWRITEBYTECODE="1", **({"CI": "true"} if ci else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--import-mode=importlib",
                           "-c", os.devnull, "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_skips_fail_where_they_would_hide_a_broken_setup(tmp_path):
    local = _run(tmp_path / "local", shared_exists=False, ci=False)
    assert "1 passed, 2 skipped" in local.stdout, local.stdout
    ci = _run(tmp_path / "ci", shared_exists=True, ci=True)
    assert "2 failed, 1 passed" in ci.stdout, ci.stdout
    assert "shared test skipped although the shared folder exists" in ci.stdout
    assert "browser test skipped in CI" in ci.stdout and ci.returncode == 1


def test_shared_fixture_without_marker_is_a_collection_error(tmp_path):
    res = _run(tmp_path, shared_exists=True, ci=False, extra="\n\ndef test_unmarked(shared_dir):\n    pass\n")
    assert res.returncode != 0 and "must carry @pytest.mark.shared" in (res.stdout + res.stderr)
    assert "test_unmarked" in (res.stdout + res.stderr)
