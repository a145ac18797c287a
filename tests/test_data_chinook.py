"""Chinook in aieng.data: registered with source and checksums, readable as SQLite and as PostgreSQL."""

from __future__ import annotations

import sqlite3
import sys

import pytest

from aieng import data
from aieng.data import (
    REGISTRY,
    ChecksumError,
    DatasetNotFoundError,
    chinook_postgres_sql,
    load_chinook,
)

ROWS = {"album": 347, "artist": 275, "customer": 59, "employee": 8, "genre": 25, "invoice": 412,
        "invoice_line": 2240, "media_type": 5, "playlist": 18, "playlist_track": 8715, "track": 3503}


def test_chinook_is_registered_with_source_license_and_checksums():
    entry = REGISTRY["chinook"]
    assert "lerocha/chinook-database" in entry.source and entry.license.startswith("MIT")
    assert {f.path for f in entry.files} == {"Chinook_Sqlite.sqlite", "Chinook_PostgreSql.sql"}
    assert all("7f67772503d71ba90f19283c38e93923addb43fa" in f.url for f in entry.files)  # a pinned commit


def test_sqlite_copy_has_the_documented_rows(shared):
    path = load_chinook()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        camel = {"album": "Album", "artist": "Artist", "customer": "Customer", "employee": "Employee",
                 "genre": "Genre", "invoice": "Invoice", "invoice_line": "InvoiceLine", "media_type": "MediaType",
                 "playlist": "Playlist", "playlist_track": "PlaylistTrack", "track": "Track"}
        got = {name: conn.execute(f"select count(*) from {table}").fetchone()[0] for name, table in camel.items()}
    assert got == ROWS


def test_postgres_script_runs_in_the_current_database(shared):
    script = chinook_postgres_sql()
    assert "CREATE DATABASE" not in script and "\\c" not in script and "CREATE TABLE track" in script
    if not sys.platform.startswith("linux"):
        pytest.skip("the wheel's server is tested on Linux")
    from aieng.foundations.database import postgres

    with postgres() as pg:
        pg.run_script(script)
        with pg.connect() as conn:
            got = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ROWS}
    assert got == ROWS


def test_data_dir_is_read_as_given_and_a_wrong_copy_fails_the_checksum(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="Chinook_Sqlite.sqlite"):
        load_chinook(data_dir=tmp_path)
    (tmp_path / "Chinook_PostgreSql.sql").write_text("DROP DATABASE IF EXISTS chinook;\n\\c chinook;\nSELECT 1;\n")
    assert chinook_postgres_sql(data_dir=tmp_path).strip() == "SELECT 1;"
    # the registered copy is verified: a corrupted file under AIENG_DATA is an error, never silent use
    (tmp_path / "chinook").mkdir()
    (tmp_path / "chinook" / "Chinook_Sqlite.sqlite").write_bytes(b"not the database")
    monkeypatch.setenv("AIENG_DATA", str(tmp_path))
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AIENG_OFFLINE", "1")
    data._ARCHIVES.clear()
    with pytest.raises(ChecksumError):
        load_chinook()
