"""Shared fixtures: headless Chromium (one Playwright session for the whole run), the ../shared folder
(skip cleanly when absent), a temporary torch.hub
cache holding the real CIFAR weights, and tiny hooked models for fast tests.

Hooks that keep the suite from passing quietly:
- every test using a ../shared fixture must carry ``@pytest.mark.shared`` (collection error otherwise);
- when ../shared exists (as in CI), a skipped ``shared`` test is reported as a failure;
- in CI (``CI=true``), a skipped ``browser`` test is reported as a failure;
- ``VISIONCIRCUITS_OFFLINE=1`` for the whole session: no test can download.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]


SHARED_FIXTURES = frozenset({"shared_dir", "sample_images_dir", "hub_cache"})


def _shared_dir() -> Path:
    return Path(os.environ.get("VISIONCIRCUITS_SHARED", REPO.parent / "shared")).resolve()


def _shared_present() -> bool:
    return (_shared_dir() / "weights").is_dir()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session", autouse=True)
def _offline():
    """No test may download anything: published weights come from caches the tests build."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISIONCIRCUITS_OFFLINE", "1")
        yield


def pytest_collection_modifyitems(config, items):
    """A test that reads ../shared without the ``shared`` marker is a collection error."""
    unmarked = [
        it.nodeid
        for it in items
        if SHARED_FIXTURES & set(getattr(it, "fixturenames", ())) and it.get_closest_marker("shared") is None
    ]
    if unmarked:
        raise pytest.UsageError("tests using ../shared fixtures must carry @pytest.mark.shared: " + ", ".join(unmarked))


def _skip_reason(rep) -> str:
    lr = rep.longrepr
    return str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turn a skip into a failure where it would hide a broken setup: a ``shared`` test while
    ../shared exists, a ``browser`` test in CI."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.skipped or hasattr(rep, "wasxfail"):
        return
    why = None
    if item.get_closest_marker("shared") is not None and _shared_present():
        why = f"shared test skipped although the shared folder exists at {_shared_dir()}"
    elif item.get_closest_marker("browser") is not None and _in_ci():
        why = "browser test skipped in CI (CI=true)"
    if why:
        rep.outcome = "failed"
        rep.longrepr = f"{why}: {_skip_reason(rep)}"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    d = _shared_dir()
    if not (d / "weights").is_dir():
        pytest.skip(f"shared folder not found at {d} (set VISIONCIRCUITS_SHARED)")
    return d


@pytest.fixture(scope="session")
def sample_images_dir(shared_dir) -> Path:
    d = shared_dir / "data" / "imagenet-samples"
    if not d.is_dir():
        pytest.skip(f"sample images not found at {d}")
    return d


@pytest.fixture(scope="session")
def hub_cache(shared_dir, tmp_path_factory):
    """A temporary TORCH_HOME whose hub checkpoint dir holds the shared CIFAR weights (symlinks),
    so the real published-weights path runs with no network."""
    home = tmp_path_factory.mktemp("torch_home")
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    for f in (shared_dir / "weights").iterdir():
        (ckpt / f.name).symlink_to(f)
    old_env, old_dir = os.environ.get("TORCH_HOME"), torch.hub.get_dir()
    os.environ["TORCH_HOME"] = str(home)
    torch.hub.set_dir(str(home / "hub"))
    yield ckpt
    torch.hub.set_dir(old_dir)
    if old_env is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old_env


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch.hub cache and no network: published weights must fail clearly."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("VISIONCIRCUITS_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


class TinyNet(nn.Module):
    """conv(3->4) relu conv(4->6) relu pool linear(6->3): small enough for any test."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


def make_tiny(seed: int = 0):
    from visioncircuits.hooks import HookedModel

    torch.manual_seed(seed)
    return HookedModel.wrap(
        TinyNet(),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        input_size=16,
        name="tiny",
        main_layers=("relu1", "relu2"),
    )


@pytest.fixture
def tiny_model():
    return make_tiny()


# ---------------------------------------------------------------- headless browser
# Skips with a clear reason when no browser is installed, except in CI (CI=true), where a
# missing browser is a failure. One Playwright session serves every test (the sync API
# cannot nest).

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in (os.environ.get("VISIONCIRCUITS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@dataclass
class PageReport:
    url: str
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    broken_images: list = field(default_factory=list)
    image_count: int = 0
    screenshot: Path | None = None


@pytest.fixture(scope="session")
def browser():
    exe = _chromium()
    if exe is None:
        if _in_ci():
            pytest.fail("no chromium found in CI: .ci/run must install Debian's chromium")
        pytest.skip("no chromium installed (apt-get install chromium) - browser tests skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _in_ci():
            pytest.fail("playwright not installed in CI")
        pytest.skip("playwright not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    """``open_page(html_path) -> (page, PageReport)``: loads from file://, records console errors,
    page errors, failed requests and images that did not decode, and saves a screenshot."""
    pages = []

    def _open(html: Path, screenshot_name: str = "page.png"):
        html = Path(html).resolve()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        rep = PageReport(url=html.as_uri())
        page.on("console", lambda m: rep.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: rep.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: rep.failed_requests.append(r.url))
        page.goto(rep.url, wait_until="load")
        # lazy images below the fold are not loaded yet (complete == false): load them all, then judge
        page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=15000)
        rep.broken_images = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.src.slice(0, 120))"
        )
        rep.image_count = page.evaluate("() => document.images.length")
        shot = Path(os.environ.get("VISIONCIRCUITS_SCREENSHOTS", tmp_path)) / screenshot_name
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=False)
        rep.screenshot = shot
        return page, rep

    yield _open
    for p in pages:
        p.close()
