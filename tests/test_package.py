"""aieng's top level: quick mode, devices, seeding, threads, docstrings."""

from __future__ import annotations

import importlib
import pkgutil
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import aieng


def test_quick_mode_follows_the_environment():
    code = "import aieng; print(aieng.QUICK, aieng.quick('full', 'small'))"
    for value, expected in [("1", "True small"), ("0", "False full"), ("", "False full")]:
        out = subprocess.run([sys.executable, "-c", code], env={"AIENG_QUICK": value, "PATH": ""},
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == expected


def test_device_and_bad_device():
    assert aieng.device() in {"cpu", "cuda"}
    assert aieng.device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        aieng.device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            aieng.device("cuda")


def test_seed_everything_makes_runs_repeat():
    def draw():
        aieng.seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()


def test_every_module_has_a_docstring():
    """(Which Month a module serves, and that "Taught in Month N" is true, is checked in test_layout.py.)"""
    for info in pkgutil.walk_packages(aieng.__path__, "aieng."):
        if info.name.endswith("__main__"):
            continue  # importing it would run the command
        module = importlib.import_module(info.name)
        assert (module.__doc__ or "").strip(), f"{info.name} has no docstring"


def test_set_threads_policy(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("AIENG_THREADS", raising=False)
        assert aieng.set_threads(2) == 2
        monkeypatch.setattr(aieng, "QUICK", True)
        assert aieng.set_threads() == 1  # quick mode (the tests): one thread
        monkeypatch.setenv("AIENG_THREADS", "2")
        assert aieng.set_threads() == 2  # the environment overrides the quick-mode default
        monkeypatch.delenv("AIENG_THREADS")
        monkeypatch.setattr(aieng, "QUICK", False)
        torch.set_num_threads(2)
        assert aieng.set_threads() == 2  # outside quick mode it leaves torch's setting alone
        with pytest.raises(ValueError, match="at least 1"):
            aieng.set_threads(0)
    finally:
        torch.set_num_threads(before)
