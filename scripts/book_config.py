"""Write a variant of _config.yml for the test build: the same book, notebooks not executed again.

The test command has just executed every notebook under nbval, so the strict site build that follows
only checks that the book builds with zero warnings. Everything else comes from _config.yml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-execute", action="store_true", help="turn notebook execution off")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    if args.no_execute:
        config.setdefault("execute", {})["execute_notebooks"] = "off"
    # Paths in the config are relative to the book's root, wherever this file is written.
    if "logo" in config:
        config["logo"] = str(ROOT / config["logo"])
    for name, path in config.get("sphinx", {}).get("local_extensions", {}).items():
        config["sphinx"]["local_extensions"][name] = str(ROOT / path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
