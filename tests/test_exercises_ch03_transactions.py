"""Each exercise of 02-transactions-and-nosql accepts a correct answer and rejects a wrong one."""

from __future__ import annotations

import random

import pytest
from psycopg import errors

from aieng.book import CheckFailed, check


def withdraw_ok(conn, account_id, amount):
    with conn.transaction():
        row = conn.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s AND balance >= %s "
                           "RETURNING balance", (amount, account_id, amount)).fetchone()
    if row is None:
        raise ValueError("cannot")
    return row[0]


def withdraw_read_then_write(conn, account_id, amount):  # loses the concurrent update
    with conn.transaction():
        row = conn.execute("SELECT balance FROM accounts WHERE id = %s", (account_id,)).fetchone()
        if row is None or row[0] < amount:
            raise ValueError("cannot")
        conn.execute("UPDATE accounts SET balance = %s WHERE id = %s", (row[0] - amount, account_id))
    return row[0] - amount


def withdraw_no_commit(conn, account_id, amount):  # leaves the transaction open
    row = conn.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s AND balance >= %s "
                       "RETURNING balance", (amount, account_id, amount)).fetchone()
    if row is None:
        raise ValueError("cannot")
    return row[0]


def retry_ok(transaction, max_attempts=5, base_delay_s=0.05, sleep=None):
    for attempt in range(1, max_attempts + 1):
        try:
            return transaction(attempt)
        except (errors.SerializationFailure, errors.DeadlockDetected):
            if attempt == max_attempts:
                raise
            sleep(random.uniform(0.0, base_delay_s * 2 ** (attempt - 1)))


def retry_no_jitter(transaction, max_attempts=5, base_delay_s=0.05, sleep=None):
    for attempt in range(1, max_attempts + 1):
        try:
            return transaction(attempt)
        except (errors.SerializationFailure, errors.DeadlockDetected):
            if attempt == max_attempts:
                raise
            sleep(base_delay_s * 2 ** (attempt - 1))


def retry_everything(transaction, max_attempts=5, base_delay_s=0.05, sleep=None):
    for attempt in range(1, max_attempts + 1):
        try:
            return transaction(attempt)
        except Exception:
            if attempt == max_attempts:
                raise
            sleep(random.uniform(0.0, base_delay_s * 2 ** (attempt - 1)))


TOP_SQL = """WITH m AS (SELECT month(date) AS month, name, sum(price) AS revenue FROM pizzas GROUP BY ALL)
SELECT month, name, revenue FROM m
QUALIFY rank() OVER (PARTITION BY month ORDER BY revenue DESC, name) <= ? ORDER BY month, revenue DESC, name"""


def top_ok(con, k):
    return con.execute(TOP_SQL, [k]).fetchall()


def top_whole_year(con, k):  # ranks over the year, not within each month
    return con.execute(TOP_SQL.replace("PARTITION BY month ", ""), [k]).fetchall()


def index_ok(conn):
    conn.execute("CREATE INDEX ON chunks ((meta->>'source'))")


def index_gin_only(conn):  # an index the query cannot use
    conn.execute("CREATE INDEX ON chunks USING gin (meta jsonb_path_ops)")


@pytest.mark.parametrize("name, answer", [
    ("03.safe_withdraw", withdraw_ok), ("03.retry_backoff", retry_ok), ("03.top_pizzas", top_ok),
    ("03.index_source", index_ok), ("03.think_atomic_update", 50), ("03.think_columnar", "B "),
])
def test_accepts(name, answer):
    assert check(name, answer, strict=True).status == "pass"


@pytest.mark.parametrize("name, answer", [
    ("03.safe_withdraw", withdraw_read_then_write), ("03.safe_withdraw", withdraw_no_commit),
    ("03.retry_backoff", retry_no_jitter), ("03.retry_backoff", retry_everything),
    ("03.top_pizzas", top_whole_year), ("03.index_source", index_gin_only),
    ("03.think_atomic_update", 80), ("03.think_columnar", "d"),
])
def test_rejects(name, answer):
    with pytest.raises(CheckFailed):
        check(name, answer, strict=True)


def test_stub_reads_as_not_attempted_without_a_server():
    def stub(conn, account_id, amount):
        raise NotImplementedError

    assert check("03.safe_withdraw", stub, strict=True).status == "not attempted"
