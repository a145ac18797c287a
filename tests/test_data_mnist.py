"""mnist_5k in aieng.data: registered with source and checksum, read as images and labels."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aieng import data
from aieng.data import (
    REGISTRY,
    ChecksumError,
    DatasetFormatError,
    DatasetNotFoundError,
    load_mnist_5k,
)


def test_registered_with_a_pinned_source_and_a_license():
    entry = REGISTRY["mnist_5k"]
    assert "CC BY-SA 3.0" in entry.license and "BSD-3-Clause" in entry.license
    (spec,) = entry.files
    assert spec.path == "mnist_5k.csv.gz" and "9aadcee334f8b07003246d436cd9135b6d62a6b2" in spec.url


def test_real_digits_500_of_each_class(shared):
    X, y = load_mnist_5k()
    assert X.shape == (5000, 28, 28) and X.dtype == np.uint8 and y.shape == (5000,)
    assert np.bincount(y, minlength=10).tolist() == [500] * 10
    assert X.max() == 255 and X.min() == 0
    # a real digit is mostly background with an ink stroke in the middle, not noise
    ink = (X > 127).mean(axis=0)
    assert ink[:3].mean() < 0.01 and ink[10:18, 10:18].mean() > 0.15


def test_a_wrong_format_names_the_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="mnist_5k.csv.gz"):
        load_mnist_5k(data_dir=tmp_path)
    with gzip.open(tmp_path / "mnist_5k.csv.gz", "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(DatasetFormatError, match="785"):
        load_mnist_5k(data_dir=tmp_path)
    with gzip.open(tmp_path / "mnist_5k.csv.gz", "wt") as f:
        f.write(",".join(["0"] * 784 + ["12"]) + "\n")
    with pytest.raises(DatasetFormatError, match="0-9"):
        load_mnist_5k(data_dir=tmp_path)


def test_a_corrupted_registered_copy_fails_the_checksum(tmp_path, monkeypatch):
    (tmp_path / "mnist_5k").mkdir()
    (tmp_path / "mnist_5k" / "mnist_5k.csv.gz").write_bytes(b"not the file")
    monkeypatch.setenv("AIENG_DATA", str(tmp_path))
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AIENG_OFFLINE", "1")
    data._ARCHIVES.clear()
    with pytest.raises(ChecksumError):
        load_mnist_5k()
