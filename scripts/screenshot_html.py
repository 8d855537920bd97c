"""Screenshot one offline HTML page in headless Chromium (for docs/img).

    python scripts/screenshot_html.py /tmp/mobilenet-dog-circuit/dog_circuit.html docs/img/mobilenet_dog_circuit.png \
        --width 1680 --height 800

Only for pages that show renders and plots: never screenshot a page showing the unlicensed sample photos.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("html")
    p.add_argument("png")
    p.add_argument("--width", type=int, default=1200)
    p.add_argument("--height", type=int, default=820)
    p.add_argument("--full", action="store_true", help="the whole page, not only the viewport")
    p.add_argument("--selector", default=None, help="screenshot only this element (CSS selector)")
    p.add_argument("--hide", action="append", default=[], metavar="SELECTOR",
                   help="hide these elements first (e.g. sections showing the unlicensed sample photos)")
    args = p.parse_args()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=FLAGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(Path(args.html).resolve().as_uri(), wait_until="load")
        for sel in args.hide:
            page.evaluate("s => document.querySelectorAll(s).forEach(e => e.style.display = 'none')", sel)
        if args.selector:
            page.locator(args.selector).first.screenshot(path=args.png)
        else:
            page.screenshot(path=args.png, full_page=args.full)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
