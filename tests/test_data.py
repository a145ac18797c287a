"""aieng.data: the registry, lookup order, checksums, downloads (simulated) and the readers."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest

from aieng import data
from aieng.data import (
    REGISTRY,
    BeirFormatError,
    ChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    RemoteFile,
    load_beir,
)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty AIENG_DATA and an empty cache: nothing is on disk."""
    monkeypatch.setenv("AIENG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path / "cache"))
    for name in ("AIENG_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    data._ARCHIVES.clear()
    return tmp_path


def test_registry_entries_are_complete():
    assert set(REGISTRY) == {"scifact", "tinyshakespeare", "sms_spam", "gsm8k", "bfcl", "pubmedqa", "pizzaplace", "tensor_trust",
                             "chinook", "mnist_5k"}
    for ds in REGISTRY.values():
        assert ds.source.startswith("https://") and ds.license and ds.citation and ds.files
        for f in ds.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), f"{f.path}: not a SHA-256 hex digest"
            assert f.url.startswith("https://")


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(DatasetError, match="known: bfcl, chinook, gsm8k"):
        data.path("imagenet")


def test_missing_offline_names_the_file_and_how_to_get_it(isolated):
    with pytest.raises(DatasetNotFoundError) as err:
        data.file("tinyshakespeare", "input.txt", download=False)
    text = str(err.value)
    assert "input.txt" in text and "python -m aieng.data fetch tinyshakespeare" in text
    assert "raw.githubusercontent.com/karpathy/char-rnn" in text and "AIENG_DATA" in text


def test_offline_env_var_prevents_download(isolated, monkeypatch):
    monkeypatch.setenv("AIENG_OFFLINE", "1")
    monkeypatch.setattr(data, "_http_get", lambda url: pytest.fail("must not download when AIENG_OFFLINE=1"))
    with pytest.raises(DatasetNotFoundError):
        data.file("gsm8k", "test_first200.jsonl")


def test_network_failure_is_a_clear_error_and_writes_nothing(isolated, monkeypatch):
    import httpx

    def no_network(url: str) -> bytes:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_http_get", no_network)
    with pytest.raises(DatasetNotFoundError, match="download from https://.*failed.*ConnectError"):
        data.file("tinyshakespeare", "input.txt")
    assert not any((isolated / "cache").rglob("*")), "a failed download must leave nothing on disk"


def test_download_writes_verified_file_into_cache(isolated, monkeypatch, shared):
    body = (shared / "tinyshakespeare" / "input.txt").read_bytes()
    calls = []
    monkeypatch.setattr(data, "_http_get", lambda url: calls.append(url) or body)
    got = data.file("tinyshakespeare", "input.txt")
    assert got == isolated / "cache" / "tinyshakespeare" / "input.txt"
    assert got.read_bytes() == body and len(calls) == 1
    data.file("tinyshakespeare", "input.txt")  # second call: found on disk, no download
    assert len(calls) == 1
    assert not list(got.parent.glob("*.part")), "no temporary file may remain"


def test_download_applies_derivation_and_zip_members(isolated, monkeypatch, shared):
    first200 = (shared / "gsm8k" / "test_first200.jsonl").read_bytes()
    full = first200 + b'{"question": "extra", "answer": "#### 1"}\n' * 5
    sms = (shared / "sms_spam" / "SMSSpamCollection").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme", "x")
        zf.writestr("SMSSpamCollection", sms)
    bodies = {REGISTRY["gsm8k"].files[0].url: full, REGISTRY["sms_spam"].files[0].url: buf.getvalue()}
    monkeypatch.setattr(data, "_http_get", lambda url: bodies[url])
    assert data.file("gsm8k", "test_first200.jsonl").read_bytes() == first200
    assert data.file("sms_spam", "SMSSpamCollection").read_bytes() == sms


def test_downloaded_bytes_with_wrong_checksum_are_refused(isolated, monkeypatch):
    monkeypatch.setattr(data, "_http_get", lambda url: b"not shakespeare")
    with pytest.raises(ChecksumError, match="nothing was written"):
        data.file("tinyshakespeare", "input.txt")
    assert not (isolated / "cache" / "tinyshakespeare" / "input.txt").exists()


def test_corrupted_local_file_is_an_error_never_used(isolated):
    target = isolated / "data" / "tinyshakespeare" / "input.txt"
    target.parent.mkdir(parents=True)
    target.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    with pytest.raises(ChecksumError) as err:
        data.load_text("tinyshakespeare")
    assert str(target) in str(err.value) and "fetch tinyshakespeare" in str(err.value)


def test_derive_rejects_unknown_rule():
    with pytest.raises(DatasetError):
        data._derive(b"a\nb\n", "odd_lines")
    assert data._derive(b"a\nb\nc\n", "even_lines") == b"a\nc\n"
    assert data._derive(b"a\nb\nc\n", "head:2") == b"a\nb\n"


# ----------------------------------------------------------------------------- BEIR reader


def _write_beir(folder: Path, docs: list[dict], queries: list[dict], qrels: str) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text(qrels)
    return folder


def test_beir_reader_works_on_any_folder(tmp_path):
    folder = _write_beir(tmp_path / "tiny",
                         [{"_id": "d1", "title": "Cats", "text": "Cats purr."}, {"_id": "d2", "title": "", "text": "Dogs bark."}],
                         [{"_id": "q1", "text": "which animal purrs"}, {"_id": "q2", "text": "unjudged"}],
                         "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n")
    beir = load_beir(folder)
    assert beir.queries == {"q1": "which animal purrs"}, "only judged queries are kept"
    assert beir.qrels == {"q1": {"d1": 1}}
    assert beir.doc_text("d1") == "Cats Cats purr." and beir.doc_text("d2") == "Dogs bark."


def test_beir_corpus_is_read_once_per_file_version(tmp_path):
    folder = _write_beir(tmp_path / "c", [{"_id": "d1", "text": "Cats purr."}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    (folder / "qrels" / "train.tsv").write_text("q1\td1\t2\n")
    test, train = load_beir(folder, "test"), load_beir(folder, "train")
    assert train.qrels == {"q1": {"d1": 2}} and test.corpus == train.corpus
    assert test.corpus["d1"] is train.corpus["d1"], "the second split reuses the parsed corpus"
    test.corpus.pop("d1")  # the mapping itself is each load's own
    assert "d1" in load_beir(folder).corpus
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "Cats purr."}\n{"_id": "d2", "text": "Dogs bark loudly."}\n')
    assert sorted(load_beir(folder).corpus) == ["d1", "d2"], "a changed file is read again"


def test_beir_reader_rejects_a_folder_that_is_not_beir(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    with pytest.raises(BeirFormatError, match="missing queries.jsonl, qrels/test.tsv"):
        load_beir(tmp_path)
    with pytest.raises(BeirFormatError, match="is not a folder"):
        load_beir(tmp_path / "nope")


def test_beir_reader_rejects_document_without_text(tmp_path):
    folder = _write_beir(tmp_path / "b", [{"_id": "d1", "title": "", "text": "  "}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    with pytest.raises(BeirFormatError, match="'d1' has no text"):
        load_beir(folder)
    assert len(load_beir(folder, allow_empty_docs=True).corpus) == 1


def test_beir_reader_reports_bad_json_with_line_number(tmp_path):
    folder = _write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    with open(folder / "corpus.jsonl", "a") as fh:
        fh.write("{broken\n")
    with pytest.raises(BeirFormatError, match=r"corpus.jsonl:2 is not valid JSON"):
        load_beir(folder)


def test_beir_reader_rejects_qrels_for_unknown_queries(tmp_path):
    folder = _write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], "q9\td1\t1\n")
    with pytest.raises(BeirFormatError, match="'q9'"):
        load_beir(folder)


# ----------------------------------------------------------------------------- the real data sets


def test_scifact_has_beir_counts(shared):
    beir = load_beir("scifact")
    assert len(beir.corpus) == 5183 and len(beir.queries) == 300
    assert sum(len(v) for v in beir.qrels.values()) == 339
    train = load_beir("scifact", split="train")
    assert len(train.queries) == 809 and not set(train.queries) & set(beir.queries)


def test_other_loaders_read_the_shared_copies(shared):
    assert len(data.load_text("tinyshakespeare")) == 1_115_394
    sms = data.load_sms_spam()
    assert len(sms) == 5574 and sum(label == "spam" for label, _ in sms) == 747
    gsm = data.load_gsm8k()
    assert len(gsm) == 200 and gsm[0]["final"] == "18"
    counts = {c: len(data.load_bfcl(c)) for c in data.BFCL_CATEGORIES}
    assert counts == {"simple_python": 200, "multiple": 100, "parallel": 100, "parallel_multiple": 100, "irrelevance": 120}
    assert all(row["ground_truth"] for row in data.load_bfcl("simple_python"))
    pqa = data.load_pubmedqa()
    assert len(pqa) == 500 and {r["label"] for r in pqa} == {"yes", "no", "maybe"}
    assert len(data.load_pubmedqa("all")) == 1000


def test_bfcl_data_dir_must_have_the_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="possible_answer"):
        (tmp_path / "BFCL_v4_multiple.json").write_text("")
        data.load_bfcl("multiple", data_dir=tmp_path)
    with pytest.raises(DatasetError, match="unknown BFCL category"):
        data.load_bfcl("live_simple")


def test_command_line(capsys, shared):
    assert data.main(["list"]) == 0
    assert "scifact" in capsys.readouterr().out
    assert data.main(["verify", "gsm8k"]) == 0
    assert "1 files verified" in capsys.readouterr().out


def test_remote_file_is_frozen():
    f = RemoteFile("a", "0" * 64, "https://x")
    with pytest.raises(Exception):
        f.path = "b"  # type: ignore[misc]


def test_cache_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path))
    assert data.cache_dir() == tmp_path
    monkeypatch.setenv("AIENG_CACHE", "0")  # derived caches off; data sets still go to the default folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "aieng"
    from aieng import settings

    assert settings.derived_cache_dir() is None
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir() == Path.home() / ".cache" / "aieng"


