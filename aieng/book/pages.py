"""The book's own structure: chapter front matter and the syllabus built from it.

Used by the site build (``_ext/aieng_book.py`` renders the syllabus) and by the structure tests,
so what a chapter declares in its ``index.md`` front matter is typed once and read everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FRONT_MATTER_KEYS", "front_matter", "Month", "syllabus", "book_root", "toc_files"]

FRONT_MATTER_KEYS = {"month": int, "title": str, "time_hours": (int, float), "prerequisites": list,
                     "objectives": list, "builds": str}
"""Keys every chapter ``index.md`` front matter must have, with their types."""


def book_root() -> Path:
    """The repository root (the folder holding ``_toc.yml``)."""
    here = Path(__file__).resolve().parents[2]
    return here


def front_matter(path: str | Path) -> dict[str, Any]:
    """The YAML front matter of a Markdown file (``{}`` when it has none)."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        raise ValueError(f"{path}: front matter opened with '---' is never closed")
    data = yaml.safe_load(text[3:end]) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: front matter is not a mapping")
    return data


@dataclass
class Month:
    """One row of the syllabus."""

    month: int
    slug: str
    title: str
    time_hours: float
    builds: str
    ready: bool
    objectives: list[str] = field(default_factory=list)
    prerequisites: list[str] = field(default_factory=list)

    @property
    def hours_per_week(self) -> float:
        """Hours a week over a month of about four and a third weeks, rounded to the half hour."""
        return round(self.time_hours / 4.33 * 2) / 2

    @property
    def docname(self) -> str:
        return f"chapters/{self.slug}/index"


def syllabus(root: str | Path | None = None) -> list[Month]:
    """The twelve months: written ones from their front matter, the rest from ``chapters/syllabus.yml``."""
    root = Path(root) if root else book_root()
    plan = yaml.safe_load((root / "chapters" / "syllabus.yml").read_text(encoding="utf-8"))["months"]
    months = []
    for entry in plan:
        index = root / "chapters" / entry["slug"] / "index.md"
        if index.is_file():
            fm = front_matter(index)
            months.append(Month(fm["month"], entry["slug"], fm["title"], fm["time_hours"], fm["builds"], True,
                                list(fm.get("objectives", [])), list(fm.get("prerequisites", []))))
        else:
            months.append(Month(entry["month"], entry["slug"], entry["title"], entry["time_hours"],
                                entry["builds"], False))
    return months


def toc_files(root: str | Path | None = None) -> list[str]:
    """Every page ``_toc.yml`` lists, in reading order, as written there (no suffix): root, parts, sections."""
    toc = yaml.safe_load((Path(root) if root is not None else book_root()).joinpath("_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict[str, Any]] | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files
