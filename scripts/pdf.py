"""Build the book as one PDF with jupyter-book's own `pdfhtml` builder and Debian's Chromium, offline.

Usage: python scripts/pdf.py [--no-execute] [--path-output DIR]   (make pdf)

jupyter-book 1 prints its one-page HTML build to PDF with Playwright, which launches the browser it
downloads itself (`playwright install`, from a CDN: not possible offline, and jupyter-book passes no
executable path). Playwright finds its browsers under $PLAYWRIGHT_BROWSERS_PATH, so this script makes a
folder there in which the file Playwright looks for is a link to the system's Chromium
($CHROMIUM, default `chromium` on the PATH; Debian: `sudo apt-get install chromium`). Nothing is patched.

Notebook outputs come from the book's jupyter-cache, as for `make book` (same `_build`): after
`make book` nothing is executed again; without it the notebooks run in full first. `--cache DIR`
takes them from another jupyter-cache instead (after `make test`: `--cache _build/nbval-cache`, the
quick-mode outputs). `--no-execute` prints the notebooks without outputs (fast; for the layout).
The PDF is written to DIR/_build/pdf/book.pdf (DIR defaults to the repository).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def playwright_browsers(chromium: str, folder: Path) -> Path:
    """A $PLAYWRIGHT_BROWSERS_PATH whose Chromium (headless shell) is a link to ``chromium``."""
    from playwright.sync_api import sync_playwright

    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(folder)
    for _ in range(2):
        with sync_playwright() as p:
            try:
                p.chromium.launch().close()
                return folder
            except Exception as exc:  # noqa: BLE001 - Playwright names the file it looked for
                match = re.search(r"Executable doesn't exist at (\S+)", str(exc))
                if not match:
                    raise
                wanted = Path(match.group(1))
        if folder not in wanted.parents:
            raise RuntimeError(f"Playwright looks for its browser outside {folder}: {wanted}")
        wanted.parent.mkdir(parents=True, exist_ok=True)
        wanted.unlink(missing_ok=True)
        wanted.symlink_to(chromium)
    raise RuntimeError(f"Playwright could not start {chromium}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-execute", action="store_true", help="no notebook outputs (fast)")
    parser.add_argument("--cache", type=Path, help="take outputs from this jupyter-cache instead "
                        "(make test's quick-mode one: _build/nbval-cache)")
    parser.add_argument("--path-output", type=Path, default=ROOT)
    args = parser.parse_args()
    chromium = shutil.which(os.environ.get("CHROMIUM", "chromium"))
    if not chromium:
        sys.exit("make pdf needs Chromium: sudo apt-get install chromium (or set CHROMIUM=/path/to/it)")
    build = args.path_output / "_build"
    playwright_browsers(os.path.realpath(chromium), build / "pdf-browser")

    config_path = build / "_config.pdf.yml"
    command = [sys.executable, str(ROOT / "scripts" / "book_config.py"), "--out", str(config_path)]
    command += ["--no-execute"] if args.no_execute else []
    command += ["--cache", str(args.cache.resolve())] if args.cache else []
    subprocess.run(command, check=True)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["sphinx"].setdefault("local_extensions", {})["aieng_pdf"] = str(ROOT / "_ext")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([str(BIN / "jupyter-book"), "build", str(ROOT), "--builder", "pdfhtml",
                    "--config", str(config_path), "--path-output", str(args.path_output)],
                   check=True, env=env)
    pdf = build / "pdf" / "book.pdf"
    print(f"PDF: {pdf} ({pdf.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
