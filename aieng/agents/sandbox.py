"""The execution layer's most dangerous tool, fenced in: model-written Python in an OS sandbox.

Taught in Month 9 (chapters/09-agents); the execution layer of the agent lab, the SaaS lab and Month 11's
safety chapter.

:func:`run_python` runs model-written code under **bubblewrap** (``bwrap``, Debian package ``bubblewrap``,
the sandbox Flatpak uses). The fence is the Linux kernel, not Python:

- new user, PID, network, IPC, UTS, mount and cgroup namespaces; no capabilities, no new privileges,
  no further user namespaces, a new terminal session, and killed with its parent (``--die-with-parent``);
- the filesystem is read-only and shows only what Python needs (the interpreter's prefixes, ``/usr/lib``,
  the loader's cache); ``/etc/shadow``, ``/root``, ``/home`` and site-packages' writable copies do not exist;
- the working directory ``/sandbox`` and ``/tmp`` are fresh size-limited tmpfs mounts, gone with the sandbox;
  ``/proc`` shows only the sandbox's own processes; ``/dev`` is the minimal set (null, zero, urandom, ...);
- no network at all: the network namespace has only a loopback that is down, and no socket file of the host
  is visible, so unix sockets reach nothing outside either;
- resource limits set by a small trusted *supervisor* inside the sandbox before the code starts: CPU seconds,
  address space (memory), largest file, open files, processes; the parent adds the wall clock and reads
  stdout and stderr incrementally against a byte budget, so its memory does not grow with what the child
  prints. On a timeout the sandbox's PID namespace is killed, which kills every process in it.

The reason a run ended is decided by the parent from facts the code cannot fake: its own clock and byte
counts, and the runner's wait status and kernel resource usage (``wait4``) reported by the supervisor
through a pipe the code never holds (the supervisor is a separate, non-dumpable process). Nothing is parsed
from the child's output. See :class:`RunResult` for the rules.

When bubblewrap or user namespaces are missing (macOS, Colab, some containers) :func:`run_python` refuses
with :class:`SandboxUnavailable`, saying why and what to install. ``isolation="unsafe-trusted-code-only"``
runs without the fence, for code you wrote yourself; it is never chosen for you.

:func:`run_python_audit_hook` is the first design, kept as the lesson of why a fence inside the same
Python process fails: the untrusted code can switch it off. It is **not a security boundary**.

The other dangerous tool, SQL, is fenced in :mod:`aieng.agents.sqltool`.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "check_positive",
    "UNSAFE",
    "PathRefused",
    "RunResult",
    "SandboxUnavailable",
    "has_unshare",
    "run_python",
    "run_python_audit_hook",
    "safe_path",
    "sandbox_status",
]

BWRAP = "bwrap"
"""The bubblewrap command: a name looked up on ``PATH``, or an absolute path."""

UNSAFE = "unsafe-trusted-code-only"
"""The only alternative to ``isolation="bubblewrap"``: no fence at all, for code you trust."""

INSTALL_HINT = ("Install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install "
                "bubblewrap` (Fedora). On macOS or Windows run the course in the Linux dev container or a "
                "Linux VM; on Colab or in a container without user namespaces there is no safe way to run "
                "untrusted code, so run it elsewhere, or pass isolation='unsafe-trusted-code-only' for code "
                "you wrote yourself.")

_REASONS = ("ok", "error", "timeout", "cpu_limit", "memory_limit", "output_limit", "refused")


class SandboxUnavailable(RuntimeError):
    """The OS sandbox cannot run here; the message says why and what to install."""


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
        ``reason == "ok"``: exit status 0 and no limit hit.
    stdout, stderr
        What the code printed, at most ``max_output`` bytes of each (decoded as UTF-8, errors replaced).
    returncode
        The code's exit status, ``-N`` for signal ``N``, ``None`` when it did not end by itself.
    reason
        Decided by the supervisor, never read from the output:

        - ``"ok"``: exit status 0;
        - ``"timeout"``: the wall clock ran out, the whole sandbox was killed;
        - ``"cpu_limit"``: killed by ``RLIMIT_CPU`` *and* the kernel counted that much CPU time;
        - ``"memory_limit"``: ended unsuccessfully *and* the kernel's peak resident memory of the code
          reached the limit (see :func:`run_python` for the single too-large allocation);
        - ``"output_limit"``: printed more than ``max_output`` bytes (the sandbox was stopped there), or a
          file reached the file-size limit, or the disk quota is full;
        - ``"refused"``: the request was not run (an input file name outside the working directory);
        - ``"error"``: any other unsuccessful end (an exception, a non-zero exit, a signal).
    seconds
        Wall-clock seconds.
    files
        The ``keep_files`` that exist, as text (at most ``max_output`` bytes each).
    detail
        The supervisor's own explanation of the reason (never text from the child).
    """

    ok: bool
    stdout: str
    stderr: str
    returncode: int | None
    reason: str
    seconds: float
    files: dict[str, str]
    detail: str = ""

    def __str__(self) -> str:
        if self.ok:
            return self.stdout or "(no output)"
        tail = self.stderr.strip().splitlines()[-1:] or [""]
        return f"{self.reason}: {self.detail or tail[0]}"


