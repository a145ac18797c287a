"""Write a variant of _config.yml for the test build: the same book, notebooks not executed again.

The test command has just executed every notebook under nbval, and ``scripts/nbval_cache.py`` stored the
executed notebooks in a jupyter-cache. ``--cache DIR`` points the strict site build at that cache
(``execute_notebooks: cache``), so the test site holds every notebook's outputs, read from the cache, and
executes nothing; a notebook missing from the cache (``make test-site`` run alone, or a notebook edited
since) is executed by the build and added to the same cache, in the mode of the calling environment
(quick, under ``make test-site``). ``make book`` keeps its own cache (``_build/.jupyter_cache``), so the
full-mode site never shows quick-mode outputs. ``--no-execute`` turns execution off altogether.
Everything else comes from _config.yml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-execute", action="store_true", help="turn notebook execution off")
    parser.add_argument("--cache", type=Path, help="read notebook outputs from this jupyter-cache "
                        "(filled by nbval, scripts/nbval_cache.py); execute only what it lacks")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    if args.no_execute:
        config.setdefault("execute", {})["execute_notebooks"] = "off"
    elif args.cache is not None:
        config.setdefault("execute", {}).update(execute_notebooks="cache", cache=str((ROOT / args.cache).resolve()))
    # Paths in the config are relative to the book's root, wherever this file is written.
    if "logo" in config:
        config["logo"] = str(ROOT / config["logo"])
    for name, path in config.get("sphinx", {}).get("local_extensions", {}).items():
        config["sphinx"]["local_extensions"][name] = str(ROOT / path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
