"""The leftover check: a notebook that leaves a process or a port behind fails; one that stops it passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent

# A server on a loopback port, started as a process of its own and never stopped.
LEAK = """import subprocess, sys
server = subprocess.Popen([sys.executable, "-c", "import socket, time; s = socket.socket(); "
                          "s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(300)"],
                          start_new_session=True)  # a daemon: not in the kernel's process group
print(server.pid)"""
TIDY = LEAK + "\nserver.terminate(); server.wait()"


def _notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    _notebook(tmp_path / "nb.ipynb", source)
    (tmp_path / "conftest.py").write_text(
        "from scripts.nbval_leftovers import LeftoverCheck\n\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(LeftoverCheck(), 'aieng-leftovers')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "nb.ipynb", "--nbval-lax", "--nbval-current-env",
                           "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux's")
def test_a_notebook_that_leaves_a_server_running_fails_and_the_server_is_killed(tmp_path: Path) -> None:
    run = _run(tmp_path, LEAK)
    assert run.returncode != 0, run.stdout
    assert "left 1 process(es) running" in run.stdout, run.stdout
    assert "listening on 127.0.0.1:" in run.stdout, run.stdout
    pids = [int(w) for w in run.stdout.split() if w.isdigit()]
    leaked = [pid for pid in pids if psutil.pid_exists(pid) and "socket" in " ".join(psutil.Process(pid).cmdline())]
    assert leaked == [], "the check must kill what it reports"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="child subreapers are Linux's")
def test_a_notebook_that_stops_its_server_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, TIDY)
    assert run.returncode == 0, run.stdout + run.stderr