# ----------------------------------------------------------------------------- checking arguments


def check_positive(name: str, value: Any, integer: bool = False) -> Any:
    """``value`` when it is a positive, finite number (an integer if asked); else a ``ValueError`` naming ``name``."""
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if bad or (integer and not isinstance(value, int)) or not math.isfinite(value) or value <= 0:
        kind = "a positive integer" if integer else "a positive, finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def _utf8(what: str, text: Any) -> bytes:
    if isinstance(text, bytes):
        return text
    if not isinstance(text, str):
        raise ValueError(f"{what} must be str or bytes, got {type(text).__name__}")  # noqa: TRY004 - the issue asks for ValueError
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode text (a lone surrogate at index {exc.start}); "
                         "it cannot be written as UTF-8") from None


def _file_name(name: Any) -> str:
    """A relative name inside the working directory, checked lexically; raises ValueError or PathRefused."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a file name must be a non-empty str, got {name!r}")
    _utf8(f"file name {name!r}", name)
    if "\0" in name:
        raise ValueError(f"file name {name!r} contains a NUL byte")
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise PathRefused(f"{name!r} is outside the working directory")
    if any(p in ("", ".") for p in parts) or len(name) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise ValueError(f"{name!r} is not a plain relative file name (no '.', empty parts or trailing '/')")
    return name


# ----------------------------------------------------------------------------- the supervisor inside

# The trusted supervisor. It runs first inside the sandbox, as its own process: it makes itself
# non-dumpable (so code with the same uid can neither ptrace it nor open /proc/<pid>/fd), forks the runner,
# sets the runner's rlimits, closes the report pipe in it and execs Python on the code. Then it waits,
# kills what the code left behind (inside the PID namespace only), collects the kept files and writes one
# JSON report to the pipe the code never held.
_SUPERVISOR = r'''
import json, os, resource, signal, stat, sys, base64
report, cfg = int(sys.argv[1]), json.loads(sys.argv[2])
try:
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
except Exception:
    pass
os.set_inheritable(report, False)
pid = os.fork()
if pid == 0:
    try:
        os.chdir(cfg["cwd"])
        for name, soft, hard in cfg["limits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    finally:
        os._exit(126)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
if cfg["kill_all"]:
    try:
        os.kill(-1, signal.SIGKILL)  # every other process of the sandbox; init (pid 1) and we are spared
    except OSError:
        pass
os.chdir(cfg["cwd"])
files, big = {}, False
for name in cfg["keep"]:
    try:
        real = os.path.realpath(name)
        if not real.startswith(os.path.realpath(cfg["cwd"]) + "/"):
            continue
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                files[name] = base64.b64encode(os.read(fd, cfg["max_file"])).decode()
        finally:
            os.close(fd)
    except OSError:
        pass
seen = 0
for top in cfg["quota_dirs"]:
    try:
        dev = os.lstat(top).st_dev
    except OSError:
        continue
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(root, d)).st_dev == dev]  # not the read-only binds
        for n in names:
            seen += 1
            try:
                big = big or os.lstat(os.path.join(root, n)).st_size >= cfg["fsize"]
            except OSError:
                pass
        if seen > 20000 or big:
            break
full = False
if cfg["kill_all"]:
    for top in cfg["quota_dirs"]:
        try:
            st = os.statvfs(top)
            full = full or st.f_bavail * st.f_frsize < 65536
        except OSError:
            pass
out = {"exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
       "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
       "maxrss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime,
       "big_file": big, "disk_full": full, "files": files}
data = json.dumps(out).encode()
while data:
    data = data[os.write(report, data):]
'''


# ----------------------------------------------------------------------------- is the sandbox available?

_STATUS: dict[tuple[str, int], tuple[bool, str]] = {}
_STATUS_LOCK = threading.Lock()


def _bwrap_path() -> str | None:
    exe = BWRAP if os.path.isabs(BWRAP) else shutil.which(BWRAP)
    return exe if exe and os.access(exe, os.X_OK) else None


def sandbox_status() -> tuple[bool, str]:
    """Whether :func:`run_python` can run untrusted code here, and if not, why and what to do.

    Returns
    -------
    (available, message)
        ``message`` names the tool and the reason; when unavailable it ends with what to install.
        The answer is probed once (a real sandbox runs ``python -c pass``) and cached.
    """
    key = (BWRAP, os.geteuid())
    with _STATUS_LOCK:
        if key not in _STATUS:
            _STATUS[key] = _probe()
        return _STATUS[key]


def _probe() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, f"the sandbox needs Linux namespaces; this is {sys.platform}. {INSTALL_HINT}"
    exe = _bwrap_path()
    if exe is None:
        return False, f"bubblewrap ({BWRAP!r}) was not found or is not executable. {INSTALL_HINT}"
    try:
        r = _run_sandboxed(b"pass", {}, timeout_s=20.0, memory_mb=512, cpu_s=10, max_output=4000,
                           keep_files=(), disk_mb=4, max_processes=16, max_open_files=256, bwrap=exe)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap could not start: {exc}. {INSTALL_HINT}"
    if r.reason != "ok":
        why = (r.stderr.strip().splitlines() or [r.detail])[-1]
        return False, (f"bubblewrap is installed ({exe}) but could not create the sandbox ({why}); user "
                       "namespaces are probably disabled (sysctl kernel.unprivileged_userns_clone=1 or "
                       f"user.max_user_namespaces > 0, or a container that forbids them). {INSTALL_HINT}")
    return True, f"bubblewrap at {exe}: user, pid, network, ipc, uts and mount namespaces"


def has_unshare() -> bool:
    """True when the OS sandbox is available here (kept for old notebooks: see :func:`sandbox_status`)."""
    return sandbox_status()[0]


# ----------------------------------------------------------------------------- reading the child


class _Budgeted:
    """Reads a child's pipes without blocking, keeping at most ``cap`` bytes of each."""

    def __init__(self, fds: dict[str, int], caps: dict[str, int]) -> None:
        self.fds = dict(fds)
        self.caps = caps
        self.data = {name: bytearray() for name in fds}
        self.over: str | None = None
        for fd in self.fds.values():
            os.set_blocking(fd, False)

    def pump(self, until: float) -> None:
        """Read what is ready until ``until`` (perf_counter), all pipes close, or a cap is passed."""
        while self.fds and self.over is None:
            left = until - time.perf_counter()
            if left <= 0:
                return
            ready, _, _ = select.select(list(self.fds.values()), [], [], min(left, 0.05))
            for fd in ready:
                name = next(n for n, f in self.fds.items() if f == fd)
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    os.close(fd)
                    del self.fds[name]
                    continue
                buf, cap = self.data[name], self.caps[name]
                buf += chunk[: cap + 1 - len(buf)] if len(buf) <= cap else b""
                if len(buf) > cap:
                    del buf[cap:]
                    self.over = name
                    return
            if not ready and until - time.perf_counter() <= 0:
                return

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _kill(pid: int | None) -> None:
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _supervise(cmd: list[str], pass_fds: Sequence[int], report_r: int, info_r: int | None,
               timeout_s: float, max_output: int, report_cap: int, popen_kw: dict[str, Any],
               group_kill: bool) -> tuple[dict[str, Any], dict[str, bytes], str | None, float, int | None]:
    """Start ``cmd``, read its pipes against budgets and a deadline, kill it when needed, always reap it.

    Returns (report or {}, outputs, killed_for, seconds, returncode of cmd).
    """
    t0 = time.perf_counter()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    proc = None
    reader = None
    killed_for = None
    child_pid: int | None = None
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, pass_fds=pass_fds,
                                start_new_session=True, close_fds=True, **popen_kw)
        for fd in (out_w, err_w, *pass_fds):
            os.close(fd)
        out_w = err_w = -1
        fds = {"stdout": out_r, "stderr": err_r, "report": report_r}
        caps = {"stdout": max_output, "stderr": max_output, "report": report_cap}
        if info_r is not None:
            fds["info"], caps["info"] = info_r, 65536
        reader = _Budgeted(fds, caps)
        deadline = t0 + timeout_s
        while True:
            reader.pump(min(deadline, time.perf_counter() + 0.1))
            if child_pid is None and b"}" in reader.data.get("info", b""):
                m = re.search(rb'"child-pid":\s*(\d+)', bytes(reader.data["info"]))
                child_pid = int(m.group(1)) if m else None
            if reader.over is not None:
                killed_for = "output" if reader.over in ("stdout", "stderr") else "report"
                break
            if proc.poll() is not None and not reader.fds:
                break
            if proc.poll() is not None and "report" not in reader.fds and "stdout" not in reader.fds \
                    and "stderr" not in reader.fds:
                break
            if time.perf_counter() >= deadline:
                killed_for = "timeout"
                break
            if proc.poll() is not None:
                # bwrap is gone, so is its PID namespace; what is left in the pipes is read below
                reader.pump(time.perf_counter() + 0.5)
                break
    finally:
        if proc is not None and proc.poll() is None:
            # Killing the sandbox's init ends its PID namespace: every process in it dies with it.
            _kill(child_pid)
            if group_kill:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            _kill(proc.pid)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not kill it
                pass
        if reader is not None:
            if killed_for is None:
                reader.pump(time.perf_counter() + 0.2)  # a last look, bounded: a grandchild cannot hold us
            reader.close()
        else:
            for fd in (out_r, err_r, report_r, info_r):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
        for fd in (out_w, err_w):
            if fd >= 0:
                os.close(fd)
    seconds = time.perf_counter() - t0
    data = reader.data if reader is not None else {}
    report: dict[str, Any] = {}
    if killed_for is None and data.get("report"):
        try:
            report = json.loads(bytes(data["report"]))
        except ValueError:
            report = {}
    outputs = {k: bytes(data.get(k, b"")) for k in ("stdout", "stderr")}
    return report, outputs, killed_for, seconds, proc.returncode if proc is not None else None


