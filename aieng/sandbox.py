"""The execution layer's two dangerous tools, fenced in: Python in a subprocess, and read-only SQL.

Taught in Month 9 (chapters/09-agents); the execution layer of the agent lab.

:func:`run_python` runs model-written code in a child process with

- a wall-clock timeout (the whole process group is killed), and ``RLIMIT_CPU`` CPU seconds;
- ``RLIMIT_AS`` (address space, i.e. a memory cap) and ``RLIMIT_FSIZE`` (largest file it may write);
- a fresh temporary working directory, deleted afterwards, and ``python -I`` (no user site, no ``PYTHON*``
  variables, no current directory on ``sys.path``);
- an audit hook installed before the code runs that refuses: opening a file outside the working directory
  (reads of Python's own installation excepted, so imports work), any socket, subprocesses, ``os.system``,
  ``exec*``/``spawn``/``fork``, and loading native libraries through ``ctypes``;
- when the ``unshare`` command can create namespaces, a new, empty network namespace (no interfaces but
  loopback, so no network even for code that slips past the hook).

**What it does not protect against.** Audit hooks run inside the same interpreter as the untrusted code;
they stop honest mistakes and naive attacks, not a determined attacker (CPython has known ways to reach
memory directly). For code from the internet use an OS-level sandbox: a container with seccomp, gVisor, a
Firecracker microVM, or a separate machine.

:class:`SQLTool` answers one SELECT at a time from an SQLite file opened read-only (``mode=ro`` URI), with an
authorizer that permits only reading, bound parameters for values, a row limit and a time limit.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunResult", "run_python", "SQLTool", "SQLRefused", "PathRefused", "safe_path", "has_unshare"]


class PathRefused(PermissionError):
    """A path points outside the directory a tool is confined to."""


def safe_path(root: str | os.PathLike[str], relative: str) -> Path:
    """``root / relative``, resolved, refusing anything that lands outside ``root`` (``..``, absolute, symlinks)."""
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise PathRefused(f"{relative!r} is outside the tool's directory")
    return target


@dataclass
class RunResult:
    """What a sandboxed run produced.

    Attributes
    ----------
    ok
        Exit status 0 and no limit hit.
    reason
        ``"ok"``, ``"error"`` (the code raised), ``"timeout"``, ``"cpu_limit"``, ``"memory_limit"`` or ``"refused"``
        (the audit hook blocked something).
    """

    ok: bool
    stdout: str
    stderr: str
    returncode: int | None
    reason: str
    seconds: float
    files: dict[str, str]

    def __str__(self) -> str:
        if self.ok:
            return self.stdout or "(no output)"
        tail = self.stderr.strip().splitlines()[-1:] or [""]
        return f"{self.reason}: {tail[0]}"


_PRELUDE = r'''
import os, sys
_ROOT = os.path.realpath(os.getcwd())
_READ_OK = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, '/dev/null',
                  '/dev/urandom', os.path.dirname(os.__file__))})
_BLOCK = ('socket.', 'subprocess.', 'os.system', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork',
          'os.forkpty', 'pty.', 'ctypes.dlopen', 'ctypes.dlsym', 'ctypes.cdata', 'os.kill', 'os.killpg',
          'shutil.rmtree', 'os.chdir', 'os.chroot', 'sys.setprofile', 'sys.settrace', 'webbrowser.')
def _inside(path, roots):
    try:
        p = os.path.realpath(os.fsdecode(path) if not isinstance(path, int) else '')
    except Exception:
        return False
    return any(p == r or p.startswith(r.rstrip('/') + '/') for r in roots)
def _hook(event, args):
    if event.startswith(_BLOCK):
        raise PermissionError(f'sandbox: {event} is not allowed')
    if event == 'open':
        path, mode = args[0], args[1]
        if isinstance(path, int):
            return
        writing = mode is not None and any(c in str(mode) for c in 'wax+')
        if isinstance(mode, int):
            writing = bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        roots = (_ROOT,) if writing else (_ROOT,) + _READ_OK
        if not _inside(path, roots):
            raise PermissionError(f'sandbox: access to {os.fsdecode(path)!r} is outside the working directory')
    elif event in ('os.remove', 'os.rename', 'os.rmdir', 'os.mkdir', 'os.symlink', 'os.link', 'os.chmod',
                   'os.chown', 'os.truncate', 'os.utime'):
        for a in args[:2]:
            if isinstance(a, (str, bytes, os.PathLike)) and not _inside(a, (_ROOT,)):
                raise PermissionError(f'sandbox: {event} outside the working directory')
    elif event in ('os.listdir', 'os.scandir'):
        if args and args[0] is not None and not _inside(args[0], (_ROOT,) + _READ_OK):
            raise PermissionError(f'sandbox: listing {args[0]!r} is outside the working directory')
sys.addaudithook(_hook)
del _hook
_src = open('__main__.py').read()
exec(compile(_src, '<sandbox>', 'exec'), {'__name__': '__main__'})
'''


_UNSHARE: bool | None = None


def has_unshare() -> bool:
    """True when ``unshare -rn`` can put a child in a new user + network namespace on this machine."""
    global _UNSHARE
    if _UNSHARE is None:
        exe = shutil.which("unshare")
        try:
            _UNSHARE = bool(exe) and subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=5).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _UNSHARE = False
    return _UNSHARE


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 256, cpu_s: int | None = None,
               files: Mapping[str, str] | None = None, max_output: int = 10_000, network_namespace: bool = True,
               keep_files: Sequence[str] = ()) -> RunResult:
    """Run ``code`` in a sandboxed child Python and return its output. Never raises for bad code.

    Parameters
    ----------
    code
        Python source.
    timeout_s, cpu_s
        Wall-clock seconds before the process group is killed; CPU seconds (``RLIMIT_CPU``, default
        ``ceil(timeout_s)``).
    memory_mb
        Address-space limit (``RLIMIT_AS``) in MiB; an allocation beyond it raises ``MemoryError`` in the child.
    files
        ``{relative name: text}`` written into the working directory first; a name outside it is refused.
    network_namespace
        Also run under ``unshare -rn`` (no network at the OS level) when available.
    keep_files
        Relative names of files to read back (text) after the run, e.g. a chart the code saved.
    """
    import resource

    cpu = int(cpu_s if cpu_s is not None else max(1, int(timeout_s + 0.999)))
    work = Path(tempfile.mkdtemp(prefix="aieng-sandbox-"))
    t0 = time.perf_counter()
    try:
        for name, text in (files or {}).items():
            try:
                target = safe_path(work, name)
            except PathRefused as exc:
                return RunResult(False, "", str(exc), None, "refused", 0.0, {})
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        (work / "__main__.py").write_text(code)
        (work / ".prelude.py").write_text(_PRELUDE)

        def limits() -> None:
            mem = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024, 16 * 1024 * 1024))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        cmd = [sys.executable, "-I", "-B", ".prelude.py"]
        if network_namespace and has_unshare():
            cmd = [shutil.which("unshare") or "unshare", "-rn"] + cmd
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(work), "TMPDIR": str(work),
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLCONFIGDIR": str(work)}
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, preexec_fn=limits, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        seconds = time.perf_counter() - t0
        stdout = out.decode("utf-8", "replace")[:max_output]
        stderr = err.decode("utf-8", "replace")[-max_output:]
        rc = proc.returncode
        if timed_out:
            reason = "timeout"
            stderr += f"\nsandbox: killed after {timeout_s:g} s wall-clock (timeout)"
        elif rc in (-signal.SIGXCPU, -signal.SIGKILL) and "MemoryError" not in stderr:
            reason = "cpu_limit"
            stderr += f"\nsandbox: killed after {cpu} s of CPU time"
        elif "MemoryError" in stderr:
            reason = "memory_limit"
        elif "PermissionError: sandbox:" in stderr:
            reason = "refused"
        elif rc != 0:
            reason = "error"
        else:
            reason = "ok"
        kept = {}
        for name in keep_files:
            try:
                p = safe_path(work, name)
                if p.is_file():
                    kept[name] = p.read_text(errors="replace")[:max_output]
            except PathRefused:
                pass
        return RunResult(reason == "ok", stdout, stderr, rc, reason, seconds, kept)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- SQL


class SQLRefused(PermissionError):
    """The SQL tool refused a statement (not a single read-only SELECT)."""


_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}  # WITH RECURSIVE reads too


class SQLTool:
    """Read-only, parameterised SQL over one SQLite file.

    Three fences, each enough alone for the common cases: the file is opened with ``mode=ro`` (SQLite itself
    refuses writes), an authorizer allows only ``SELECT``, reading columns and calling functions (so
    ``DROP``, ``INSERT``, ``ATTACH``, ``PRAGMA`` are denied before they run), and values travel as bound
    parameters, never pasted into the SQL text. A progress handler stops queries that run too long.

    Parameters
    ----------
    path
        The database file (it must exist).
    max_rows
        Rows returned at most.
    timeout_s
        Seconds a query may run.
    """

    def __init__(self, path: str | os.PathLike[str], max_rows: int = 200, timeout_s: float = 2.0) -> None:
        p = Path(path).resolve()
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; the SQL tool only reads existing databases")
        self.path = p
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self._conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
        self._conn.set_authorizer(self._authorize)
        self._deadline = 0.0
        self._conn.set_progress_handler(self._progress, 10_000)

    def _authorize(self, action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def schema(self) -> str:
        """``CREATE TABLE`` statements of the database (read from the file, not through the authorizer)."""
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT sql FROM sqlite_master WHERE type='table'").fetchall()
        return "\n".join(r[0] for r in rows if r[0])

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT statement; raises :class:`SQLRefused` for anything else."""
        stripped = sql.strip().rstrip(";").strip()
        if not stripped.lower().startswith(("select", "with")):
            raise SQLRefused(f"only SELECT queries are allowed, got {stripped.split()[0] if stripped else '(empty)'!r}")
        self._deadline = time.perf_counter() + self.timeout_s
        try:
            cur = self._conn.execute(stripped, params)
            return cur.fetchmany(self.max_rows)
        except sqlite3.DatabaseError as exc:
            msg = str(exc)
            if "not authorized" in msg or "readonly" in msg:
                raise SQLRefused(f"refused: {msg}") from None
            if "interrupted" in msg:
                raise SQLRefused(f"refused: the query ran longer than {self.timeout_s:g} s") from None
            if "one statement at a time" in msg:
                raise SQLRefused("refused: one statement at a time") from None
            raise
        except sqlite3.Warning as exc:  # multiple statements on older Python versions
            raise SQLRefused(f"refused: {exc}") from None

    def __call__(self, sql: str, params: list[Any] | None = None) -> str:
        """Tool form: the rows as text (``Tool.from_function(sql_tool.run)`` uses :meth:`run`)."""
        return self.run(sql, params)

    def run(self, sql: str, params: list[Any] | None = None) -> str:
        """Run one read-only SELECT on the database and return the rows, one per line.

        Parameters
        ----------
        sql
            A single SELECT statement; use ? placeholders for values.
        params
            Values for the ? placeholders, in order.
        """
        rows = self.query(sql, params or [])
        return "\n".join(", ".join(map(str, r)) for r in rows) or "(no rows)"

    def close(self) -> None:
        self._conn.close()
