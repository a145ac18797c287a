"""Attacks on aieng.agents.sandbox (Month 9), one test per class, run as an attacker would.

Each test runs the attack and asserts two things: the sandbox refused or contained it, and nothing outside
the sandbox changed (a canary directory the code is told about, the interpreter's site-packages, the host's
temporary directories and processes). Without bubblewrap these tests fail, naming the apt command.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest

from aieng.agents import sandbox
from aieng.agents.sandbox import (
    UNSAFE,
    SandboxUnavailable,
    run_python,
    run_python_audit_hook,
    sandbox_status,
)
from aieng.agents.sqltool import SQLRefused, SQLTool


@pytest.fixture(autouse=True, scope="module")
def _needs_bubblewrap():
    ok, why = sandbox_status()
    if not ok:
        pytest.fail(f"the OS sandbox is unavailable, so the attacks cannot be tested: {why} "
                    "(CI: apt-get update && apt-get install -y bubblewrap)", pytrace=False)


MARK = f"aieng-attack-{os.getpid()}"


def _snapshot(paths):
    out = {}
    for top in paths:
        top = Path(top)
        if not top.exists():
            continue
        for p in [top, *top.iterdir()]:
            try:
                st = p.lstat()
                out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns)
            except OSError:
                pass
    return out


def _marked_processes():
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if MARK.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


SANDBOX_TEMP_PREFIXES = ("aieng-sandbox-", "aieng-unsafe-")  # what aieng.agents.sandbox creates


def _temp_dirs():
    # Only the sandbox's own names: other workers (a PostgreSQL test, say) make aieng-* folders meanwhile.
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(SANDBOX_TEMP_PREFIXES)}


@pytest.fixture()
def host(tmp_path):
    """A canary directory, and a check that nothing outside the sandbox changed."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret.txt").write_text("do not touch")
    watched = [canary, sysconfig.get_paths()["purelib"], sys.prefix, tempfile.gettempdir()]
    before, temps = _snapshot(watched), _temp_dirs()

    class Host:
        dir = canary

        @staticmethod
        def unchanged():
            assert (canary / "secret.txt").read_text() == "do not touch"
            after = _snapshot(watched)
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            # other workers share the temporary directory, and the sandbox's staging directory comes and
            # goes there (_temp_dirs checks it is gone): only the canary and our marked names count
            tmp = tempfile.gettempdir()
            changed = {k for k in changed if k != tmp and (not k.startswith(tmp + "/") or "canary" in k
                                                           or MARK in k)}
            assert not changed, f"changed outside the sandbox: {sorted(changed)}"
            assert _temp_dirs() <= temps, "a temporary directory was left behind"
            assert not _marked_processes(), "a process was left behind"

    yield Host
    for pid in _marked_processes():
        os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- the fence itself


def test_audit_hook_bypass_by_rebinding_is_contained(host, tmp_path):
    def escape(target):
        return ("import sys\nfence = sys.modules['__main__']\n"
                "fence._BLOCK, fence._ROOT, fence._READ_OK = ('-',), '/', ('/',)\n"
                f"open({str(target)!r}, 'w').write('escaped')\nprint('escaped')")
    # the lesson: the in-process fence is switched off by the code it fences
    lesson = tmp_path / "lesson"
    lesson.mkdir()
    r = run_python_audit_hook(escape(lesson / "pwned"))
    assert "escaped" in r.stdout and (lesson / "pwned").exists()
    # the OS sandbox has no such switch
    r = run_python(escape(host.dir / "pwned"))
    assert r.reason == "error" and "escaped" not in r.stdout and not (host.dir / "pwned").exists()
    host.unchanged()


def test_audit_hook_runner_still_refuses_the_naive(host):
    r = run_python_audit_hook(f"open({str(host.dir / 'x')!r}, 'w')")
    assert r.reason == "refused" and not (host.dir / "x").exists()
    host.unchanged()


def test_raw_fork_exec_runs_nothing_outside(host):
    code = f"""
import _posixsubprocess, os, sys
target = {str(host.dir / 'forked')!r}
args = [sys.executable, '-c', f'open({{target!r}}, "w").write("x")']
for exe in ('/bin/sh', sys.executable):
    try:
        r, w = os.pipe()
        pid = _posixsubprocess.fork_exec([exe] + (['-c', 'touch ' + target] if exe == '/bin/sh' else args[1:]),
            [exe.encode()], True, (), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, None, None, None,
            -1, None, False)
        print(exe, os.waitpid(pid, 0))
    except OSError as e:
        print(exe, e)
"""
    r = run_python(code)
    assert not (host.dir / "forked").exists(), r.stdout
    host.unchanged()


