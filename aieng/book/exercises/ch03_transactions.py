"""Exercises of Month 3, transactions and NoSQL (chapters/03-databases-and-apis/02-transactions-and-nosql).

``03.safe_withdraw``, ``03.retry_backoff``, ``03.top_pizzas``, ``03.index_source`` (change it and
measure), ``03.think_atomic_update``, ``03.think_columnar``.

The database exercises run against a throwaway PostgreSQL of their own
(:func:`aieng.foundations.database.postgres`, started once per process on first use and stopped
when Python exits), or the server ``AIENG_PG_URL`` names (in a fresh schema).
Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import functools
import json
import random
import statistics
import threading
from typing import Any

from aieng.book.cases import Case, exercise, same_choice

_server: Any = None
_server_lock = threading.Lock()


def _pg() -> Any:
    """The exercises' own server, started on first use (stopped at exit by the helper)."""
    global _server
    with _server_lock:
        if _server is None or not _server.running:
            from aieng.foundations.database import postgres

            _server = postgres()
        return _server


class _Untouchable:
    """Stands in for a connection to tell a stub from an answer before starting a server."""

    class Touched(Exception):
        pass

    def __getattr__(self, name: str) -> Any:
        raise _Untouchable.Touched(name)


def _raise_if_stub(answer: Any, *args: Any) -> None:
    """Re-raise NotImplementedError if ``answer`` is still the stub (it reads as "not attempted")."""
    try:
        answer(_Untouchable(), *args)
    except NotImplementedError:
        raise
    except BaseException:  # noqa: BLE001 - an attempt: it touched the connection or failed otherwise
        pass


# --------------------------------------------------------------------------------------------
# 03.safe_withdraw: a withdrawal no concurrent session can undo
# --------------------------------------------------------------------------------------------

ACCOUNTS_DDL = """
DROP TABLE IF EXISTS accounts;
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL,
                       balance int NOT NULL CHECK (balance >= 0));
INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 10);
"""


