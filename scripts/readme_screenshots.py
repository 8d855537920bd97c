"""Screenshots for the README, taken in headless Chromium from a demo folder.

    visioncircuits demo --out demo-out && python scripts/readme_screenshots.py demo-out docs/img
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
PAGES = {
    "gallery.png": "toyzoo/gallery/index.html",
    "circuit.png": "circuits/car/circuit.html",
    "universality.png": "universality/report.html",
    "sae.png": "sae/index.html",
}


def main(demo: str, out: str) -> int:
    demo_dir, out_dir = Path(demo), Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 820})
        for name, rel in PAGES.items():
            page.goto((demo_dir / rel).resolve().as_uri(), wait_until="load")
            if name == "circuit.png":  # show the spatial kernel of a lower edge
                page.locator("svg.circuit path.hit").last.hover(force=True)
            page.screenshot(path=str(out_dir / name))
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
