"""A real PostgreSQL for notebooks, tests and labs: a throwaway server, or the one ``AIENG_PG_URL`` names.

Taught in Month 3 (chapters/03-databases-and-apis); the labs use the same helper.

>>> from aieng.foundations.database import postgres
>>> with postgres() as pg:                      # doctest: +SKIP
...     with pg.connect() as conn:
...         conn.execute("select 1").fetchone()
(1,)

How the throwaway server is made
--------------------------------
The PostgreSQL 16 binaries (with pgvector) come from the ``pgserver`` pip wheel; this module runs
them itself rather than through ``pgserver``'s own server manager, so that it owns the process:

* ``initdb`` makes a fresh cluster in a new temporary folder (``aieng-pg-*``), locale ``C`` (the
  same sort order on every machine), no fsync (the data is thrown away anyway);
* ``postgres`` runs as a *child process* of Python, listening only on a Unix socket inside that
  folder: no TCP port at all unless ``tcp=True`` (then ``127.0.0.1`` on a free port);
* :meth:`Postgres.stop` (or leaving the ``with`` block, or the interpreter exiting, or the object
  being garbage-collected) shuts it down, waits for it (no zombie) and deletes the folder. On Linux
  the server also gets a *parent-death signal*: if Python is killed outright (a kernel killed with
  ``kill -9``), the kernel's death makes the server quit immediately. A folder left by such a kill (its
  ``owner.pid`` names a dead process) is removed by the next call.

PostgreSQL refuses to run as root (a server bug must not own the machine). When Python runs as root
(a container, CI), the server runs as the unprivileged system user ``pgserver`` (the name the
``pgserver`` package uses, created with ``useradd`` if missing); the temporary folder is given to
that user, and the wheel's binaries are made readable and executable by others if they are not.

``AIENG_PG_URL`` (read by :func:`aieng.settings.pg_url`) points the same code at an existing server
(a managed cloud database, a container, a cluster): nothing is started or stopped; each
:func:`postgres` gets a fresh schema (``aieng_<random>``, first on the ``search_path`` of every
connection it makes) and drops it on stop, so runs on a shared server stay apart.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from aieng import settings

__all__ = ["Postgres", "PostgresError", "postgres", "RUN_AS_USER"]

RUN_AS_USER = "pgserver"
"""The unprivileged system user the server runs as when Python runs as root."""

_PREFIX = "aieng-pg-"
_HOW_TO_POINT_ELSEWHERE = (
    "To use another PostgreSQL server instead, set AIENG_PG_URL to its URL, e.g. "
    "AIENG_PG_URL=postgresql://user:password@host:5432/dbname (a managed cloud database, a "
    "container such as `docker run -e POSTGRES_PASSWORD=pw -p 5432:5432 pgvector/pgvector:pg16`, "
    "or a cluster)."
)


class PostgresError(RuntimeError):
    """The throwaway server could not be started (the message says why and how to use another)."""


# ----------------------------------------------------------------------------- the handle


class Postgres:
    """A running PostgreSQL (throwaway or external). Make one with :func:`postgres`.

    Attributes
    ----------
    url
        ``postgresql://...`` for psycopg, SQLAlchemy (``postgresql+psycopg://...``) or DuckDB.
    external
        True when ``AIENG_PG_URL`` (or ``url=``) named an existing server.
    schema
        The fresh schema of an external server's run; ``None`` for a throwaway server.
    data_dir
        The throwaway server's temporary folder (``None`` when external).
    pid
        The throwaway server's process id (``None`` when external or stopped).
    """

    def __init__(self, url: str, *, external: bool, schema: str | None = None,
                 process: subprocess.Popen[bytes] | None = None, data_dir: Path | None = None) -> None:
        self.url = url
        self.external = external
        self.schema = schema
        self.data_dir = data_dir
        self._process = process
        self._finalizer = weakref.finalize(self, _shutdown, process, data_dir, url if external else None,
                                           schema)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return self._finalizer.alive

    def connect(self, **kwargs: Any) -> Any:
        """A new psycopg connection (``autocommit=False`` unless given): call it twice for two sessions."""
        import psycopg

        if not self.running:
            raise PostgresError("this server was stopped; start another with postgres()")
        return psycopg.connect(self.url, **kwargs)

    def run_script(self, sql: str) -> None:
        """Run a script of several SQL statements (no parameters) in one autocommit session."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        """Stop the throwaway server and delete its folder (external: drop the schema). Idempotent."""
        self._finalizer()

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = f"schema {self.schema} on AIENG_PG_URL" if self.external else f"pid {self.pid}, {self.data_dir}"
        return f"<Postgres {state}: {where}>"


def _shutdown(process: subprocess.Popen[bytes] | None, data_dir: Path | None,
              external_url: str | None, schema: str | None) -> None:
    """Stop the server (fast shutdown, then harder), reap it, delete its folder; or drop the schema."""
    if external_url is not None and schema is not None:
        try:
            import psycopg

            with psycopg.connect(external_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
        except Exception as exc:  # the server may be gone; say so rather than fail at exit
            print(f"aieng: could not drop schema {schema} on AIENG_PG_URL: {exc}", file=sys.stderr)
    if process is not None and process.poll() is None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, disconnect, exit.
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                process.send_signal(sig)
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if process is not None:
        try:
            process.wait(timeout=5)  # reap: no zombie left
        except subprocess.TimeoutExpired:
            pass
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- starting


def postgres(*, url: str | None = None, tcp: bool = False, options: dict[str, Any] | None = None,
             timeout: float = 60.0) -> Postgres:
    """Start a throwaway PostgreSQL 16 (with pgvector), or use ``url`` / ``AIENG_PG_URL``.

    Use it as a context manager (``with postgres() as pg:``) or keep the handle and call
    :meth:`Postgres.stop`; either way the server is also stopped when Python exits.

    Parameters
    ----------
    url
        An existing server's ``postgresql://`` URL; default ``AIENG_PG_URL``, else start one.
    tcp
        Also listen on ``127.0.0.1`` (a free port) for clients that cannot use a Unix socket.
    options
        Server settings for the throwaway server, e.g. ``{"max_connections": 20}`` (``postgres -c``).
    timeout
        Seconds to wait for the new server to accept connections.

    Raises
    ------
    PostgresError
        The server could not start; the message gives the reason (the server's log) and how to
        point at another server with ``AIENG_PG_URL``.
    """
    url = url or settings.pg_url()
    if url:
        return _external(url)
    return _start(tcp=tcp, options=options or {}, timeout=timeout)


def _external(url: str) -> Postgres:
    import psycopg

    schema = f"aieng_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=15) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    except psycopg.Error as exc:
        raise PostgresError(f"could not use the server named by AIENG_PG_URL ({_redact(url)}): {exc}. "
                            "Check the URL, or unset AIENG_PG_URL to start a throwaway server.") from exc
    return Postgres(_with_search_path(url, schema), external=True, schema=schema)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections put ``schema`` first on the search path (libpq's ``options``)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    option = f"-csearch_path={schema},public"
    query["options"] = f"{query['options']} {option}" if "options" in query else option
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the pgserver package (PostgreSQL binaries in a pip wheel) is not installed: "
                            "`pip install pgserver`. " + _HOW_TO_POINT_ELSEWHERE)
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise PostgresError(f"pgserver is installed but has no PostgreSQL binary at {bin_dir / 'postgres'} "
                            f"(a wheel for another platform?). " + _HOW_TO_POINT_ELSEWHERE)
    return bin_dir


def _run_as_user() -> pwd.struct_passwd | None:
    """``None`` when not root; else the unprivileged user to run the server as (created if missing)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        RUN_AS_USER], check=True, capture_output=True, text=True, timeout=30)
        return pwd.getpwnam(RUN_AS_USER)
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise PostgresError(
            f"PostgreSQL refuses to run as root, and the unprivileged user {RUN_AS_USER!r} it would run as "
            f"could not be created ({detail}). Create it (`useradd --system {RUN_AS_USER}`) or run Python "
            "as a normal user. " + _HOW_TO_POINT_ELSEWHERE) from exc


