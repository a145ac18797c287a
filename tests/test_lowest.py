"""The lower bounds in pyproject.toml are the versions `make lowest` verified.

`make lowest` (scripts/lowest.sh) installs every direct dependency of aieng at its declared minimum
(uv's --resolution lowest-direct, torch held at 2.13.0), runs one notebook a chapter, and records the
resolution in requirements-lowest.txt. This test, offline, keeps the record and the bounds together:
a bound raised or lowered without running `make lowest` again fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
HELD = {"torch": "2.13.0"}  # not lowered: the book's pin, installed beside the others


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lowest_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lowest.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version
    return pins


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_direct_dependency_has_a_lower_bound():
    for req in _direct_requirements():
        assert any(s.operator in (">=", "==", "~=") for s in req.specifier), f"{req} has no lower bound"


def test_lowest_record_is_at_the_declared_bounds():
    pins = _lowest_pins()
    for req in _direct_requirements():
        name = _name(req.name)
        assert name in pins, f"{req.name} is not in requirements-lowest.txt: run make lowest"
        if name in HELD:
            assert pins[name] == HELD[name]
            continue
        (low,) = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert Version(pins[name]) == low, (
            f"pyproject.toml says {req}, make lowest verified {req.name}=={pins[name]}: "
            "run make lowest and set the bound to what it verified")