class _Meddling:
    """A connection whose first statement is followed by another session's committed withdrawal of 1.

    The other session waits at most 100 ms for a row lock; if the learner holds one, it gives up
    (that is a correct outcome: the learner's transaction was protected)."""

    def __init__(self, conn: Any, other: Any, account_id: int) -> None:
        self._conn, self._other, self._account_id = conn, other, account_id
        self.interfered = 0
        self.statements = 0

    def _after_statement(self) -> None:
        self.statements += 1
        if self.statements != 1:
            return
        import psycopg

        try:
            done = self._other.execute("UPDATE accounts SET balance = balance - 1 WHERE id = %s "
                                       "AND balance >= 1", (self._account_id,))
            self.interfered = done.rowcount
        except psycopg.errors.LockNotAvailable:
            pass  # the learner holds the row: the other session could not get in

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        cur = self._conn.execute(*args, **kwargs)
        self._after_statement()
        return cur

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return _MeddlingCursor(self._conn.cursor(*args, **kwargs), self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _MeddlingCursor:
    def __init__(self, cur: Any, owner: _Meddling) -> None:
        self._cur, self._owner = cur, owner

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._cur.execute(*args, **kwargs)
        self._owner._after_statement()
        return self

    def __enter__(self) -> _MeddlingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cur.close()

    def __iter__(self) -> Any:
        return iter(self._cur)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def _balance(pg: Any, account_id: int) -> int | None:
    with pg.connect(autocommit=True) as conn:
        row = conn.execute("SELECT balance FROM accounts WHERE id = %s", (account_id,)).fetchone()
    return None if row is None else row[0]


def _judge_withdraw(account_id: int, amount: int, should_fail: bool):
    def judge(withdraw: Any) -> str | None:
        import psycopg

        _raise_if_stub(withdraw, account_id, amount)
        pg = _pg()
        pg.run_script(ACCOUNTS_DDL)
        start = _balance(pg, account_id)
        with pg.connect() as raw, pg.connect(autocommit=True) as other:
            other.execute("SET lock_timeout = '100ms'")
            conn = _Meddling(raw, other, account_id)
            call = f"withdraw(conn, {account_id}, {amount}) with balance {start}"
            try:
                got = withdraw(conn, account_id, amount)
            except ValueError:
                if not should_fail:
                    return f"{call} raised ValueError, but the money is there"
                got = None
            else:
                if should_fail:
                    return f"{call} returned {got!r}; it should raise ValueError"
            if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                return (f"after {call} the connection is still inside a transaction "
                        f"({raw.info.transaction_status.name}): commit, or roll back on failure")
        final = _balance(pg, account_id)
        if start is None:
            return f"{call}: account {account_id} now exists" if final is not None else None
        expected = start - conn.interfered - (0 if should_fail else amount)
        if final != expected:
            lost = " (another session's withdrawal of 1, committed between your statements, was lost)"
            return (f"{call}: the balance is {final} afterwards, expected {expected}"
                    f"{lost if conn.interfered else ''}")
        if not should_fail and got != final:
            return f"{call} returned {got!r}, but the new balance is {final}"
        return None

    return judge


@exercise("03.safe_withdraw", hint="Section 2 fixed the lost update by locking; there is a third way "
          "that needs neither a lock you take yourself nor a retry: let the database do the "
          "arithmetic and the check in the same statement that changes the row. PostgreSQL's "
          "UPDATE can report the row it changed (read about RETURNING), and tells you how many rows "
          "matched. Commit on success; on failure leave no transaction open.")
def _safe_withdraw():
    return [Case(test=_judge_withdraw(1, 30, False), show="withdraw(conn, 1, 30)"),
            Case(test=_judge_withdraw(2, 30, True), show="withdraw(conn, 2, 30), bob has 10"),
            Case(test=_judge_withdraw(3, 5, True), show="withdraw(conn, 3, 5), no account 3")]


# --------------------------------------------------------------------------------------------
# 03.retry_backoff: retry serialization failures with exponential backoff and jitter
# --------------------------------------------------------------------------------------------


class _Script:
    """A transaction that raises the given exceptions in turn, then returns "committed"."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = list(failures)
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if self.failures:
            raise self.failures.pop(0)
        return "committed"


def _errors() -> Any:
    from psycopg import errors

    return errors


def _judge_retry_success(retry: Any) -> str | None:
    errors = _errors()
    script = _Script([errors.SerializationFailure("40001"), errors.DeadlockDetected("40P01")])
    sleeps: list[float] = []
    got = retry(script, max_attempts=5, base_delay_s=0.01, sleep=sleeps.append)
    if got != "committed":
        return f"a transaction that fails twice then commits: returned {got!r}, expected 'committed'"
    if script.attempts != [1, 2, 3]:
        return f"the transaction was called with attempts {script.attempts}, expected [1, 2, 3]"
    if len(sleeps) != 2:
        return f"two failures should mean two sleeps, got {len(sleeps)}: {sleeps}"
    return None


def _judge_retry_other_errors(retry: Any) -> str | None:
    script = _Script([ValueError("not a concurrency problem")])
    sleeps: list[float] = []
    try:
        retry(script, max_attempts=5, base_delay_s=0.01, sleep=sleeps.append)
    except ValueError:
        if script.attempts != [1] or sleeps:
            return "a ValueError was retried; only serialization failures and deadlocks should be"
        return None
    return "a transaction raising ValueError: the ValueError should propagate at once"


def _judge_retry_gives_up(retry: Any) -> str | None:
    errors = _errors()
    script = _Script([errors.SerializationFailure(f"40001 #{i}") for i in range(10)])
    sleeps: list[float] = []
    try:
        retry(script, max_attempts=4, base_delay_s=0.01, sleep=sleeps.append)
    except errors.SerializationFailure as exc:
        if str(exc) != "40001 #3":
            return f"after 4 attempts it raised {exc!r}; re-raise the LAST failure (40001 #3)"
        if script.attempts != [1, 2, 3, 4] or len(sleeps) != 3:
            return (f"max_attempts=4: expected 4 calls and 3 sleeps, got {len(script.attempts)} "
                    f"calls and {len(sleeps)} sleeps")
        return None
    return "a transaction that always fails: after max_attempts the last error should be raised"


def _judge_retry_backoff(retry: Any) -> str | None:
    errors = _errors()
    base, runs = 0.01, 400
    delays: dict[int, list[float]] = {1: [], 2: [], 3: []}
    for _ in range(runs):
        sleeps: list[float] = []
        retry(_Script([errors.SerializationFailure("40001")] * 3), max_attempts=5, base_delay_s=base,
              sleep=sleeps.append)
        for k, d in enumerate(sleeps, start=1):
            delays[k].append(d)
    for k, ds in delays.items():
        cap = base * 2 ** (k - 1)
        if len(ds) != runs:
            return f"expected one sleep after each of the 3 failures, got {len(ds)} sleeps at retry {k}"
        if min(ds) < 0 or max(ds) > cap + 1e-12:
            return f"sleep before retry {k} should be in [0, {cap}], got values in [{min(ds)}, {max(ds)}]"
        mean = statistics.fmean(ds)
        if not 0.4 * cap <= mean <= 0.6 * cap:
            return (f"sleeps before retry {k} average {mean:.4f} s; uniform in [0, {cap}] averages "
                    f"{cap / 2:.4f} s (full jitter)")
    return None


@exercise("03.retry_backoff", hint="Start from with_retry in section 2. Two sessions that collide and "
          "retry at once can collide again, so wait before retrying: the cap doubles with each failed "
          "attempt, and the wait is drawn at random below the cap (the 'full jitter' of the AWS "
          "Architecture Blog post linked in the further reading). A bare `raise` inside an except "
          "block re-raises the error being handled; SQLSTATE 40P01 is psycopg's "
          "errors.DeadlockDetected.")
def _retry_backoff():
    return [Case(test=_judge_retry_success), Case(test=_judge_retry_other_errors),
            Case(test=_judge_retry_gives_up), Case(test=_judge_retry_backoff)]


# --------------------------------------------------------------------------------------------
# 03.top_pizzas: a window function in DuckDB
# --------------------------------------------------------------------------------------------


def _pizza_con() -> Any:
    import duckdb

    from aieng.data import load_pizzaplace

    con = duckdb.connect()
    con.execute("CREATE TABLE pizzas AS SELECT * FROM read_csv(?, header = true, "
                "types = {'price': 'DECIMAL(6,2)', 'date': 'DATE'})", [str(load_pizzaplace())])
    return con


@functools.lru_cache(maxsize=1)
def _monthly_revenue() -> dict[tuple[int, str], float]:
    import csv

    from aieng.data import load_pizzaplace

    revenue: dict[tuple[int, str], float] = {}
    with open(load_pizzaplace(), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = (int(row["date"][5:7]), row["name"])
            revenue[key] = revenue.get(key, 0.0) + float(row["price"])
    return revenue


def _top_pizzas_reference(k: int) -> list[tuple[int, str, float]]:
    revenue = _monthly_revenue()
    out = []
    for month in sorted({m for m, _ in revenue}):
        ranked = sorted(((-round(r, 2), name) for (m, name), r in revenue.items() if m == month))
        out += [(month, name, -neg) for neg, name in ranked[:k]]
    return out


def _judge_top_pizzas(k: int):
    def judge(top_pizzas: Any) -> str | None:
        _raise_if_stub(top_pizzas, k)
        con = _pizza_con()
        try:
            got = top_pizzas(con, k)
        finally:
            con.close()
        expected = _top_pizzas_reference(k)
        got = [tuple(row) for row in got]
        if len(got) != len(expected):
            return f"top_pizzas(con, {k}) returned {len(got)} rows, expected {len(expected)} (12 months x {k})"
        for g, e in zip(got, expected):
            if (int(g[0]), g[1]) != e[:2] or abs(float(g[2]) - e[2]) > 0.006:
                return f"top_pizzas(con, {k}): got row {g}, expected {e} (rows in order, first mismatch)"
        return None

    return judge


@exercise("03.top_pizzas", hint="Rank inside each month, not over the whole year: a window function "
          "with PARTITION BY does that (the window-function section of the SQL notebook, "
          "01-sql). Aggregate first (revenue per month and name), rank in a second step (a "
          "subquery or a CTE), keep the ranks up to k, and order the rows as asked. DuckDB also has "
          "QUALIFY, a WHERE for window functions.")
def _top_pizzas():
    return [Case(test=_judge_top_pizzas(3), show="top_pizzas(con, 3)"),
            Case(test=_judge_top_pizzas(1), show="top_pizzas(con, 1)")]


# --------------------------------------------------------------------------------------------
# 03.index_source: change it and measure (an index for a JSONB key)
# --------------------------------------------------------------------------------------------

INDEX_SOURCE_ROWS = 30_000
INDEX_SOURCE_MIN_SPEEDUP = 3.0
_SOURCE_QUERY = "SELECT count(*) FROM chunks WHERE meta->>'source' = %s"


def _chunks_table(pg: Any, n: int) -> None:
    rng = random.Random(0)
    pg.run_script("DROP TABLE IF EXISTS chunks; "
                  "CREATE TABLE chunks (id bigint PRIMARY KEY, meta jsonb NOT NULL);")
    with pg.connect() as conn:
        with conn.cursor().copy("COPY chunks (id, meta) FROM STDIN") as copy:
            for i in range(n):
                meta = {"source": f"doc-{i // 10}", "lang": rng.choice(["en", "fr", "de"]),
                        "tags": rng.sample(["ml", "db", "api", "rag", "llm", "ops"], 2)}
                copy.write_row((i, json.dumps(meta)))
        conn.commit()
        conn.execute("ANALYZE chunks")
        conn.commit()


def _query_ms(conn: Any, source: str, repeats: int = 7) -> tuple[float, str]:
    plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _SOURCE_QUERY, (source,)).fetchone()[0]
    times = []
    for _ in range(repeats):
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _SOURCE_QUERY, (source,)).fetchone()[0]
        times.append(plan[0]["Execution Time"])
    return statistics.median(times), json.dumps(plan[0]["Plan"])


def _judge_index_source(index_source: Any) -> str | None:
    _raise_if_stub(index_source)
    pg = _pg()
    _chunks_table(pg, INDEX_SOURCE_ROWS)
    with pg.connect(autocommit=True) as conn:
        before_ms, _ = _query_ms(conn, "doc-1234")
        index_source(conn)
        conn.execute("ANALYZE chunks")
        after_ms, plan = _query_ms(conn, "doc-1234")
        if conn.execute(_SOURCE_QUERY, ("doc-1234",)).fetchone()[0] != 10:
            return "after index_source(conn) the query no longer finds the 10 chunks of doc-1234"
    if "Index" not in plan:
        return f"after index_source(conn) the plan uses no index: {plan[:300]}"
    speedup = before_ms / max(after_ms, 1e-3)
    if speedup < INDEX_SOURCE_MIN_SPEEDUP:
        return (f"the query took {before_ms:.2f} ms before and {after_ms:.2f} ms after: a speed-up of "
                f"{speedup:.1f}x, the target is {INDEX_SOURCE_MIN_SPEEDUP:.0f}x")
    print(f"index_source: {before_ms:.2f} ms -> {after_ms:.3f} ms, {speedup:.0f}x faster "
          f"({INDEX_SOURCE_ROWS:,} rows)")
    return None


@exercise("03.index_source", hint="A GIN index on the whole document serves containment (@>), but the "
          "planner can only use an index whose indexed thing matches what the WHERE clause compares. "
          "Here that is an expression, meta->>'source', and PostgreSQL can index an expression "
          "(documentation: 'Indexes on Expressions'); mind the extra parentheses it needs.")
def _index_source():
    return [Case(test=_judge_index_source, timeout_s=120)]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


@exercise("03.think_atomic_update", hint="The second UPDATE waits for the first one's row lock. Under "
          "READ COMMITTED, when the lock is released, does it use the balance it saw before waiting, "
          "or does it re-read the row? (PostgreSQL documentation, 'Read Committed Isolation Level'.)")
def _think_atomic_update():
    return [Case(args=None, expected=50)]


@exercise("03.think_columnar", hint="Count the bytes each engine must read: the query names three of "
          "the table's columns, and the result is a few dozen rows. How does each engine lay out a "
          "table on disk and in memory, and how many rows does each process per step?",
          compare=same_choice)
def _think_columnar():
    return [Case(args=None, expected="b")]
