"""The PostgreSQL helper: a throwaway server starts, works, stops, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from aieng import settings
from aieng.foundations import database
from aieng.foundations.database import PostgresError, postgres

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the wheel's server is tested on Linux")


def _ours(data_dir: Path) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line names this server's folder."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(data_dir) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _assert_gone(data_dir: Path, pid: int, port: int | None = None) -> None:
    deadline = time.monotonic() + 10
    while (psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "server still runs"
    assert _ours(data_dir) == [], "a postgres process of ours is left"
    assert not data_dir.exists(), "the temporary folder (and its Unix socket) is left"
    if port is not None:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepts connections"


def test_starts_works_and_stops_leaving_nothing(monkeypatch):
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    with postgres() as pg:
        assert not pg.external and pg.running
        pid, data_dir = pg.pid, pg.data_dir
        assert pid is not None and data_dir is not None
        assert _ours(data_dir), "the server should be running"
        assert any(p.name.startswith(".s.PGSQL") and p.is_socket() for p in data_dir.iterdir())
        assert not [c for c in psutil.net_connections("inet") if c.pid == pid], "socket-only: no TCP port"
        a, b = pg.connect(), pg.connect()
        with a, b:
            assert a.autocommit is False
            assert a.execute("select pg_backend_pid()").fetchone() != b.execute("select pg_backend_pid()").fetchone()
            assert a.execute("select current_setting('server_version_num')::int / 10000").fetchone() == (16,)
            a.execute("create extension vector")
            assert a.execute("select '[3,4]'::vector <-> '[0,0]'::vector").fetchone() == (5.0,)
            a.commit()
        pg.run_script("create table t (x int); insert into t values (1), (2);")
        with pg.connect() as c:
            assert c.execute("select sum(x) from t").fetchone() == (3,)
    assert not pg.running and pg.pid is None
    _assert_gone(data_dir, pid)
    pg.stop()  # idempotent
    with pytest.raises(PostgresError, match="stopped"):
        pg.connect()


def test_tcp_port_is_closed_after_stop(monkeypatch):
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    pg = postgres(tcp=True)
    pid, data_dir = pg.pid, pg.data_dir
    assert pg.url.startswith("postgresql://postgres@127.0.0.1:")
    port = int(pg.url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) == 0
    with pg.connect() as c:
        assert c.execute("select 1").fetchone() == (1,)
    pg.stop()
    _assert_gone(data_dir, pid, port)


def test_a_server_that_cannot_start_says_why_and_names_aieng_pg_url(monkeypatch):
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    before = set(Path("/tmp").glob("aieng-pg-*"))
    with pytest.raises(PostgresError) as info:
        postgres(options={"shared_buffers": "a lot"})
    message = str(info.value)
    assert "shared_buffers" in message          # why: the server's own log line
    assert "AIENG_PG_URL" in message            # how to point at another server
    assert set(Path("/tmp").glob("aieng-pg-*")) <= before, "a failed start left its folder"


def test_missing_wheel_says_how_to_use_another_server(monkeypatch):
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    monkeypatch.setattr(database.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PostgresError, match="pip install pgserver.*AIENG_PG_URL"):
        postgres()


def test_aieng_pg_url_uses_an_existing_server_in_a_fresh_schema(monkeypatch):
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    with postgres() as server:
        monkeypatch.setenv("AIENG_PG_URL", server.url)
        assert settings.pg_url() == server.url
        with postgres() as one, postgres() as two:
            assert one.external and two.external and one.pid is None
            assert one.schema != two.schema
            for pg in (one, two):
                with pg.connect() as c:
                    c.execute("create table items (id int primary key)")
                    c.commit()
            with server.connect() as c:
                names = {r[0] for r in c.execute("select table_schema from information_schema.tables "
                                                 "where table_name = 'items'")}
            assert names == {one.schema, two.schema}
        with server.connect() as c:  # the schemas were dropped; the server still runs
            left = c.execute("select count(*) from information_schema.schemata "
                             "where schema_name like 'aieng_%'").fetchone()
        assert left == (0,)


def test_a_bad_aieng_pg_url_is_reported_without_its_password(monkeypatch):
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AIENG_PG_URL", f"postgresql://me:s3cret@127.0.0.1:{port}/db")
    with pytest.raises(PostgresError, match="AIENG_PG_URL") as info:
        postgres()
    assert "s3cret" not in str(info.value)
    monkeypatch.setenv("AIENG_PG_URL", "mysql://me:s3cret@host/db")
    with pytest.raises(ValueError, match="postgresql://") as bad:
        settings.pg_url()
    assert "s3cret" not in str(bad.value)


def test_server_dies_with_a_killed_python(tmp_path, monkeypatch):
    """A kernel killed outright (kill -9) must not leave its server running."""
    monkeypatch.delenv("AIENG_PG_URL", raising=False)
    script = textwrap.dedent("""
        import time
        from aieng.foundations.database import postgres
        pg = postgres()
        print(pg.pid, pg.data_dir, flush=True)
        time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        pid_text, data_dir = child.stdout.readline().split()
        assert psutil.pid_exists(int(pid_text))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while _ours(Path(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _ours(Path(data_dir)) == []
    # the folder it left is removed by the next start
    with postgres():
        assert not Path(data_dir).exists()