def _decide(report: dict[str, Any], killed_for: str | None, timeout_s: float, cpu_s: int, memory_mb: int,
            max_output: int) -> tuple[str, int | None, str]:
    """The reason a run ended, from the supervisor's facts only. Returns (reason, returncode, detail)."""
    if killed_for == "timeout":
        return "timeout", None, f"killed after {timeout_s:g} s wall-clock (timeout); the whole sandbox was killed"
    if killed_for == "output":
        return "output_limit", None, f"printed more than {max_output} bytes; stopped there and truncated"
    if killed_for == "report" or not report:
        return "error", None, ("the sandbox's supervisor did not report (the code killed or stopped it, or "
                               "the sandbox failed to start)")
    sig, code = report.get("signal"), report.get("exit")
    rc = -int(sig) if sig else int(code) if code is not None else None
    cpu, rss = float(report.get("cpu_s", 0.0)), int(report.get("maxrss_kb", 0)) * 1024
    limit = memory_mb * 1024 * 1024
    if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= cpu_s - 0.05:
        return "cpu_limit", rc, f"killed after {cpu:.1f} s of CPU time (limit {cpu_s} s)"
    failed = rc != 0
    if failed and rss >= max(limit // 2, limit - 64 * 1024 * 1024):
        return "memory_limit", rc, f"peak memory {rss / 2**20:.0f} MiB reached the {memory_mb} MiB limit"
    if failed and (report.get("big_file") or report.get("disk_full")):
        return "output_limit", rc, "a file reached the file-size limit, or the disk quota is full"
    if not failed:
        return "ok", rc, ""
    return "error", rc, f"exit status {code}" if sig is None else f"ended by signal {sig}"


def _limits(cpu_s: int, memory_mb: int, fsize: int, max_open_files: int, max_processes: int | None) -> list:
    mem = memory_mb * 1024 * 1024
    out = [("RLIMIT_AS", mem, mem), ("RLIMIT_CPU", cpu_s, cpu_s + 1), ("RLIMIT_FSIZE", fsize, fsize),
           ("RLIMIT_CORE", 0, 0), ("RLIMIT_NOFILE", max_open_files, max_open_files)]
    if max_processes is not None:
        out.append(("RLIMIT_NPROC", max_processes, max_processes))
    return out


_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1"}


def _mounts() -> list[str]:
    """Host paths bound read-only: the interpreter's prefixes and what its shared libraries need."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    paths |= {p for p in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/usr/local/lib",
                          "/etc/ld.so.cache", "/usr/share/zoneinfo") if os.path.exists(p)}
    paths |= {p for p in ("/lib", "/lib64", "/lib32", "/libx32") if os.path.isdir(p) and not os.path.islink(p)}
    real = sorted({os.path.realpath(p) for p in paths if p and p != "/"})
    # a path inside another one is bound with it
    return [p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real)]


def _bwrap_cmd(bwrap: str, work: str, disk: int, python: str, as_root: bool, stage: str | None,
               supervisor_args: list[str]) -> tuple[list[str], list[str]]:
    """The bwrap command line; and, running as root, the (source, staging dir) binds to make first."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--uid", "65534", "--gid", "65534", "--hostname", "sandbox", "--clearenv"]
    staged: list[str] = []
    # /proc, /dev and the private /tmp first: the read-only binds that follow land on top of them, so an
    # interpreter or virtualenv that lives under /tmp (a CI checkout, say) stays visible inside.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(disk), "--tmpfs", "/tmp"]
    for i, path in enumerate(_mounts()):
        src = path
        if stage is not None:  # root runs bwrap as nobody, who may not be able to walk to the source
            src = os.path.join(stage, str(i))
            staged += [path, src]
            os.mkdir(src) if os.path.isdir(path) else open(src, "wb").close()
        args += ["--ro-bind", src, path]
    for host in ("/lib", "/lib64", "/lib32", "/libx32"):  # merged /usr: /lib -> usr/lib
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
    args += ["--size", str(disk), "--tmpfs", work, "--chdir", work]
    args += [python, "-I", "-S", "-B", "-c", _SUPERVISOR, *supervisor_args]
    return args, staged