def test_hf_hub_offline_alone_stops_downloads(isolated, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(data, "_http_get", lambda url: pytest.fail(f"downloaded {url} while offline"))
    with pytest.raises(DatasetNotFoundError, match="not on disk"):
        data.load_text("tinyshakespeare")


def test_jsonl_lines_that_are_not_objects_or_not_utf8_name_file_and_line(tmp_path):
    f = tmp_path / "rows.jsonl"
    f.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DatasetFormatError, match=r"rows.jsonl:2 is a JSON list, not an object"):
        list(data.read_jsonl(f))
    f.write_bytes(b'{"a": 1}\n\n{"b": "\xff\xfe"}\n')
    with pytest.raises(DatasetFormatError, match=r"rows.jsonl:3 is not valid UTF-8"):
        list(data.read_jsonl(f))
    folder = _write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    (folder / "queries.jsonl").write_text('"just a string"\n')
    with pytest.raises(BeirFormatError, match=r"queries.jsonl:1 is a JSON str"):
        load_beir(folder)


def test_qrels_to_unknown_documents_and_duplicate_ids_are_reported(tmp_path):
    folder = _write_beir(tmp_path / "a", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}], "q1\td9\t1\n")
    with pytest.raises(BeirFormatError, match="judges 1 documents missing from corpus.jsonl, e.g. 'd9'"):
        load_beir(folder)
    folder = _write_beir(tmp_path / "b", [{"_id": "d1", "text": "x"}, {"_id": "d1", "text": "y"}],
                         [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    with pytest.raises(BeirFormatError, match=r"corpus.jsonl:2: document id 'd1' appears twice"):
        load_beir(folder)
    folder = _write_beir(tmp_path / "c", [{"_id": "d1", "text": "x"}], [{"_id": "q1", "text": "q"}, {"_id": "q1", "text": "r"}],
                         "q1\td1\t1\n")
    with pytest.raises(BeirFormatError, match=r"queries.jsonl:2: query id 'q1' appears twice"):
        load_beir(folder)


def test_a_file_changed_in_place_with_the_same_size_and_time_is_read_again(tmp_path):
    folder = _write_beir(tmp_path / "d", [{"_id": "d1", "text": "Cats purr."}], [{"_id": "q1", "text": "q"}], "q1\td1\t1\n")
    corpus = folder / "corpus.jsonl"
    assert load_beir(folder).corpus["d1"]["text"] == "Cats purr."
    before = corpus.stat()
    corpus.write_text(corpus.read_text().replace("Cats purr.", "Dogs bark."))  # same size
    os.utime(corpus, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same time stamp
    assert corpus.stat().st_size == before.st_size and corpus.stat().st_mtime_ns == before.st_mtime_ns
    assert load_beir(folder).corpus["d1"]["text"] == "Dogs bark.", "a stale parse was served from the cache"


def test_verified_checksum_is_not_trusted_after_an_in_place_change(isolated, shared):
    target = isolated / "data" / "tinyshakespeare" / "input.txt"
    target.parent.mkdir(parents=True)
    body = (shared / "tinyshakespeare" / "input.txt").read_bytes()
    target.write_bytes(body)
    assert data.load_text("tinyshakespeare").startswith("First Citizen")
    before = target.stat()
    target.write_bytes(body.replace(b"First", b"Frist", 1))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ChecksumError):
        data.load_text("tinyshakespeare")


def test_loaders_take_a_data_dir(tmp_path):
    (tmp_path / "test_first200.jsonl").write_text(json.dumps({"question": "1+1?", "answer": "2 #### 2"}) + "\n")
    assert data.load_gsm8k(tmp_path) == [{"question": "1+1?", "answer": "2 #### 2", "final": "2"}]
    (tmp_path / "SMSSpamCollection").write_text("ham\thello\nspam\tWIN\n")
    assert data.load_sms_spam(tmp_path) == [("ham", "hello"), ("spam", "WIN")]
    (tmp_path / "SMSSpamCollection").write_text("nonsense line\n")
    with pytest.raises(DatasetFormatError, match="SMSSpamCollection:1"):
        data.load_sms_spam(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="input.txt is missing"):
        data.load_text("tinyshakespeare", data_dir=tmp_path)
