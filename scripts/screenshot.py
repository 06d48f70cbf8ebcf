"""Screenshot one section of a reptune report in headless Chromium, to look at it as a reader would.

Usage: .venv/bin/python scripts/screenshot.py runs/compare/report.html frontier frontier.png
(needs Debian's chromium and the dev extra's playwright: bash scripts/setup.sh --dev)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright


def main(report: str, section: str, out: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(Path(report).resolve().as_uri(), wait_until="load")
        page.locator(f"#{section}").screenshot(path=out)
        browser.close()
    print(out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
