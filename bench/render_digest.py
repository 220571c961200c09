"""Look at the digest and the 汇总表 as leaders and the clerk will: screenshots and printed pages.

Replays a campaign into a fresh data folder through the real store (tests/campaign_data.py),
runs the real `baosong digest --dry-run`, then
- renders the digest's HTML in headless Chromium at 375 px (a phone) and 1280 px (126 webmail
  on a desktop) into PNG screenshots;
- prints the attached workbook to PDF with LibreOffice and turns its pages into PNGs.

    .venv/bin/python -m bench.render_digest [--deadline week-2] [--out /tmp/digest-look]

Needs Debian's chromium, LibreOffice (soffice) and poppler-utils (pdftoppm), and a CJK font
(fonts-noto-cjk) so that the Chinese is drawn at all. Prints the paths of every image.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from store.config import load_settings
from store.db import Store
from tests.baosong_cli import run, write_config
from tests.campaign_data import DUE, at, replay

WIDTHS = (375, 1280)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"render_digest: {' or '.join(names)} is not installed (apt-get install chromium poppler-utils)")


def screenshot(html: Path, png: Path, width: int, height: int) -> Path:
    chromium = _tool("chromium", "chromium-browser")
    with tempfile.TemporaryDirectory(prefix="render-digest-") as profile:
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={width},{height}", html.resolve().as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    return png


def print_pages(workbook: Path, out: Path) -> list[Path]:
    """The workbook printed by LibreOffice, one PNG per page."""
    soffice = _tool("soffice", "libreoffice")
    pdftoppm = _tool("pdftoppm")
    with tempfile.TemporaryDirectory(prefix="render-digest-lo-") as profile:
        subprocess.run(
            [soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--convert-to", "pdf",
             "--outdir", str(out), str(workbook)],
            check=True, capture_output=True, timeout=300,
        )
    pdf = out / f"{workbook.stem}.pdf"
    prefix = out / "page"
    for old in out.glob("page-*.png"):
        old.unlink()
    subprocess.run([pdftoppm, "-png", "-r", "100", str(pdf), str(prefix)], check=True, timeout=300)
    return sorted(out.glob("page-*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", default="week-2", choices=list(DUE))
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "digest-look")
    parser.add_argument("--height", type=int, default=2000, help="Screenshot height in CSS pixels.")
    args = parser.parse_args()
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = write_config(out)
    settings = load_settings(config)
    now = at(DUE[args.deadline]) + settings.notify.digest_after
    store = Store(settings.data_dir, settings.db_url, lambda: now)
    replay(store, args.deadline)
    printed = run(config, "digest", "--deadline", args.deadline, "--dry-run", "--out-dir", str(out / "digest"),
                  "--now", now.isoformat()).stdout
    html, _text, workbook = (Path(line) for line in printed.splitlines()[-3:])
    print(printed.strip())
    for width in WIDTHS:
        print(screenshot(html, out / f"digest-{args.deadline}-{width}.png", width, args.height))
    for page in print_pages(workbook, out / "print"):
        print(page)


if __name__ == "__main__":
    main()
