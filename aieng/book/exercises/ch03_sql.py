"""Exercises of Month 3, SQL on a real PostgreSQL (chapters/03-databases-and-apis/01-sql).

``03.longest_per_genre`` (window functions), ``03.rag_schema`` (design), ``03.one_query`` (the N+1
fix), ``03.index_speedup`` (change it and measure), ``03.think_index_cost``, ``03.think_round_trips``.

The cases run the learner's SQL on a throwaway PostgreSQL with Chinook loaded, started once per
process by :func:`aieng.foundations.database.postgres` (or on ``AIENG_PG_URL``) and stopped at exit.
Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

from aieng.book.cases import Case, exercise


@functools.lru_cache(maxsize=1)
def _chinook() -> Any:
    """One PostgreSQL with Chinook for all the checks of this process (stopped when Python exits)."""
    from aieng.data import chinook_postgres_sql
    from aieng.foundations.database import postgres

    pg = postgres()
    pg.run_script(chinook_postgres_sql())
    return pg


def _rows(sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with _chinook().connect() as conn:
        return conn.execute(sql, params).fetchall()


# --------------------------------------------------------------------------------------------
# window functions
# --------------------------------------------------------------------------------------------


def _longest_expected(k: int) -> set[tuple[str, str, int]]:
    by_genre: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for genre, track_id, name, ms in _rows("select g.name, t.track_id, t.name, t.milliseconds "
                                            "from track t join genre g using (genre_id)"):
        by_genre[genre].append((-ms, track_id, name))
    return {(genre, name, -neg_ms) for genre, items in by_genre.items()
            for neg_ms, _, name in sorted(items)[:k]}


def _judge_longest(k: int) -> Any:
    def judge(longest_per_genre: Any) -> str | None:
        sql = longest_per_genre(k)
        if not isinstance(sql, str):
            return f"longest_per_genre({k}) should return the SQL text, got {type(sql).__name__}"
        try:
            got = _rows(sql)
        except Exception as exc:  # the learner's SQL: report the server's message
            return f"PostgreSQL rejected the query: {exc}"
        if any(len(row) != 3 for row in got):
            return "each row should have three columns: genre name, track name, milliseconds"
        want = _longest_expected(k)
        if len(got) != len(want):
            return (f"with k={k} expected {len(want)} rows (k per genre, fewer when a genre has fewer "
                    f"tracks), got {len(got)}")
        if {(g, n, int(ms)) for g, n, ms in got} != want:
            return f"with k={k} the rows differ from the {k} longest tracks of each genre (ties: lower track_id first)"
        return None

    return judge


@exercise("03.longest_per_genre", hint="A window function numbers the rows inside each partition without "
          "collapsing them (the window-function section); you cannot filter on it in the same SELECT's "
          "WHERE, so number in an inner query (or a CTE) and filter outside. Break ties by track_id.")
def _longest_per_genre():
    return [Case(test=_judge_longest(1)), Case(test=_judge_longest(3))]


# --------------------------------------------------------------------------------------------
# design: a RAG application's schema
# --------------------------------------------------------------------------------------------


def _fails(conn: Any, sql: str, params: Any = None) -> bool:
    """True when ``sql`` is refused (the change is rolled back to a savepoint)."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(sql, params)
    except psycopg.Error:
        return True
    return False


def _judge_rag(rag_schema: Any) -> str | None:
    import psycopg

    ddl = rag_schema()
    if not isinstance(ddl, str):
        return "rag_schema() should return the SQL text of the CREATE statements"
    from aieng.foundations.database import postgres

    with postgres(url=_chinook().url) as pg, pg.connect() as conn:  # a fresh schema on the same server
        try:
            conn.execute("create extension if not exists vector")
            conn.execute(ddl)
        except psycopg.Error as exc:
            return f"PostgreSQL rejected the schema: {exc}"
        ok = ("insert into users (id, email) values (1, 'ada@example.com'), (2, 'bob@example.com');"
              "insert into documents (id, user_id, title) values (10, 1, 'Handbook');"
              "insert into chunks (id, document_id, position, text) values (100, 10, 0, 'hello'), "
              "(101, 10, 1, 'world');"
              "insert into embeddings (chunk_id, embedding) values (100, %s)")
        try:
            with conn.transaction():
                for statement in ok.split(";"):
                    conn.execute(statement, ("[" + ",".join(["0.1"] * 384) + "]",) if "%s" in statement else None)
        except psycopg.Error as exc:
            return f"a valid row was refused (check the column names in the exercise): {exc}"
        refused = {
            "a second user with the same email": "insert into users (id, email) values (3, 'ada@example.com')",
            "a document of a user that does not exist": "insert into documents (id, user_id, title) values (11, 99, 'x')",
            "a chunk of a document that does not exist": "insert into chunks (id, document_id, position, text) "
                                                          "values (102, 99, 0, 'x')",
            "two chunks at the same position of one document": "insert into chunks (id, document_id, position, text) "
                                                               "values (103, 10, 0, 'dup')",
            "a chunk with a negative position": "insert into chunks (id, document_id, position, text) "
                                                "values (104, 10, -1, 'x')",
            "a chunk without text": "insert into chunks (id, document_id, position, text) values (105, 10, 2, null)",
            "an embedding of the wrong dimension": "insert into embeddings (chunk_id, embedding) values (101, '[1,2,3]')",
            "a second embedding for the same chunk": "insert into embeddings (chunk_id, embedding) "
                                                     "values (100, %s)",
        }
        for what, sql in refused.items():
            params = ("[" + ",".join(["0.2"] * 384) + "]",) if "%s" in sql else None
            if not _fails(conn, sql, params):
                return f"the schema accepted {what}: add the constraint that refuses it"
        with conn.transaction():
            conn.execute("delete from documents where id = 10")
        left = conn.execute("select (select count(*) from chunks), (select count(*) from embeddings)").fetchone()
        if left != (0, 0):
            return (f"deleting a document left {left[0]} chunks and {left[1]} embeddings behind: "
                    "they should go with it")
    return None


