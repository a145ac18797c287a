"""A notebook must stop every process it starts: fail the notebook that leaves one (or its port) behind.

Loaded by the root ``conftest.py`` for every pytest run; it acts only on nbval's notebook items.

How it sees every process a notebook started, however it was started: before the first notebook runs,
this pytest process becomes a Linux *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``). A process whose
parent exits is then re-parented to this process instead of to PID 1, so everything a notebook's kernel
started (a uvicorn worker, PostgreSQL daemonised by ``pg_ctl``, a Prometheus server, an MCP server) stays in
this process's tree even after the kernel is gone. When nbval has stopped a notebook's kernel, whatever is
still in the tree after a grace period is a leftover: the notebook's last cell fails with each leftover's
pid, command line and listening ports, and the leftovers are killed so the next notebook starts clean.

With pytest-xdist each worker is its own subreaper and runs its notebooks one at a time (``--dist
loadfile``), so a leftover is charged to the notebook that made it.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Iterator

import pytest

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 10.0  # how long a stopping service may take to exit after the kernel is gone


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _reap_zombies(procs: list) -> None:
    import psutil

    for p in procs:
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(p.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError, OSError):
            pass


def living_descendants(exclude: set[int] | frozenset[int] = frozenset()) -> list:
    """This process's descendants that are alive (zombies are reaped, not counted)."""
    import psutil

    procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in exclude]
    _reap_zombies(procs)
    alive = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            pass
    return alive


def describe(p) -> str:
    """``pid 123: cmd line (listening on 127.0.0.1:8000)`` for one process."""
    import psutil

    try:
        cmd = " ".join(p.cmdline())[:160] or p.name()
        ports = sorted({f"{c.laddr.ip}:{c.laddr.port}" for c in p.net_connections(kind="inet")
                        if c.status == psutil.CONN_LISTEN})
    except psutil.Error:
        return f"pid {p.pid} (gone while being described)"
    listening = f" (listening on {', '.join(ports)})" if ports else ""
    return f"pid {p.pid}: {cmd}{listening}"


def leftovers(before: set[int], grace_s: float = GRACE_S) -> list:
    """Descendants not in ``before`` still alive after ``grace_s`` seconds."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = living_descendants(exclude=before)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def kill_all(procs: list) -> None:
    """SIGKILL each process and reap it."""
    import psutil

    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    _reap_zombies(procs)


class LeftoverCheck:
    """The pytest plugin: remembers the tree before each notebook and checks it after."""

    def __init__(self) -> None:
        self.enabled: bool | None = None
        self.before: dict[str, set[int]] = {}

    @staticmethod
    def _notebook(item: pytest.Item) -> pytest.Collector | None:
        parent = item.parent
        if getattr(item, "cell_num", None) is None or not hasattr(parent, "nb"):
            return None
        return parent

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        nb = self._notebook(item)
        if nb is None or nb.nodeid in self.before:
            return
        if self.enabled is None:
            self.enabled = become_subreaper()
        if self.enabled:
            self.before[nb.nodeid] = {p.pid for p in living_descendants()}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        result = yield
        nb = self._notebook(item)
        if nb is None or nb.nodeid not in self.before:
            return result
        if nextitem is not None and nextitem.parent is nb:
            return result  # the kernel is still running: not this notebook's end yet
        left = leftovers(self.before.pop(nb.nodeid))
        if left:
            lines = "\n".join(f"  - {describe(p)}" for p in left)
            kill_all(left)
            raise RuntimeError(
                f"{nb.path.name} left {len(left)} process(es) running after its kernel stopped "
                f"(now killed):\n{lines}\nStop every service the notebook starts (a `with` block, or "
                f"`try/finally` that calls its stop method)."
            )
        return result
