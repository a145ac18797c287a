"""Tensor Trust in aieng.data: registered with its pinned source and checksums, read from the shared copy.

Research data with no stated license: these tests read the shared folder and never hold a row of it.
"""

from __future__ import annotations

import json

import pytest

from aieng import data
from aieng.data import (
    REGISTRY,
    ChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    load_tensor_trust,
)

COMMIT = "e2385ea9cf448c9641b96e2e39f113ed4979a5b0"


def test_registered_with_pinned_source_checksums_and_no_license_claimed():
    entry = REGISTRY["tensor_trust"]
    assert "HumanCompatibleAI/tensor-trust-data" in entry.source
    assert "none stated" in entry.license and "ICLR 2024" in entry.citation
    assert {f.path for f in entry.files} == {"hijacking_robustness_dataset.jsonl",
                                             "extraction_robustness_dataset.jsonl",
                                             "prompt_extraction_detection.jsonl"}
    assert all(COMMIT in f.url for f in entry.files)
    assert {f.sha256[:8] for f in entry.files} == {"2ad3c234", "4090f9f5", "af28d095"}


def test_shared_copy_has_the_three_benchmarks(shared):
    tt = load_tensor_trust()
    assert {k: len(v) for k, v in tt.items()} == {"hijacking": 776, "extraction": 570, "detection": 230}
    row = tt["hijacking"][0]
    assert {"sample_id", "pre_prompt", "access_code", "post_prompt", "attack"} <= set(row)
    assert {type(r["is_prompt_extraction"]) for r in tt["detection"]} == {bool}


def _write(folder, hijacking_row):
    records = {"hijacking_robustness_dataset.jsonl": hijacking_row,
               "extraction_robustness_dataset.jsonl": {"sample_id": 1, "pre_prompt": "p", "access_code": "c",
                                                       "post_prompt": "q", "attack": "a"},
               "prompt_extraction_detection.jsonl": {"sample_id": 2, "access_code": "c", "llm_output": "o",
                                                     "is_prompt_extraction": False}}
    for name, row in records.items():
        (folder / name).write_text(json.dumps(row) + "\n")


def test_data_dir_is_read_and_a_missing_field_is_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="hijacking_robustness_dataset.jsonl"):
        load_tensor_trust(data_dir=tmp_path)
    _write(tmp_path, {"sample_id": 0, "pre_prompt": "p", "access_code": "c", "post_prompt": "q", "attack": "a"})
    assert [len(v) for v in load_tensor_trust(data_dir=tmp_path).values()] == [1, 1, 1]
    _write(tmp_path, {"sample_id": 0, "pre_prompt": "p", "access_code": "c", "post_prompt": "q"})
    with pytest.raises(DatasetFormatError, match="missing attack"):
        load_tensor_trust(data_dir=tmp_path)


def test_a_corrupted_registered_copy_fails_the_checksum(tmp_path, monkeypatch):
    folder = tmp_path / "tensor_trust"
    folder.mkdir()
    _write(folder, {"sample_id": 0, "pre_prompt": "p", "access_code": "c", "post_prompt": "q", "attack": "a"})
    monkeypatch.setenv("AIENG_DATA", str(tmp_path))
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AIENG_OFFLINE", "1")
    data._ARCHIVES.clear()
    with pytest.raises(ChecksumError):
        load_tensor_trust()