@exercise("03.rag_schema", hint="Give each table a primary key, point each child at its parent with a "
          "foreign key, and ask what should happen to the children when the parent is deleted (the "
          "constraints section lists the five kinds of constraint). pgvector's column type takes its "
          "dimension in parentheses.")
def _rag_schema():
    return [Case(test=_judge_rag)]


# --------------------------------------------------------------------------------------------
# query optimisation: one query instead of N+1
# --------------------------------------------------------------------------------------------


class _Counting:
    """A connection stand-in that counts the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._conn.execute(*args, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("use conn.execute(...) in this exercise, so the statements can be counted")


def _judge_one_query(artist_id: int) -> Any:
    def judge(album_tracks: Any) -> str | None:
        want: dict[str, list[str]] = {}
        for title, name in _rows("select a.title, t.name from album a join track t using (album_id) "
                                 "where a.artist_id = %s order by a.title, t.track_id", (artist_id,)):
            want.setdefault(title, []).append(name)
        with _chinook().connect() as conn:
            counting = _Counting(conn)
            got = album_tracks(counting, artist_id)
        if counting.statements != 1:
            return f"album_tracks sent {counting.statements} statements for artist {artist_id}; one is enough"
        if got != want:
            return (f"for artist {artist_id} expected {len(want)} albums with their tracks in track_id "
                    f"order, got {len(got) if isinstance(got, dict) else got!r}")
        return None

    return judge


@exercise("03.one_query", hint="Let the database do the joining (the N+1 section) and group the rows in "
          "Python as they arrive, in the order the ORDER BY gives; dict.setdefault keeps it short.")
def _one_query():
    return [Case(test=_judge_one_query(22)), Case(test=_judge_one_query(90)), Case(test=_judge_one_query(1))]


# --------------------------------------------------------------------------------------------
# change it and measure: an index that makes a query fast
# --------------------------------------------------------------------------------------------

SLOW_QUERY = ("select count(*), sum(seconds) from plays "
              "where customer_id = %(customer)s and played_at >= %(since)s")
"""The query the ``03.index_speedup`` exercise must speed up."""


def _execution_ms(conn: Any, params: dict[str, Any], repeats: int = 5) -> tuple[float, str]:
    import json

    times, plan = [], ""
    for _ in range(repeats):
        (out,) = conn.execute("explain (analyze, format json) " + SLOW_QUERY, params).fetchone()
        out = out if isinstance(out, list) else json.loads(out)
        times.append(out[0]["Execution Time"])
        plan = json.dumps(out[0]["Plan"])
    return sorted(times)[len(times) // 2], plan


def _judge_index(min_speedup: float) -> Any:
    def judge(make_fast: Any) -> str | None:
        from aieng.foundations.database import postgres

        with postgres(url=_chinook().url) as pg, pg.connect(autocommit=True) as conn:
            conn.execute("create table plays as select g as id, (g::bigint * 7919) % 2000 as customer_id, "
                         "timestamptz '2024-01-01' + (g % 525600) * interval '1 minute' as played_at, "
                         "(g % 300) + 30 as seconds from generate_series(1, 300000) g")
            conn.execute("analyze plays")
            params = {"customer": 42, "since": "2024-12-01"}
            before, _ = _execution_ms(conn, params)
            make_fast(conn)
            conn.execute("analyze plays")
            after, plan = _execution_ms(conn, params)
        if "Index" not in plan:
            return "the plan after make_fast still reads the whole table (no index is used)"
        speedup = before / max(after, 1e-3)
        if speedup < min_speedup:
            return f"measured speed-up {speedup:.1f}x (before {before:.2f} ms, after {after:.2f} ms); need {min_speedup}x"
        return None

    return judge


@exercise("03.index_speedup", hint="Read the WHERE clause: which columns does it test, and with what "
          "operators (= or a range)? The indexing section's B-tree keeps rows sorted by its columns in "
          "order, so put the equality column first.")
def _index_speedup():
    return [Case(test=_judge_index(5.0))]


# --------------------------------------------------------------------------------------------
# Think!
# --------------------------------------------------------------------------------------------


def _letter(expected: str) -> Any:
    def judge(answer: Any) -> str | None:
        if not isinstance(answer, str) or answer.strip().lower() != expected:
            return f"{answer!r} is not it: reread the section and try another letter"
        return None

    return judge


@exercise("03.think_index_cost", hint="An index is a second, sorted copy of some columns, kept up to date.")
def _think_index_cost():
    return [Case(args=None, test=_letter("c"))]


@exercise("03.think_round_trips", hint="Count one query for the list, then one for each item in it.")
def _think_round_trips():
    return [Case(args=None, expected=201)]
