"""Each Month 3 SQL exercise accepts a correct reference answer and rejects a wrong one."""

from __future__ import annotations

import sys

import pytest

from aieng.book import CheckFailed, check

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the wheel's server is tested on Linux")


def ok(name, answer):
    assert check(name, answer, strict=True, quiet=True).status == "pass"


def bad(name, answer):
    with pytest.raises(CheckFailed):
        check(name, answer, strict=True, quiet=True)


def longest(k):
    return f"""with r as (select g.name, t.name as track, t.milliseconds,
        row_number() over (partition by t.genre_id order by t.milliseconds desc, t.track_id) n
        from track t join genre g using (genre_id))
        select name, track, milliseconds from r where n <= {int(k)}"""


RAG = """
create table users (id bigint primary key, email text not null unique);
create table documents (id bigint primary key, user_id bigint not null references users on delete cascade,
                        title text not null);
create table chunks (id bigint primary key, document_id bigint not null references documents on delete cascade,
                     position int not null check (position >= 0), text text not null, unique (document_id, position));
create table embeddings (chunk_id bigint primary key references chunks on delete cascade,
                         embedding vector(384) not null);
"""


def album_tracks(conn, artist_id):
    out = {}
    for title, name in conn.execute("select a.title, t.name from album a join track t using (album_id) "
                                    "where a.artist_id = %s order by a.title, t.track_id", (artist_id,)):
        out.setdefault(title, []).append(name)
    return out


def album_tracks_n_plus_one(conn, artist_id):
    out = {}
    for album_id, title in conn.execute("select album_id, title from album where artist_id = %s", (artist_id,)).fetchall():
        out[title] = [n for (n,) in conn.execute("select name from track where album_id = %s order by track_id",
                                                 (album_id,))]
    return {t: v for t, v in out.items() if v}


def test_longest_per_genre():
    ok("03.longest_per_genre", longest)
    bad("03.longest_per_genre", lambda k: longest(k).replace("desc", "asc"))           # the shortest
    bad("03.longest_per_genre", lambda k: longest(k).replace("partition by t.genre_id ", ""))  # k overall
    bad("03.longest_per_genre", lambda k: "select name, name, milliseconds from track limit 3")


def test_rag_schema():
    ok("03.rag_schema", lambda: RAG)
    bad("03.rag_schema", lambda: RAG.replace(" unique);", ");", 1))                        # duplicate emails
    bad("03.rag_schema", lambda: RAG.replace("references chunks on delete cascade", "references chunks"))
    bad("03.rag_schema", lambda: RAG.replace(", unique (document_id, position)", ""))
    bad("03.rag_schema", lambda: RAG.replace("vector(384)", "vector"))                    # any dimension
    bad("03.rag_schema", lambda: RAG.replace("check (position >= 0)", ""))


def test_one_query():
    ok("03.one_query", album_tracks)
    bad("03.one_query", album_tracks_n_plus_one)


def test_index_speedup():
    ok("03.index_speedup", lambda conn: conn.execute("create index on plays (customer_id, played_at)"))
    bad("03.index_speedup", lambda conn: None)
    bad("03.index_speedup", lambda conn: conn.execute("create index on plays (seconds)"))


def test_think():
    ok("03.think_index_cost", "c")
    bad("03.think_index_cost", "a")
    ok("03.think_round_trips", 201)
    bad("03.think_round_trips", 200)