def test_native_extension_in_the_work_dir_is_contained(host):
    code = f"""
import ctypes, importlib.util, shutil, _json, os
shutil.copy(_json.__file__, 'evil.cpython.so')           # native code the sandbox did not ship
spec = importlib.util.spec_from_file_location('_json', 'evil.cpython.so')
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
libc = ctypes.CDLL(None)
fd = libc.open({str(host.dir / 'native').encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)
print('loaded', fd, libc.setuid(0), libc.mount(b'none', b'/mnt', b'tmpfs', 0, None))
"""
    r = run_python(code)
    assert r.ok and r.stdout.split() == ["loaded", "-1", "-1", "-1"], r.stderr
    host.unchanged()


def test_pth_file_into_site_packages_is_refused(host):
    purelib = sysconfig.get_paths()["purelib"]
    pth = Path(purelib, f"{MARK}.pth")
    code = f"""
import os
fd = os.open({str(pth)!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"import os; os.system('touch /tmp/pwned')")
"""
    r = run_python(code)
    assert r.reason == "error" and "Read-only file system" in r.stderr and not pth.exists()
    assert run_python("import sys; print(any('pwned' in m for m in sys.modules))").stdout.strip() == "False"
    host.unchanged()


def test_sqlite_cannot_write_outside(host):
    code = f"""
import sqlite3
for path in ({str(host.dir / 'x.db')!r}, {str(host.dir / 'secret.txt')!r}, 'inside.db'):
    try:
        c = sqlite3.connect(path); c.execute('CREATE TABLE t (x)'); c.commit(); print('wrote', path)
    except sqlite3.Error as e:
        print('refused', path, e)
"""
    r = run_python(code)
    assert "wrote inside.db" in r.stdout and r.stdout.count("refused") == 2, r.stdout + r.stderr
    assert not (host.dir / "x.db").exists()
    host.unchanged()


def test_mkfifo_and_setxattr_outside_fail(host):
    code = f"""
import os, sys
for name, call in [('mkfifo', lambda: os.mkfifo({str(host.dir / 'fifo')!r})),
                   ('setxattr', lambda: os.setxattr({str(host.dir / 'secret.txt')!r}, 'user.x', b'1')),
                   ('setxattr prefix', lambda: os.setxattr(sys.prefix, 'user.x', b'1')),
                   ('chmod prefix', lambda: os.chmod(sys.executable, 0o777))]:
    try:
        call(); print('did', name)
    except OSError as e:
        print('refused', name, e.errno)
"""
    r = run_python(code)
    assert "did" not in r.stdout and r.stdout.count("refused") == 4, r.stdout + r.stderr
    host.unchanged()


def test_no_metadata_of_secrets():
    code = """
import os
for p in ('/etc/shadow', '/etc/passwd', '/root/.bashrc', '/root/.ssh', '/home', '/etc/ssh',
          '/var/run/docker.sock', '/sys'):
    print(p, os.path.lexists(p), os.access(p, os.F_OK))
"""
    r = run_python(code)
    assert r.ok and all(line.split()[1:] == ["False", "False"] for line in r.stdout.splitlines()), r.stdout
    # /root exists inside only when the interpreter lives under it, and then shows only that path
    r = run_python("import os\nprint(os.listdir('/root') if os.path.isdir('/root') else [])")
    prefix = Path(os.path.realpath(sys.base_prefix)).parts
    assert all(name in prefix or name in Path(sys.prefix).parts for name in eval(r.stdout)), r.stdout


# ----------------------------------------------------------------------------- hurting the caller


def test_cannot_kill_the_parent(host):
    sentinel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARK])
    try:
        code = f"""
import os, signal
for pid in (os.getppid(), 1, {os.getpid()}, {sentinel.pid}):
    try:
        signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL); print('pidfd', pid)
    except OSError as e:
        print('no pidfd', pid, e.errno)
    try:
        os.kill(pid, signal.SIGKILL); print('kill', pid)
    except OSError as e:
        print('no kill', pid, e.errno)
os.kill(-1, signal.SIGKILL)
"""
        r = run_python(code)
        assert r.reason == "error" and sentinel.poll() is None
    finally:
        sentinel.kill()
        sentinel.wait()
    host.unchanged()


def test_grandchild_in_its_own_session_cannot_hold_the_pipe(host):
    code = f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, '-c', 'import time; print(1, flush=True); time.sleep(60)', {MARK!r}])