_opened: set[Path] = set()


def _open_to_others(bin_dir: Path) -> None:
    """As root: make the wheel's PostgreSQL files readable/executable by the server's user."""
    install = bin_dir.parent
    if install in _opened:
        return
    _opened.add(install)
    rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    for folder in [install, *install.parents]:  # every folder above must be traversable
        mode = folder.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            folder.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            p = Path(root) / name
            if p.stat().st_mode & rx != rx:
                p.chmod(p.stat().st_mode | rx)
        for name in files:
            p = Path(root) / name
            want = rx if os.access(p, os.X_OK) else stat.S_IRGRP | stat.S_IROTH
            if not p.is_symlink() and p.stat().st_mode & want != want:
                p.chmod(p.stat().st_mode | want)


def _reachable_by_others(folder: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in [folder, *folder.parents])


def _temp_base(as_user: pwd.struct_passwd | None) -> Path:
    base = Path(tempfile.gettempdir()).resolve()
    # A Unix socket path is at most ~107 bytes: keep ".../aieng-pg-XXXXXXXX/.s.PGSQL.NNNNN" short.
    if len(str(base)) > 60 or (as_user is not None and not _reachable_by_others(base)):
        base = Path("/tmp")
    return base


def _remove_stale(base: Path) -> None:
    """Delete folders of throwaway servers whose Python was killed (server gone, folder left)."""
    for folder in base.glob(f"{_PREFIX}*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = None
        try:
            if owner is None:  # not ours, or being made this instant: only when old
                if time.time() - folder.stat().st_mtime < 600:
                    continue
            elif _alive(owner):
                continue
            pid_file = folder / "data" / "postmaster.pid"
            if pid_file.exists() and _alive(abs(int(pid_file.read_text().split()[0]))):
                continue  # its server still runs: leave it alone
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGQUIT (immediate shutdown) when Python dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


def _start(*, tcp: bool, options: dict[str, Any], timeout: float) -> Postgres:
    bin_dir = _bin_dir()
    as_user = _run_as_user()
    if as_user is not None:
        _open_to_others(bin_dir)
    base = _temp_base(as_user)
    _remove_stale(base)
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=base))
    (folder / "owner.pid").write_text(str(os.getpid()))  # who cleans it up (see _remove_stale)
    data = folder / "data"
    log = folder / "postgres.log"
    user_kw: dict[str, Any] = {}
    if as_user is not None:
        os.chown(folder, as_user.pw_uid, as_user.pw_gid)
        user_kw = {"user": as_user.pw_uid, "group": as_user.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    try:
        done = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=timeout, **user_kw)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresError(f"initdb could not run: {exc}. " + _HOW_TO_POINT_ELSEWHERE) from exc
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresError(f"initdb failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}. "
                            + _HOW_TO_POINT_ELSEWHERE)
    port = _free_port() if tcp else 5432  # a socket-only server's port just names the socket file
    args = [str(bin_dir / "postgres"), "-D", str(data), "-k", str(folder), "-p", str(port),
            "-h", "127.0.0.1" if tcp else "", "-c", "fsync=off", "-c", "full_page_writes=off"]
    for key, value in options.items():
        args += ["-c", f"{key}={value}"]
    on_main = threading.current_thread() is threading.main_thread()
    preexec = _die_with_parent if sys.platform.startswith("linux") and on_main else None
    with open(log, "wb") as log_file:
        process = subprocess.Popen(args, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, preexec_fn=preexec, **user_kw)
    host = "127.0.0.1" if tcp else None
    url = (f"postgresql://postgres@{host}:{port}/postgres" if host
           else f"postgresql://postgres@/postgres?host={quote(str(folder), safe='/')}&port={port}")
    handle = Postgres(url, external=False, process=process, data_dir=folder)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            text = log.read_text(errors="replace").strip()[-2000:]
            handle.stop()
            raise PostgresError(f"the PostgreSQL server exited at start (exit {process.returncode}); "
                                f"its log says:\n{text}\n" + _HOW_TO_POINT_ELSEWHERE)
        if _ready(data / "postmaster.pid"):
            return handle
        if time.monotonic() > deadline:
            text = log.read_text(errors="replace").strip()[-2000:]
            handle.stop()
            raise PostgresError(f"the PostgreSQL server did not accept connections within {timeout:.0f} s; "
                                f"its log says:\n{text}\n" + _HOW_TO_POINT_ELSEWHERE)
        time.sleep(0.02)


def _ready(pid_file: Path) -> bool:
    """postmaster.pid's eighth line is the server's status; ``ready`` means it accepts connections."""
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"
