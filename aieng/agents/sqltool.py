"""Read-only SQL for agents: one SELECT at a time, from a database the tool cannot change.

Taught in Month 9 (chapters/09-agents); the data tool of the agent lab and Month 10's sales workflow.

:class:`SQLTool` answers one SELECT at a time from an SQLite file opened read-only through a safely quoted
``file:`` URI, with an authorizer that permits only reading, bound parameters for values, and limits on value
size, row count, result bytes and time.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aieng.agents.sandbox import check_positive

__all__ = ["SQLTool", "SQLRows", "SQLRefused"]


class SQLRefused(PermissionError):
    """The SQL tool refused a statement (not a single read-only SELECT, too slow, or too large)."""


class SQLRows(list):
    """The rows of a query (a list of tuples); ``truncated`` says why rows were left off, or is ``None``."""

    truncated: str | None = None


_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}  # WITH RECURSIVE reads too
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_COMMENT = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))", re.DOTALL)


def _strip_leading_comments(sql: str) -> str:
    while True:
        m = _COMMENT.match(sql)
        if not m or not m.group(0):
            return sql.strip()
        sql = sql[m.end():]


def _sqlite_uri(path: Path) -> str:
    """``file:`` URI opening ``path`` read-only; ``#``, ``?`` and ``%`` in the path are percent-encoded."""
    return path.as_uri() + "?mode=ro"


class SQLTool:
    """Read-only, parameterised SQL over one SQLite file.

    Fences, each enough alone for the common cases: the file is opened through a ``file:`` URI with
    ``mode=ro`` (SQLite itself refuses writes; the path is percent-encoded, so a ``#`` or ``?`` in it cannot
    change the mode or the file), an authorizer allows only ``SELECT``, reading columns and calling
    functions (so ``DROP``, ``INSERT``, ``ATTACH``, ``PRAGMA`` are denied before they run, and so is
    ``load_extension``), and values travel as bound parameters, never pasted into the SQL text.

    Sizes and time are limited inside SQLite: ``SQLITE_LIMIT_LENGTH`` caps any one value (so
    ``randomblob(300_000_000)`` or ``zeroblob(10**9)`` fail at once instead of filling memory), results
    stop at ``max_rows`` rows or ``max_bytes`` bytes (``SQLRows.truncated`` says which), and a progress
    handler interrupts a query after ``timeout_s``. A single SQL function call cannot run long, because its
    input and output are capped in size.

    Parameters
    ----------
    path
        The database file (it must exist).
    max_rows
        Rows returned at most.
    timeout_s
        Seconds a query (and fetching its rows) may run.
    max_bytes
        Bytes of result at most (text and blobs by length, numbers as 8); any one value is at most a quarter.
    """

    def __init__(self, path: str | os.PathLike[str], max_rows: int = 200, timeout_s: float = 2.0,
                 max_bytes: int = 1_000_000) -> None:
        check_positive("max_rows", max_rows, integer=True)
        check_positive("timeout_s", timeout_s)
        check_positive("max_bytes", max_bytes, integer=True)
        p = Path(path).resolve()
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; the SQL tool only reads existing databases")
        self.path = p
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._conn = self._connect()
        self._conn.set_authorizer(self._authorize)
        self._deadline = 0.0
        self._conn.set_progress_handler(self._progress, 1000)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(_sqlite_uri(self.path), uri=True, check_same_thread=False)
        if hasattr(conn, "setlimit"):  # Python 3.11+
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(1000, self.max_bytes // 4))
            conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 100_000)
            conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, 64)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
        else:  # pragma: no cover - older Pythons: deny the functions that make large values from nothing
            _DENIED_FUNCTIONS.update({"randomblob", "zeroblob", "printf", "format", "replace", "char"})
        return conn

    def _authorize(self, action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def schema(self) -> str:
        """``CREATE TABLE`` statements of the database (read from the file, not through the authorizer)."""
        conn = sqlite3.connect(_sqlite_uri(self.path), uri=True)
        try:
            rows = conn.execute("SELECT sql FROM sqlite_master WHERE type='table'").fetchall()
        finally:
            conn.close()
        return "\n".join(r[0] for r in rows if r[0])

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> SQLRows:
        """Rows of one SELECT statement; raises :class:`SQLRefused` for anything else, too slow or too large."""
        if not isinstance(sql, str):
            raise SQLRefused(f"the query must be a string, got {type(sql).__name__}")
        stripped = _strip_leading_comments(sql).rstrip().rstrip(";").strip()
        if not stripped.lower().startswith(("select", "with", "values")):
            first = stripped.split()[0] if stripped.split() else "(empty)"
            raise SQLRefused(f"only SELECT queries are allowed, got {first[:40]!r}")
        rows = SQLRows()
        size = 0
        with self._lock:
            self._deadline = time.perf_counter() + self.timeout_s
            try:
                cur = self._conn.execute(stripped, params)
                for row in cur:
                    size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
                    if size > self.max_bytes:
                        rows.truncated = f"the result passed {self.max_bytes} bytes; the rest was left off"
                        break
                    if len(rows) == self.max_rows:
                        rows.truncated = f"more than {self.max_rows} rows; the rest was left off"
                        break
                    rows.append(row)
                cur.close()
            except (sqlite3.DatabaseError, sqlite3.Warning, sqlite3.InterfaceError) as exc:
                msg = str(exc)
                if "not authorized" in msg or "readonly" in msg or "prohibited" in msg:
                    raise SQLRefused(f"refused: {msg}") from None
                if "interrupted" in msg:
                    raise SQLRefused(f"refused: the query ran longer than {self.timeout_s:g} s") from None
                if "too big" in msg or "too many" in msg or "too long" in msg:
                    raise SQLRefused(f"refused: {msg} (values are capped at {max(1000, self.max_bytes // 4)} "
                                     "bytes)") from None
                if "one statement at a time" in msg:
                    raise SQLRefused("refused: one statement at a time") from None
                raise
            finally:
                self._deadline = 0.0
        return rows

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
        text = "\n".join(", ".join(map(str, r)) for r in rows) or "(no rows)"
        return f"{text}\n(truncated: {rows.truncated})" if rows.truncated else text

    def close(self) -> None:
        self._conn.close()