print('parent leaves')
"""
    t0 = time.perf_counter()
    r = run_python(code, timeout_s=1.0)
    assert time.perf_counter() - t0 < 3 and "parent leaves" in r.stdout
    # and when the code itself outlives the deadline
    t0 = time.perf_counter()
    r = run_python(code + "import time\ntime.sleep(60)", timeout_s=1.0)
    assert r.reason == "timeout" and time.perf_counter() - t0 < 3
    host.unchanged()


def test_printing_200_mb_is_cut_off_and_costs_the_parent_nothing(host):
    tracemalloc.start()
    try:
        r = run_python("import sys\nchunk = 'x' * 1_000_000\nfor _ in range(200):\n    sys.stdout.write(chunk)",
                       max_output=10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.reason == "output_limit" and len(r.stdout) == 10_000
    assert peak < 5 * 2**20, f"the parent allocated {peak / 2**20:.0f} MiB"
    r = run_python("import sys\nsys.stderr.write('e' * 50_000)")
    assert r.reason == "output_limit" and len(r.stderr) == 10_000
    host.unchanged()


def test_filling_the_disk_is_bounded(host):
    r = run_python("i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'x' * 2 ** 20); i += 1", disk_mb=8)
    assert r.reason == "output_limit"
    r = run_python("open('/tmp/big', 'wb').write(b'x' * 100 * 2 ** 20)", disk_mb=8)
    assert r.reason == "output_limit"
    host.unchanged()


def test_fork_bomb_is_bounded(host):
    r = run_python("import os\nwhile True:\n    os.fork()", timeout_s=2.0, max_processes=16)
    assert not r.ok and r.seconds < 6
    host.unchanged()


@pytest.mark.parametrize("kwargs", [{"memory_mb": -5}, {"memory_mb": 0}, {"memory_mb": 8}, {"timeout_s": 0},
                                    {"timeout_s": -1}, {"timeout_s": float("nan")}, {"timeout_s": float("inf")},
                                    {"cpu_s": 0}, {"max_output": 0}, {"memory_mb": True}, {"memory_mb": 1.5},
                                    {"files": {".": "x"}}, {"files": {"": "x"}}, {"files": {"a//b": "x"}},
                                    {"files": {"a": "\ud800"}}, {"keep_files": "out.txt"}, {"disk_mb": -1},
                                    {"max_processes": 0}, {"isolation": "none"}])
def test_bad_arguments_are_clear_errors(kwargs):
    with pytest.raises(ValueError):
        run_python("print(1)", **kwargs)


def test_lone_surrogate_in_code_is_a_clear_error():
    with pytest.raises(ValueError, match="surrogate"):
        run_python("print('\ud800')")


@pytest.mark.parametrize("code", [
    "import sys\nprint('MemoryError')\nprint('MemoryError', file=sys.stderr)\nsys.exit(1)",
    "import sys\nprint('Traceback (most recent call last):\\nMemoryError', file=sys.stderr)",
    "raise MemoryError",
    "import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)",
    ("import os, json\nfor fd in range(3, 64):\n    try:\n        os.write(fd, json.dumps({'exit': 0, 'signal': None,"
    " 'maxrss_kb': 10**9, 'cpu_s': 0, 'files': {}}).encode())\n    except OSError:\n        pass\nraise SystemExit(3)"),
])
def test_reasons_cannot_be_forged(code):
    r = run_python(code, memory_mb=256, timeout_s=5)
    assert r.reason in {"ok", "error"} and r.reason != "memory_limit", (r.reason, r.detail)
    assert "MemoryError" not in r.detail


def test_no_network_at_all(host):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        code = f"""
import socket
for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('10.0.0.1', 80)]:
    try:
        socket.create_connection(addr, timeout=1); print('connected', addr)
    except OSError as e:
        print('no', addr, e.errno)
try:
    socket.getaddrinfo('example.com', 80); print('resolved')
except OSError:
    print('no dns')
"""
        r = run_python(code)
        assert "connected" not in r.stdout and "resolved" not in r.stdout and r.stdout.count("no") == 4
    finally:
        server.close()
    host.unchanged()


def test_no_unix_sockets_outside(host):
    path = str(host.dir.parent / "s.sock")
    named, abstract = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    named.bind(path)
    abstract.bind("\0" + MARK)
    named.listen()
    abstract.listen()
    try:
        code = f"""
import socket
for addr in [{path!r}, {chr(0) + MARK!r}, '/run/dbus/system_bus_socket', '/var/run/docker.sock']:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(addr); print('connected')
    except OSError as e:
        print('no', e.errno)