_STAGE_SCRIPT = r'''set -e
uid=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do mount --bind -- "$1" "$2"; shift 2; n=$((n - 1)); done
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all --no-new-privs -- "$@"
'''


def _run_sandboxed(code: bytes, files: dict[str, bytes], *, timeout_s: float, memory_mb: int, cpu_s: int,
                   max_output: int, keep_files: Sequence[str], disk_mb: int, max_processes: int,
                   max_open_files: int, bwrap: str) -> RunResult:
    work = "/sandbox"
    python = sys.executable
    fsize = min(disk_mb, 64) * 1024 * 1024
    env = dict(_ENV, HOME=work, TMPDIR="/tmp", MPLCONFIGDIR="/tmp")
    cfg = {"cwd": work, "argv": [python, "-I", "-B", "__main__.py"], "env": env, "kill_all": True,
           "limits": _limits(cpu_s, memory_mb, fsize, max_open_files, max_processes),
           "keep": list(keep_files), "max_file": max_output, "fsize": fsize, "quota_dirs": [work, "/tmp"]}
    report_r, report_w = os.pipe()
    info_r, info_w = os.pipe()
    inputs: list[int] = []
    as_root = os.geteuid() == 0
    stage = tempfile.mkdtemp(prefix="aieng-sandbox-") if as_root else None
    try:
        if stage is not None:
            os.chmod(stage, 0o711)
        args, staged = _bwrap_cmd(bwrap, work, disk_mb * 1024 * 1024, python, as_root, stage,
                                  [str(report_w), json.dumps(cfg)])
        extra = ["--info-fd", str(info_w)]
        for name, data in [("__main__.py", code), *files.items()]:
            fd = os.memfd_create("aieng-input", 0)
            os.write(fd, data) if len(data) < 65536 else _write_all(fd, data)
            os.lseek(fd, 0, os.SEEK_SET)
            inputs.append(fd)
            parent = os.path.dirname(name)
            if parent:
                extra += ["--dir", f"{work}/{parent}"]
            extra += ["--file", str(fd), f"{work}/{name}"]
        # --file goes after the tmpfs is mounted; then the root itself becomes read-only
        k = args.index("--chdir")
        args = args[:k] + extra + ["--remount-ro", "/"] + args[k:]
        popen_kw: dict[str, Any] = {}
        cmd = args
        if as_root:
            unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
            if not unshare or not setpriv or not shutil.which("mount"):
                raise SandboxUnavailable("running as root, the sandbox drops to user 'nobody' with util-linux "
                                         "`unshare`, `mount` and `setpriv`; one is missing (apt-get install "
                                         "util-linux mount)")
            cmd = [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _STAGE_SCRIPT, "sh",
                   "65534", str(len(staged) // 2), *staged, *args]
        report, outs, killed_for, seconds, _ = _supervise(
            cmd, [report_w, info_w, *inputs], report_r, info_r, timeout_s, max_output,
            report_cap=64 * 1024 + 2 * max_output * (len(keep_files) + 1), popen_kw=popen_kw, group_kill=True)
        report_w = info_w = -1
        inputs = []
    finally:
        for fd in (report_w, info_w, *inputs):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return _result(report, outs, killed_for, seconds, timeout_s, cpu_s, memory_mb, max_output)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _result(report: dict[str, Any], outs: dict[str, bytes], killed_for: str | None, seconds: float,
            timeout_s: float, cpu_s: int, memory_mb: int, max_output: int) -> RunResult:
    reason, rc, detail = _decide(report, killed_for, timeout_s, cpu_s, memory_mb, max_output)
    files = {name: base64.b64decode(b).decode("utf-8", "replace")
             for name, b in (report.get("files") or {}).items() if isinstance(b, str)}
    return RunResult(reason == "ok", outs["stdout"].decode("utf-8", "replace"),
                     outs["stderr"].decode("utf-8", "replace"), rc, reason, seconds, files, detail)


def _run_on_host(code: bytes, files: dict[str, bytes], *, timeout_s: float, memory_mb: int, cpu_s: int,
                 max_output: int, keep_files: Sequence[str], max_open_files: int,
                 prelude: str | None = None) -> RunResult:
    """No OS fence: a child Python in a temporary directory with rlimits, a deadline and output budgets."""
    work = tempfile.mkdtemp(prefix="aieng-unsafe-")
    try:
        for name, data in [("__main__.py", code), *files.items()]:
            target = Path(work, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        argv = [sys.executable, "-I", "-B", "__main__.py"]
        if prelude is not None:
            Path(work, ".prelude.py").write_text(prelude)
            argv = [sys.executable, "-I", "-B", ".prelude.py"]
        fsize = 16 * 1024 * 1024
        env = dict(_ENV, HOME=work, TMPDIR=work, MPLCONFIGDIR=work)
        cfg = {"cwd": work, "argv": argv, "env": env, "kill_all": False,
               "limits": _limits(cpu_s, memory_mb, fsize, max_open_files, None), "keep": list(keep_files),
               "max_file": max_output, "fsize": fsize, "quota_dirs": [work]}
        report_r, report_w = os.pipe()
        cmd = [sys.executable, "-I", "-S", "-B", "-c", _SUPERVISOR, str(report_w), json.dumps(cfg)]
        report, outs, killed_for, seconds, _ = _supervise(
            cmd, [report_w], report_r, None, timeout_s, max_output,
            report_cap=64 * 1024 + 2 * max_output * (len(keep_files) + 1), popen_kw={"cwd": work},
            group_kill=True)
        return _result(report, outs, killed_for, seconds, timeout_s, cpu_s, memory_mb, max_output)
    finally:
        _rmtree(work)


def _rmtree(path: str) -> None:
    def fix(func: Any, p: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=fix)


def _check_run_args(code: Any, timeout_s: Any, memory_mb: Any, cpu_s: Any, files: Any, max_output: Any,
                    keep_files: Any, disk_mb: Any, max_processes: Any, max_open_files: Any,
                    ) -> tuple[bytes, dict[str, bytes], int]:
    code_b = _utf8("code", code)
    check_positive("timeout_s", timeout_s)
    check_positive("memory_mb", memory_mb, integer=True)
    if memory_mb < 32:
        raise ValueError(f"memory_mb must be at least 32 (Python itself needs about 20 MiB), got {memory_mb}")
    cpu = int(cpu_s if cpu_s is not None else max(1, math.ceil(timeout_s)))
    if cpu_s is not None:
        check_positive("cpu_s", cpu_s, integer=True)
    for name, value in (("max_output", max_output), ("disk_mb", disk_mb), ("max_processes", max_processes),
                        ("max_open_files", max_open_files)):
        check_positive(name, value, integer=True)
    if max_open_files < 16:
        raise ValueError(f"max_open_files must be at least 16, got {max_open_files}")
    if files is not None and not isinstance(files, Mapping):
        raise ValueError(f"files must be a mapping {{name: text}}, got {type(files).__name__}")
    checked: dict[str, bytes] = {}
    for name, text in (files or {}).items():
        if _file_name(name) == "__main__.py":
            raise ValueError("'__main__.py' is where the code goes; pick another file name")
        checked[name] = _utf8(f"files[{name!r}]", text)
    if isinstance(keep_files, (str, bytes)):
        raise ValueError("keep_files must be a sequence of names, not a single string")  # noqa: TRY004
    for name in keep_files:
        _file_name(name)
    return code_b, checked, cpu


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 256, cpu_s: int | None = None,
               files: Mapping[str, str] | None = None, max_output: int = 10_000,
               keep_files: Sequence[str] = (), *, disk_mb: int = 32, max_processes: int = 32,
               max_open_files: int = 256, isolation: str = "bubblewrap") -> RunResult:
    """Run untrusted ``code`` in an OS sandbox and return what happened. Never raises for bad code.

    Parameters
    ----------
    code
        Python source (str, or UTF-8 bytes). It runs as ``/sandbox/__main__.py``.
    timeout_s
        Wall-clock seconds; then the whole sandbox (every process in it) is killed: ``"timeout"``.
    memory_mb
        Address-space limit (``RLIMIT_AS``) in MiB, at least 32. An allocation beyond it fails in the child.
    cpu_s
        CPU seconds (``RLIMIT_CPU``), default ``ceil(timeout_s)``.
    files
        ``{relative name: text}`` copied into the working directory first. A name that leaves it is refused
        (reason ``"refused"``); a malformed name (``"."``, empty, ``a//b``) raises ``ValueError``.
    max_output
        Bytes of stdout and of stderr the parent keeps. One byte more and the sandbox is stopped:
        ``"output_limit"``. Also the most read back from each kept file.
    keep_files
        Relative names of files to read back as text after the run (e.g. a chart the code saved).
    disk_mb
        Size of each writable tmpfs (``/sandbox`` and ``/tmp``); the largest file is ``min(disk_mb, 64)``.
    max_processes, max_open_files
        ``RLIMIT_NPROC`` (processes of the sandbox's user) and ``RLIMIT_NOFILE``.
    isolation
        ``"bubblewrap"`` (the default and the only safe choice) or ``"unsafe-trusted-code-only"``
        (:data:`UNSAFE`): a plain child process with the same limits and no fence, for code you wrote.

    Returns
    -------
    RunResult
        Its ``reason`` comes from the supervisor (see :class:`RunResult`).

    Raises
    ------
    SandboxUnavailable
        ``bwrap`` is missing or cannot create namespaces here; the message says what to install.
    ValueError
        Bad arguments: limits that are not positive, ``memory_mb < 32``, code or file text that is not valid
        Unicode (lone surrogates), malformed file names.

    Notes
    -----
    ``"memory_limit"`` needs evidence from the kernel: the run failed *and* its peak resident memory
    (``ru_maxrss``) reached ``max(limit / 2, limit - 64 MiB)``. A single request far beyond the limit
    (``bytearray(8 * 1024**3)``) is refused by the kernel before any memory is used, so there is no such
    evidence: the child sees ``MemoryError`` and the reason is ``"error"``. Printing "MemoryError" or
    raising it proves nothing, and changes nothing.
    """
    if isolation not in ("bubblewrap", UNSAFE):
        raise ValueError(f"isolation must be 'bubblewrap' or {UNSAFE!r}, got {isolation!r}")
    try:
        code_b, checked, cpu = _check_run_args(code, timeout_s, memory_mb, cpu_s, files, max_output,
                                               keep_files, disk_mb, max_processes, max_open_files)
    except PathRefused as exc:  # a name that leaves the directory: a refusal, as an agent may write one
        return _refused(exc)
    if isolation == UNSAFE:
        warnings.warn("run_python(isolation='unsafe-trusted-code-only'): the code runs with no sandbox, as you",
                      stacklevel=2)
        return _run_on_host(code_b, checked, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu,
                            max_output=max_output, keep_files=keep_files, max_open_files=max_open_files)
    ok, why = sandbox_status()
    if not ok:
        raise SandboxUnavailable(f"run_python refuses to run untrusted code without an OS sandbox: {why}")
    return _run_sandboxed(code_b, checked, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu,
                          max_output=max_output, keep_files=keep_files, disk_mb=disk_mb,
                          max_processes=max_processes, max_open_files=max_open_files, bwrap=_bwrap_path() or BWRAP)


def _refused(exc: Exception) -> RunResult:
    return RunResult(False, "", str(exc), None, "refused", 0.0, {}, str(exc))


# ----------------------------------------------------------------------------- the lesson: an in-process fence

_AUDIT_PRELUDE = r'''
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


def run_python_audit_hook(code: str, timeout_s: float = 5.0, memory_mb: int = 256, cpu_s: int | None = None,
                          files: Mapping[str, str] | None = None, max_output: int = 10_000,
                          keep_files: Sequence[str] = ()) -> RunResult:
    """The first design, kept for the Month 9 lesson: a PEP 578 audit hook as the fence. NOT A SECURITY BOUNDARY.

    The code runs in a child Python on the host (a temporary directory, rlimits, a deadline, output
    budgets, like :func:`run_python` with ``isolation="unsafe-trusted-code-only"``) after an audit hook that
    raises ``PermissionError("sandbox: ...")`` for opening files outside the directory, sockets,
    subprocesses, ``exec``/``fork`` and ``ctypes``. It stops honest mistakes and naive attacks. It does not
    stop an attacker, because the hook lives in the same process as the code it judges. PEP 578 says so:
    audit hooks are for monitoring, not isolation. One escape: the hook reads its settings from the
    prelude's module globals, and that module is ``sys.modules["__main__"]``::

        import sys
        fence = sys.modules["__main__"]
        fence._BLOCK, fence._ROOT, fence._READ_OK = ("-",), "/", ("/",)
        import subprocess
        print(subprocess.run(["id"], capture_output=True, text=True).stdout)   # runs: the fence is off

    Others: ``_posixsubprocess.fork_exec`` (no audit event), a native extension written to the directory
    and imported, ``os.open`` with write flags on a "readable" path, ``sqlite3.connect`` anywhere.

    Returns
    -------
    RunResult
        As :func:`run_python`, plus ``"refused"`` when the child's stderr contains
        ``PermissionError: sandbox:``. That reason is parsed from the child's own output, so the child can
        forge it: a second lesson. Use :func:`run_python` for anything that matters.
    """
    try:
        code_b, checked, cpu = _check_run_args(code, timeout_s, memory_mb, cpu_s, files, max_output, keep_files,
                                               32, 32, 256)
    except PathRefused as exc:
        return _refused(exc)
    r = _run_on_host(code_b, checked, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu,
                     max_output=max_output, keep_files=keep_files, max_open_files=256, prelude=_AUDIT_PRELUDE)
    if r.reason == "error" and "PermissionError: sandbox:" in r.stderr:  # forgeable: the lesson
        r.reason, r.detail = "refused", "the audit hook refused an operation (as reported by the child)"
    elif r.reason == "error" and "MemoryError" in r.stderr:  # forgeable too
        r.reason = "memory_limit"
    return r
