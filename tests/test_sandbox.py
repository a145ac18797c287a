"""Unit tests of aieng.sandbox (Month 9): one test per refusal, plus what must still work."""

from __future__ import annotations

import sqlite3

import pytest

from aieng.sandbox import PathRefused, SQLRefused, SQLTool, has_unshare, run_python, safe_path


def test_runs_ordinary_code_and_writes_inside():
    r = run_python("open('out.txt', 'w').write('hi'); print(open('out.txt').read(), sum(range(10)))",
                   keep_files=["out.txt"])
    assert r.ok and r.stdout.split() == ["hi", "45"] and r.files == {"out.txt": "hi"}


def test_code_error_is_reported():
    r = run_python("1 / 0")
    assert not r.ok and r.reason == "error" and "ZeroDivisionError" in r.stderr


def test_refuses_reading_outside():
    r = run_python("print(open('/etc/hostname').read())")
    assert not r.ok and r.reason == "refused" and r.stdout == ""


def test_refuses_writing_outside(tmp_path):
    target = tmp_path / "escape.txt"
    r = run_python(f"open({str(target)!r}, 'w').write('x')")
    assert r.reason == "refused" and not target.exists()
    r = run_python("open('../escape.txt', 'w').write('x')")
    assert r.reason == "refused"


def test_refuses_input_file_outside():
    r = run_python("print(1)", files={"../../etc/x": "boom"})
    assert r.reason == "refused"
    with pytest.raises(PathRefused):
        safe_path("/tmp/box", "../etc/passwd")
    assert safe_path("/tmp/box", "a/b.txt").name == "b.txt"


def test_endless_loop_is_killed():
    r = run_python("while True:\n    pass", timeout_s=1.0)
    assert not r.ok and r.reason in {"timeout", "cpu_limit"} and r.seconds < 5


def test_sleep_is_killed():
    r = run_python("import time; time.sleep(60)", timeout_s=0.5)
    assert r.reason == "timeout" and r.seconds < 5


def test_memory_bomb_is_stopped():
    r = run_python("x = bytearray(4 * 1024 ** 3); print('allocated')", memory_mb=200)
    assert r.reason == "memory_limit" and "allocated" not in r.stdout


def test_no_network():
    r = run_python("import socket; socket.create_connection(('1.1.1.1', 80), timeout=1); print('connected')")
    assert r.reason == "refused" and "connected" not in r.stdout


@pytest.mark.skipif(not has_unshare(), reason="unshare cannot create namespaces here")
def test_network_namespace_has_no_interfaces():
    import subprocess
    import sys
    code = "import socket; s = socket.socket(); s.settimeout(1); s.connect(('1.1.1.1', 80)); print('connected')"
    # Without the audit hook (plain child under unshare -rn): the OS itself has no route out.
    out = subprocess.run(["unshare", "-rn", sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
    assert "connected" not in out.stdout and out.returncode != 0


def test_no_subprocess_or_shell():
    for code in ["import subprocess; subprocess.run(['ls'])", "import os; os.system('ls')",
                 "import os; os.fork()", "import os; os.execv('/bin/ls', ['ls'])"]:
        r = run_python(code)
        assert r.reason == "refused", code


def test_no_ctypes():
    r = run_python("import ctypes; print(ctypes.CDLL(None))")
    assert r.reason == "refused"


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "sales.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sales (product TEXT, month TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?)", [("a", "2024-01", 10.0), ("b", "2024-01", 5.0)])
    tool = SQLTool(path, timeout_s=0.5)
    yield tool
    tool.close()


def test_sql_select_with_parameters(db):
    assert db.query("SELECT product, amount FROM sales WHERE amount > ? ORDER BY amount DESC", [6]) == [("a", 10.0)]
    assert "a, 2024-01, 10.0" in db.run("SELECT * FROM sales")


@pytest.mark.parametrize("sql", ["DROP TABLE sales", "SELECT 1; DROP TABLE sales", "DELETE FROM sales",
                                 "INSERT INTO sales VALUES ('c', '2024-02', 1)", "ATTACH DATABASE ':memory:' AS x",
                                 "PRAGMA writable_schema = 1", "WITH x AS (SELECT 1) DELETE FROM sales"])
def test_sql_refuses_writes(db, sql):
    with pytest.raises((SQLRefused, sqlite3.DatabaseError)):
        db.query(sql)
    assert db.query("SELECT COUNT(*) FROM sales") == [(2,)]


def test_sql_injection_stays_a_value(db):
    assert db.query("SELECT * FROM sales WHERE product = ?", ["a'; DROP TABLE sales; --"]) == []
    assert db.query("SELECT COUNT(*) FROM sales") == [(2,)]


def test_sql_endless_query_is_interrupted(db):
    with pytest.raises(SQLRefused, match="longer than"):
        db.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c")
