"""aieng.bench: the dispatcher finds every benchmark, and --json prints exactly one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from aieng.bench import benchmarks, format_generic


def test_every_benchmark_module_has_the_interface():
    found = benchmarks()
    assert "embed" in found
    for name, module in found.items():
        assert isinstance(module.HELP, str) and module.HELP, f"{name} needs a one-line HELP"
        assert callable(module.add_arguments) and callable(module.run)


def test_embed_json_is_one_object_on_stdout():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "aieng.bench", "embed", "--n", "64", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["model"] == "all-MiniLM-L6-v2" and result["n"] == 64 and result["dim"] == 384
    assert result["sentences_per_s"] > 0


def test_unknown_benchmark_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "aieng.bench", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_generic_format_nests():
    text = format_generic({"a": 1.23456, "b": {"c": "x"}})
    assert text.splitlines() == ["a: 1.235", "b:", "  c: x"]