"""
        r = run_python(code)
        assert r.ok and "connected" not in r.stdout and r.stdout.count("no") == 4, r.stdout + r.stderr
    finally:
        named.close()
        abstract.close()
        os.unlink(path)
    host.unchanged()


def test_nothing_left_behind_when_the_code_kills_itself_or_its_tree(host):
    spawn = (f"import os, sys, subprocess\nfor _ in range(5):\n    subprocess.Popen([sys.executable, '-c', "
             f"'import time; time.sleep(60)', {MARK!r}], start_new_session=True)\n")
    for tail in ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                 "import os, signal\nos.kill(-1, signal.SIGKILL)",
                 "import os, signal\nos.killpg(0, signal.SIGKILL)",
                 "import time\ntime.sleep(60)"]:
        r = run_python(spawn + tail, timeout_s=1.5)
        assert not r.ok and r.seconds < 5, (tail, r.reason)
        assert not _marked_processes(), tail
    host.unchanged()


def test_kept_files_cannot_point_outside_or_block(host):
    code = ("import os, sys\nos.symlink(sys.executable, 'link')\nos.mkfifo('fifo')\n"
            "open('ok.txt', 'w').write('fine')")
    r = run_python(code, keep_files=["link", "fifo", "ok.txt", "missing"], timeout_s=3)
    assert r.ok and r.files == {"ok.txt": "fine"} and r.seconds < 3
    host.unchanged()


def test_missing_bubblewrap_refuses_with_a_clear_error(monkeypatch, host):
    monkeypatch.setattr(sandbox, "BWRAP", "/nonexistent/bwrap")
    ok, why = sandbox_status()
    assert not ok and "apt-get install bubblewrap" in why
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_python("print(1)")
    # the only alternative is asked for by name, and says so
    with pytest.warns(UserWarning, match="no sandbox"):
        r = run_python("print(6 * 7)", isolation=UNSAFE)
    assert r.ok and r.stdout.strip() == "42"
    host.unchanged()


# ----------------------------------------------------------------------------- the SQL tool


@pytest.fixture()
def odd_db(tmp_path):
    decoy = tmp_path / "we"  # what "file:.../we#ird?.db?mode=ro" would have opened
    path = tmp_path / "we#ird?mode=rw.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    conn.close()
    return path, decoy


def test_sql_uri_is_quoted(odd_db):
    path, decoy = odd_db
    tool = SQLTool(path, timeout_s=1.0)
    try:
        assert tool.query("SELECT COUNT(*) FROM t") == [(10,)]
        assert "CREATE TABLE t" in tool.schema()
        with pytest.raises((SQLRefused, sqlite3.DatabaseError)):
            tool.query("INSERT INTO t VALUES (99)")
    finally:
        tool.close()
    assert not decoy.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (10,)
    conn.close()


@pytest.mark.parametrize("sql", ["SELECT randomblob(300000000)", "SELECT zeroblob(1000000000)",
                                 ("SELECT length(group_concat(b)) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION "
                                 "ALL SELECT x + 1 FROM c LIMIT 100) SELECT randomblob(100000) AS b FROM c)"),
                                 "SELECT replace(hex(zeroblob(400000)), '0', '0000000000')"])
def test_sql_blob_functions_are_capped(odd_db, sql):
    tool = SQLTool(odd_db[0], timeout_s=1.0)
    t0 = time.perf_counter()
    try:
        with pytest.raises(SQLRefused, match="too big|capped"):
            tool.query(sql)
    finally:
        tool.close()
    assert time.perf_counter() - t0 < 1.5


def test_sql_result_size_is_capped(odd_db):
    tool = SQLTool(odd_db[0], timeout_s=2.0, max_bytes=1_000_000)
    try:
        rows = tool.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) "
                          "SELECT randomblob(200000) FROM c")
        assert rows.truncated and sum(len(r[0]) for r in rows) <= 1_000_000
        assert "truncated" in tool.run("SELECT t.x FROM t, t AS u, t AS v")
    finally:
        tool.close()


def test_sql_time_limit_holds_inside_heavy_rows(odd_db):
    tool = SQLTool(odd_db[0], timeout_s=0.5)
    t0 = time.perf_counter()
    try:
        with pytest.raises(SQLRefused, match="longer than"):
            tool.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                       "SELECT sum(length(hex(randomblob(100000)))) FROM c")
    finally:
        tool.close()
    assert time.perf_counter() - t0 < 1.5


def test_sql_bad_arguments(odd_db):
    for kwargs in ({"max_rows": 0}, {"timeout_s": -1}, {"max_bytes": 0}):
        with pytest.raises(ValueError):
            SQLTool(odd_db[0], **kwargs)
