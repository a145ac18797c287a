"""Data sets the book uses: where they come from, how to check them, how to read them.

Taught in Month 7 (where the first data set, tiny Shakespeare, is read) and used by every later chapter.

Every data set has an entry in :data:`REGISTRY` naming its public source, license and the
SHA-256 of each file. :func:`path` finds the files in this order and verifies each one:

1. ``$AIENG_DATA/<name>/`` (the test command points it at the shared copies);
2. the user cache (:func:`aieng.settings.cache_dir`), ``<cache>/<name>/``;
3. a download into the user cache, with a progress bar, only when the file is missing.

A checksum mismatch is always an error, never silent use. Offline with nothing on disk, the
error names the file, the folder it looked in and how to get it. Nothing half-downloaded is
ever left under its final name.

Command line: ``python -m aieng.data list | where NAME | fetch NAME | verify NAME``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aieng import settings
from aieng.atomic import atomic_write

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "REGISTRY",
    "Dataset",
    "RemoteFile",
    "DatasetError",
    "DatasetNotFoundError",
    "ChecksumError",
    "BeirFormatError",
    "DatasetFormatError",
    "read_jsonl",
    "cache_dir",
    "BeirData",
    "path",
    "file",
    "load_beir",
    "load_text",
    "load_sms_spam",
    "load_gsm8k",
    "load_bfcl",
    "load_pubmedqa",
    "load_pizzaplace",
    "load_chinook",
    "chinook_postgres_sql",
    "load_mnist_5k",
    "load_tensor_trust",
    "search_dirs",
    "subset",
]


class DatasetError(RuntimeError):
    """Base class of the errors this module raises."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A data set file is not on disk and could not be downloaded."""


class ChecksumError(DatasetError):
    """A file's SHA-256 differs from the registry's: it is corrupted or not the expected file."""


class DatasetFormatError(DatasetError, ValueError):
    """A data file is not in the format its loader reads (the message names the file and line)."""


class BeirFormatError(DatasetFormatError):
    """A folder is not in BEIR format (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set and how to get its exact bytes.

    Attributes
    ----------
    path
        Path inside the data set's folder, e.g. ``"qrels/test.tsv"``.
    sha256
        Hex digest of the file's bytes.
    url
        Public address of the source file (or of the zip archive holding it).
    member
        The file's name inside the zip archive at ``url``, if it is one.
    derive
        How the book's copy is cut from the source file: ``"head:N"`` keeps the first N lines,
        ``"even_lines"`` keeps lines 0, 2, 4, ... (the developer half of a split).
    """

    path: str
    sha256: str
    url: str
    member: str | None = None
    derive: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A registry entry: files, source, license."""

    name: str
    description: str
    source: str
    license: str
    citation: str
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)


_GH = "https://raw.githubusercontent.com"
_BFCL = f"{_GH}/ShishirPatil/gorilla/6ea57973c7a6097fd7c5915698c54c17c5b1b6c8/berkeley-function-call-leaderboard/bfcl_eval/data"
_CHINOOK = "lerocha/chinook-database/7f67772503d71ba90f19283c38e93923addb43fa/ChinookDatabase/DataSources"
_MLXTEND = "rasbt/mlxtend/9aadcee334f8b07003246d436cd9135b6d62a6b2/mlxtend/data/data"
_TENSOR_TRUST = f"{_GH}/HumanCompatibleAI/tensor-trust-data/e2385ea9cf448c9641b96e2e39f113ed4979a5b0"
_BEIR_SCIFACT = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"


def _bfcl_files() -> tuple[RemoteFile, ...]:
    digests = {
        "BFCL_v4_simple_python.json": "5f80eb640ff00ad4e142414729c978d515a599eb0d91f1e078b9fff6dd3652dc",
        "BFCL_v4_multiple.json": "d3fe14f7260bfecf01fd460d2e3e8db3925d34514110ef5d2fe9492e45d1af5b",
        "BFCL_v4_parallel.json": "6e4c2846f4569cd24f6f48ebc0db19dbf301e75a85bac42e2161617d856cda3e",
        "BFCL_v4_parallel_multiple.json": "816b9818e31f864f968a8e4137ae7b8587af584286f7449d514f3d9c566968b2",
        "BFCL_v4_irrelevance.json": "3faa87710dd3660607cb380320d4757e96a460edd2632b4d0046c9419d85cda2",
        "possible_answer/BFCL_v4_simple_python.json": "7ed87f77be315f5063d72195ff5dc88e5c0c47ecceb55143e733f535fa8c44a0",
        "possible_answer/BFCL_v4_multiple.json": "f55b591705177938181ddc866f30014cbe0f5a632c47170fddeb79dd687e319f",
        "possible_answer/BFCL_v4_parallel.json": "0f5b911176a783a547e4ecaad6b1880caad71601e1b122eb6a74da4de355b6a6",
        "possible_answer/BFCL_v4_parallel_multiple.json": "07f5f06a4c15272f32e066fe6886fbe38465d07c906e5ece42645db1576cf9c6",
    }
    return tuple(RemoteFile(p, d, f"{_BFCL}/{p}", derive="even_lines") for p, d in digests.items())


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            name="scifact",
            description="BEIR SciFact: 5,183 abstracts, 1,109 scientific claims (300 test), relevance judgements.",
            source=_BEIR_SCIFACT,
            license="claims and qrels CC BY 4.0; abstracts ODC-By 1.0",
            citation="Wadden et al., EMNLP 2020; Thakur et al., BEIR, NeurIPS 2021",
            files=(
                RemoteFile("corpus.jsonl", "dec31c8182f3d744c7d2c09423756fd1d17cbef75808db13ba01cc0aab4d1ac6",
                           _BEIR_SCIFACT, member="scifact/corpus.jsonl"),
                RemoteFile("queries.jsonl", "8ff84a7c903f722981cd8d595c022660140c51867b27608a6d4910db86080313",
                           _BEIR_SCIFACT, member="scifact/queries.jsonl"),
                RemoteFile("qrels/test.tsv", "0864bb985e0ca2367ba217977e72004d549054b2b06666ed9d4825ac7c21284c",
                           _BEIR_SCIFACT, member="scifact/qrels/test.tsv"),
                RemoteFile("qrels/train.tsv", "a53f2114831916c096b6c37d9e54da68cef4efdcdbd5ed46533601af972acf1d",
                           _BEIR_SCIFACT, member="scifact/qrels/train.tsv"),
            ),
        ),
        Dataset(
            name="tinyshakespeare",
            description="Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays (char-rnn).",
            source="https://github.com/karpathy/char-rnn",
            license="MIT (repository); the text is in the public domain",
            citation="Karpathy, The Unreasonable Effectiveness of Recurrent Neural Networks, 2015",
            files=(
                RemoteFile("input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                           f"{_GH}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt"),
            ),
        ),
        Dataset(
            name="sms_spam",
            description="SMS Spam Collection v.1: 5,574 messages labelled ham or spam.",
            source="https://archive.ics.uci.edu/dataset/228/sms+spam+collection",
            license="CC BY 4.0 (UCI); cite Almeida, Gomez Hidalgo and Yamakami, DocEng 2011",
            citation="Almeida et al., Contributions to the Study of SMS Spam Filtering, DocEng 2011",
            files=(
                RemoteFile("SMSSpamCollection", "7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",
                           "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip",
                           member="SMSSpamCollection"),
            ),
        ),
        Dataset(
            name="gsm8k",
            description="GSM8K test set, first 200 grade-school maths word problems.",
            source="https://github.com/openai/grade-school-math",
            license="MIT",
            citation="Cobbe et al., Training Verifiers to Solve Math Word Problems, 2021",
            files=(
                RemoteFile("test_first200.jsonl", "bd70035c7acaf107b4e0d077c605a23c3d3a0acb4342e5bc60099e6ad9ff4284",
                           f"{_GH}/openai/grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/test.jsonl",
                           derive="head:200"),
            ),
        ),
        Dataset(
            name="bfcl",
            description="Berkeley Function Calling Leaderboard v4, single-turn AST categories (the developer half).",
            source="https://github.com/ShishirPatil/gorilla/tree/main/berkeley-function-call-leaderboard",
            license="Apache-2.0",
            citation="Yan et al., Berkeley Function Calling Leaderboard, 2024",
            files=_bfcl_files(),
        ),
        Dataset(
            name="pubmedqa",
            description="PubMedQA PQA-L: 1,000 expert-labelled biomedical questions (yes/no/maybe) with abstracts.",
            source="https://github.com/pubmedqa/pubmedqa",
            license="MIT",
            citation="Jin et al., PubMedQA, EMNLP-IJCNLP 2019",
            files=(
                RemoteFile("ori_pqal.json", "8b3276be8942ebbd77f3ddcda12c1749bf0e490045a736fd8438ee40cf37a41d",
                           f"{_GH}/pubmedqa/pubmedqa/1cbae8e92f72f20c8d3747cbb3bf5bc53554d997/data/ori_pqal.json"),
                RemoteFile("test_ground_truth.json", "939fe566f09017d13b1ca64d2ddfee0bc2374b366048152997669cccedc44d51",
                           f"{_GH}/pubmedqa/pubmedqa/1cbae8e92f72f20c8d3747cbb3bf5bc53554d997/data/test_ground_truth.json"),
            ),
        ),
        Dataset(
            name="pizzaplace",
            description="A year (2015) of a pizza shop's sales: 49,574 pizzas sold, one row each "
                        "(id, date, time, name, size, type, price).",
            source="https://github.com/posit-dev/great-tables",
            license="MIT (the great-tables repository, Posit Software, PBC); synthetic, illustrative data",
            citation="great_tables.data.pizzaplace (originally from the R package gt), Posit Software",
            files=(
                RemoteFile("pizzaplace.csv", "594ca293b3d7b8a3dffe1cb398836a1e6216c0b5a29c560957665ba801f002a7",
                           f"{_GH}/posit-dev/great-tables/bf88c5bb9af9e166b158cc02ce23a092fef0fc88/great_tables/data/05-pizzaplace.csv"),
            ),
        ),
        Dataset(
            name="chinook",
            description="Chinook, a digital music store (artists, albums, tracks, playlists, customers, "
                        "employees, invoices): the classic SQL teaching database, as a SQLite file and "
                        "as a PostgreSQL script.",
            source="https://github.com/lerocha/chinook-database",
            license="MIT (Copyright (c) 2008-2024 Luis Rocha)",
            citation="Luis Rocha, Chinook Database 1.4.5, github.com/lerocha/chinook-database",
            files=(
                RemoteFile("Chinook_Sqlite.sqlite", "7651ba378ac2fcd0dfc3c66fb101f7a7eed3ba39a612ec642b96e20702061f15",
                           f"{_GH}/{_CHINOOK}/Chinook_Sqlite.sqlite"),
                RemoteFile("Chinook_PostgreSql.sql", "e3fde5c1a5b51a2a91429a702c9ca6e69ba56e6c7f5e112724d70c3d03db695e",
                           f"{_GH}/{_CHINOOK}/Chinook_PostgreSql.sql"),
            ),
        ),
        Dataset(
            name="mnist_5k",
            description="5,000 real handwritten digits from MNIST's training set (the first 500 of each "
                        "digit), 28 x 28 grey levels 0-255, one CSV row each: 784 pixels then the label.",
            source="https://github.com/rasbt/mlxtend (mlxtend/data/data/mnist_5k.csv.gz)",
            license="MNIST: CC BY-SA 3.0 (LeCun, Cortes, Burges); mlxtend: BSD-3-Clause",
            citation="Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits; "
                     "subset as shipped by mlxtend (S. Raschka)",
            files=(
                RemoteFile("mnist_5k.csv.gz", "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
                           f"{_GH}/{_MLXTEND}/mnist_5k.csv.gz"),
            ),
        ),
        Dataset(
            name="tensor_trust",
            description="Tensor Trust benchmarks: human-written prompt-injection attacks from an online game "
                        "(776 hijacking and 570 extraction attacks, each with its defence and access code; "
                        "230 labelled model outputs for detecting extractions).",
            source="https://github.com/HumanCompatibleAI/tensor-trust-data",
            license="none stated (released by its authors for research on prompt injection); cite the paper "
                    "and do not redistribute it",
            citation="S. Toyer et al., Tensor Trust: Interpretable Prompt Injection Attacks from an Online "
                     "Game, ICLR 2024",
            files=(
                RemoteFile("hijacking_robustness_dataset.jsonl",
                           "2ad3c2343bbf43cb1924f3ec5d6f830864ce3c879e9832b01d93a991e7e2e680",
                           f"{_TENSOR_TRUST}/benchmarks/hijacking-robustness/v1/hijacking_robustness_dataset.jsonl"),
                RemoteFile("extraction_robustness_dataset.jsonl",
                           "4090f9f57b6df69cc32d7669ac991e3fd53e6e2bb616a5e6f45dac79c183ee4c",
                           f"{_TENSOR_TRUST}/benchmarks/extraction-robustness/v1/extraction_robustness_dataset.jsonl"),
                RemoteFile("prompt_extraction_detection.jsonl",
                           "af28d09554db4f8ed91d042005c3457f72c88e763e3787c3b1c76c1d9e8f8260",
                           f"{_TENSOR_TRUST}/detecting-extractions/v1/prompt_extraction_detection.jsonl"),
            ),
        ),
    ]
}


# ----------------------------------------------------------------------------- locating files


def cache_dir() -> Path:
    """The user cache where data sets are downloaded (:func:`aieng.settings.cache_dir`)."""
    return settings.cache_dir()


def search_dirs() -> list[Path]:
    """Folders searched for data sets, in order: ``$AIENG_DATA`` (if set), then the cache."""
    return settings.data_dirs()


def _fingerprint(p: Path) -> tuple[str, int, int, int, int]:
    """What identifies one version of a file on disk: path, inode, size, mtime and ctime.

    The ctime changes on every write and cannot be set back by ``touch``/``os.utime``, so a file
    rewritten in place with the same size and modification time is still seen as changed.
    """
    st = p.stat()
    return (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_of(file_path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(file_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, int, int, int, int], str] = {}


def _verify(local: Path, spec: RemoteFile, dataset: str) -> None:
    key = _fingerprint(local)
    digest = _VERIFIED.get(key) or sha256_of(local)
    if digest != spec.sha256:
        raise ChecksumError(
            f"{local} is not the expected file of data set {dataset!r}: its SHA-256 is {digest[:16]}..., "
            f"expected {spec.sha256[:16]}.... It is corrupted or was replaced. Delete it and run "
            f"`python -m aieng.data fetch {dataset}` (source: {spec.url})."
        )
    _VERIFIED[key] = digest


def _get_registered(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def file(name: str, relpath: str, *, download: bool | None = None) -> Path:
    """Path to one verified file of a registered data set, downloading it only if missing.

    Parameters
    ----------
    name
        Registry name, e.g. ``"scifact"``.
    relpath
        The file inside the data set, e.g. ``"qrels/test.tsv"``.
    download
        Allow a download when the file is not on disk. Default: yes, unless offline
        (``AIENG_OFFLINE``, ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``; see :func:`aieng.settings.offline`).
    """
    dataset = _get_registered(name)
    spec = next((f for f in dataset.files if f.path == relpath), None)
    if spec is None:
        raise DatasetError(f"data set {name!r} has no file {relpath!r}; it has: {[f.path for f in dataset.files]}")
    for root in search_dirs():
        local = root / name / relpath
        if local.is_file():
            _verify(local, spec, name)
            return local
    if download is None:
        download = not settings.offline()
    target = cache_dir() / name / relpath
    looked = ", ".join(str(d / name / relpath) for d in search_dirs())
    how = (
        f"Get it with `python -m aieng.data fetch {name}` when online, or download {spec.url}"
        + (f" (file {spec.member} inside the archive)" if spec.member else "")
        + f" and place it at {target}, or set AIENG_DATA to a folder holding {name}/{relpath}."
    )
    if not download:
        raise DatasetNotFoundError(f"data set {name!r}: {relpath} is not on disk (looked in {looked}). {how}")
    try:
        data = _fetch_bytes(spec)
    except Exception as exc:  # network down, HTTP error, bad archive
        raise DatasetNotFoundError(
            f"data set {name!r}: {relpath} is not on disk (looked in {looked}) and the download "
            f"from {spec.url} failed ({type(exc).__name__}: {exc}). {how}"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ChecksumError(
            f"the download of {spec.url} for {name}/{relpath} has SHA-256 {digest[:16]}..., expected "
            f"{spec.sha256[:16]}...; nothing was written. The source may have changed: report it."
        )
    atomic_write(target, data)
    return target


def path(name: str, *, download: bool | None = None) -> Path:
    """Folder holding every verified file of data set ``name``.

    When the files are split between ``$AIENG_DATA`` and the cache, the missing ones are
    fetched into the cache and the cache folder is returned only if it holds all of them;
    otherwise the ``$AIENG_DATA`` folder is returned.
    """
    dataset = _get_registered(name)
    found = [file(name, f.path, download=download) for f in dataset.files]
    roots = {p.parents[len(Path(f.path).parts) - 1] for p, f in zip(found, dataset.files)}
    if len(roots) == 1:
        return roots.pop()
    # Mixed locations: materialise the complete set in the cache.
    for p, f in zip(found, dataset.files):
        target = cache_dir() / name / f.path
        if not target.exists():
            atomic_write(target, p.read_bytes())
    return cache_dir() / name


def _http_get(url: str) -> bytes:
    """GET ``url`` with a progress bar. Tests replace this function to simulate the network."""
    import httpx
    from tqdm.auto import tqdm

    with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
        response.raise_for_status()
        total = int(response.headers.get("content-length") or 0) or None
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1]) as bar:
            for chunk in response.iter_bytes():
                buf.write(chunk)
                bar.update(len(chunk))
    return buf.getvalue()


_ARCHIVES: dict[str, bytes] = {}


def _fetch_bytes(spec: RemoteFile) -> bytes:
    if spec.member:
        if spec.url not in _ARCHIVES:
            _ARCHIVES[spec.url] = _http_get(spec.url)
        with zipfile.ZipFile(io.BytesIO(_ARCHIVES[spec.url])) as zf:
            data = zf.read(spec.member)
    else:
        data = _http_get(spec.url)
    return _derive(data, spec.derive)


def _derive(data: bytes, how: str | None) -> bytes:
    if how is None:
        return data
    lines = data.splitlines(keepends=True)
    if how.startswith("head:"):
        return b"".join(lines[: int(how.split(":", 1)[1])])
    if how == "even_lines":
        return b"".join(lines[0::2])
    raise DatasetError(f"unknown derivation {how!r}")


# ----------------------------------------------------------------------------- readers


@dataclass
class BeirData:
    """A retrieval data set in BEIR's shape.

    Attributes
    ----------
    corpus
        ``doc_id -> {"title": str, "text": str}``.
    queries
        ``query_id -> text``, only the queries judged in ``qrels``.
    qrels
        ``query_id -> {doc_id: relevance}``.
    """

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    name: str = ""

    def doc_text(self, doc_id: str) -> str:
        """Title and text joined the way BEIR and sentence-transformers do: ``title + " " + text``."""
        doc = self.corpus[doc_id]
        return (doc.get("title", "") + " " + doc.get("text", "")).strip()

    def __repr__(self) -> str:
        return (f"BeirData({self.name!r}: {len(self.corpus):,} docs, {len(self.queries):,} queries, "
                f"{sum(len(v) for v in self.qrels.values()):,} judgements)")


def read_jsonl(file_path: str | os.PathLike[str],
               error: type[DatasetFormatError] = DatasetFormatError) -> Iterable[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file.

    A line that is not valid JSON, not a JSON object, or not valid UTF-8 raises ``error``
    (:class:`DatasetFormatError` or a subclass) naming the file and the line.
    """
    file_path = Path(file_path)
    with open(file_path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise error(f"{file_path}:{lineno} is not valid UTF-8 (byte {exc.start}): "
                                         "the file is damaged or in another encoding") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{file_path}:{lineno} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise error(f"{file_path}:{lineno} is a JSON {type(row).__name__}, not an object "
                                         "({...}): every line of a JSON-lines data file is one record")
            yield lineno, row


@lru_cache(maxsize=4)
def _read_corpus(fingerprint: tuple[str, int, int, int, int], allow_empty_docs: bool) -> dict[str, dict[str, str]]:
    """``corpus.jsonl`` parsed once per file version (a test split and a train split share it)."""
    file = fingerprint[0]
    corpus: dict[str, dict[str, str]] = {}
    for lineno, row in read_jsonl(Path(file), BeirFormatError):
        if "_id" not in row:
            raise BeirFormatError(f"{file}:{lineno} has no '_id' field")
        if str(row["_id"]) in corpus:
            raise BeirFormatError(f"{file}:{lineno}: document id {row['_id']!r} appears twice")
        title, text = str(row.get("title") or ""), str(row.get("text") or "")
        if not (title.strip() or text.strip()) and not allow_empty_docs:
            raise BeirFormatError(f"{file}:{lineno}: document {row['_id']!r} has no text and no title")
        corpus[str(row["_id"])] = {"title": title, "text": text}
    if not corpus:
        raise BeirFormatError(f"{file} holds no documents")
    return corpus


def load_beir(source: str | os.PathLike[str], split: str = "test", *, allow_empty_docs: bool = False) -> BeirData:
    """Read a BEIR-format folder, or a registered data set by name (``"scifact"``).

    Parameters
    ----------
    source
        A registry name or a folder with ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.
    split
        Which qrels file to read (``test``, ``train``, ``dev``).
    allow_empty_docs
        Documents with neither title nor text are an error unless this is true.

    The corpus file is parsed once per process and version of the file, so loading a second split
    is quick; its documents are shared between the loads: treat them as read-only.
    """
    if isinstance(source, str) and source in REGISTRY:
        folder = path(source)
        name = source
    else:
        folder = Path(source)
        name = folder.name
        if not folder.is_dir():
            raise BeirFormatError(f"{folder} is not a folder; a BEIR data set is a folder with corpus.jsonl, "
                                  f"queries.jsonl and qrels/{split}.tsv")
    needed = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [str(p.relative_to(folder)) for p in needed if not p.is_file()]
    if missing:
        raise BeirFormatError(f"{folder} is not in BEIR format: missing {', '.join(missing)} "
                              f"(expected corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    corpus = dict(_read_corpus(_fingerprint(needed[0]), allow_empty_docs))
    all_queries = {}
    for lineno, row in read_jsonl(needed[1], BeirFormatError):
        if "_id" not in row or "text" not in row:
            raise BeirFormatError(f"{needed[1]}:{lineno} needs '_id' and 'text' fields")
        if str(row["_id"]) in all_queries:
            raise BeirFormatError(f"{needed[1]}:{lineno}: query id {row['_id']!r} appears twice")
        all_queries[str(row["_id"])] = str(row["text"])
    qrels: dict[str, dict[str, int]] = {}
    with open(needed[2], encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.strip().split("\t")
            if lineno == 1 and parts[0] in {"query-id", "query_id", "qid"}:
                continue
            if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
                if not line.strip():
                    continue
                raise BeirFormatError(f"{needed[2]}:{lineno}: expected 'query-id<TAB>corpus-id<TAB>score'")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    unknown = [q for q in qrels if q not in all_queries]
    if unknown:
        raise BeirFormatError(f"{needed[2]} judges {len(unknown)} queries missing from queries.jsonl, e.g. {unknown[0]!r}")
    orphans = sorted({d for judged in qrels.values() for d in judged if d not in corpus})
    if orphans:
        raise BeirFormatError(f"{needed[2]} judges {len(orphans)} documents missing from corpus.jsonl, "
                              f"e.g. {orphans[0]!r}: the qrels and the corpus are from different versions")
    queries = {q: all_queries[q] for q in qrels}
    return BeirData(corpus=corpus, queries=queries, qrels=qrels, name=name)


def _data_file(name: str, relpath: str, data_dir: str | os.PathLike[str] | None) -> Path:
    """A registered data set's file (found, verified, downloaded if missing), or ``data_dir/relpath``.

    An explicit ``data_dir`` is the caller's own copy, in the same layout: it is read as it is, without
    the checksum (a test's small fixture, a newer release of the set).
    """
    if data_dir is None:
        return file(name, relpath)
    local = Path(data_dir) / relpath
    if not local.is_file():
        raise DatasetNotFoundError(f"{local} is missing: data_dir for {name!r} must hold {relpath} "
                                   f"(the layout `python -m aieng.data where {name}` shows)")
    return local


def load_text(name: str = "tinyshakespeare", data_dir: str | os.PathLike[str] | None = None) -> str:
    """The text of a one-file text data set (``tinyshakespeare``); ``data_dir``: a folder holding that file."""
    dataset = _get_registered(name)
    return _data_file(name, dataset.files[0].path, data_dir).read_text(encoding="utf-8")


def load_sms_spam(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """SMS Spam Collection as ``[(label, text), ...]`` with label ``"ham"`` or ``"spam"``."""
    source = _data_file("sms_spam", "SMSSpamCollection", data_dir)
    rows = []
    for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        label, tab, text = line.partition("\t")
        if not tab or label not in {"ham", "spam"}:
            raise DatasetFormatError(f"{source}:{lineno}: expected 'ham<TAB>text' or 'spam<TAB>text'")
        rows.append((label, text))
    return rows


def load_gsm8k(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """GSM8K problems: ``{"question", "answer", "final"}`` where ``final`` is the number after ``####``.

    ``data_dir``: a folder holding ``test_first200.jsonl`` in GSM8K's format (default: the registered set).
    """
    source = _data_file("gsm8k", "test_first200.jsonl", data_dir)
    rows = []
    for lineno, row in read_jsonl(source):
        if "question" not in row or "answer" not in row or "####" not in str(row["answer"]):
            raise DatasetFormatError(f"{source}:{lineno}: a GSM8K record needs 'question' and an 'answer' "
                                     "ending in '#### <number>'")
        final = row["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        rows.append({**row, "final": final})
    return rows


def subset(items: list[Any], n: int) -> list[Any]:
    """``n`` evenly spaced items (all when ``n`` is 0 or too large), deterministic."""
    if n <= 0 or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


BFCL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")


def load_bfcl(category: str, data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """BFCL entries of one category, each with its ``ground_truth`` (``[]`` for irrelevance).

    Parameters
    ----------
    category
        One of :data:`BFCL_CATEGORIES`.
    data_dir
        A folder in the shared copy's layout; default: the registered data set.
    """
    if category not in BFCL_CATEGORIES:
        raise DatasetError(f"unknown BFCL category {category!r}; choose from {BFCL_CATEGORIES}")
    question_file = _data_file("bfcl", f"BFCL_v4_{category}.json", data_dir)
    answer_file = (None if category == "irrelevance"
                   else _data_file("bfcl", f"possible_answer/BFCL_v4_{category}.json", data_dir))
    answers = {} if answer_file is None else {r["id"]: r["ground_truth"] for _, r in read_jsonl(answer_file)}
    return [{**row, "ground_truth": answers.get(row["id"], [])} for _, row in read_jsonl(question_file)]


def load_pubmedqa(split: str = "test", data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """PubMedQA PQA-L items: ``{"pmid", "question", "context", "label", "long_answer"}``.

    ``split="test"`` gives the official 500-question test split, ``"all"`` all 1,000. ``data_dir``: a
    folder holding ``ori_pqal.json`` and ``test_ground_truth.json``.
    """
    items = json.loads(_data_file("pubmedqa", "ori_pqal.json", data_dir).read_text(encoding="utf-8"))
    keep: Callable[[str], bool]
    if split == "test":
        test_ids = set(json.loads(_data_file("pubmedqa", "test_ground_truth.json", data_dir).read_text(encoding="utf-8")))
        keep = test_ids.__contains__
    elif split == "all":
        keep = lambda _pmid: True  # noqa: E731
    else:
        raise DatasetError(f"unknown PubMedQA split {split!r}; use 'test' or 'all'")
    return [
        {"pmid": pmid, "question": it["QUESTION"], "context": " ".join(it["CONTEXTS"]),
         "label": it["final_decision"], "long_answer": it["LONG_ANSWER"]}
        for pmid, it in items.items() if keep(pmid)
    ]


def load_pizzaplace(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The path of ``pizzaplace.csv`` (a year of pizza sales, 2015), checked against its SHA-256.

    Read it with pandas or load it into SQLite (``aieng.agents.sales.SalesDB``). ``data_dir``: a folder
    holding ``pizzaplace.csv`` in the same format (default: the registered data set).
    """
    return _data_file("pizzaplace", "pizzaplace.csv", data_dir)


TENSOR_TRUST_FIELDS = {
    "hijacking": ("hijacking_robustness_dataset.jsonl", ("sample_id", "pre_prompt", "access_code", "post_prompt", "attack")),
    "extraction": ("extraction_robustness_dataset.jsonl", ("sample_id", "pre_prompt", "access_code", "post_prompt", "attack")),
    "detection": ("prompt_extraction_detection.jsonl", ("sample_id", "access_code", "llm_output", "is_prompt_extraction")),
}


def load_tensor_trust(data_dir: str | os.PathLike[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The Tensor Trust benchmarks: ``{"hijacking": [...], "extraction": [...], "detection": [...]}``.

    Each hijacking or extraction record holds ``sample_id``, ``pre_prompt``, ``access_code``,
    ``post_prompt`` and ``attack``; each detection record ``sample_id``, ``access_code``, ``llm_output``
    and ``is_prompt_extraction``. Research data with no stated license (Toyer et al., ICLR 2024): read
    it where it lies, never copy it into a repository. ``data_dir``: a folder holding the three
    JSON-lines files (default: the registered data set, checked against its SHA-256 sums).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for part, (relpath, fields) in TENSOR_TRUST_FIELDS.items():
        source = _data_file("tensor_trust", relpath, data_dir)
        rows = []
        for lineno, row in read_jsonl(source):
            missing = [f for f in fields if f not in row]
            if missing:
                raise DatasetFormatError(f"{source}:{lineno}: a Tensor Trust {part} record needs "
                                         f"{', '.join(fields)}; missing {', '.join(missing)}")
            rows.append(row)
        out[part] = rows
    return out


def load_chinook(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The path of the Chinook SQLite database (``Chinook_Sqlite.sqlite``), checked against its SHA-256.

    Open it read-only with ``sqlite3.connect(f"file:{path}?mode=ro", uri=True)``. Its tables and
    columns are CamelCase (``InvoiceLine.UnitPrice``); the PostgreSQL version
    (:func:`chinook_postgres_sql`) spells them snake_case (``invoice_line.unit_price``).
    ``data_dir``: a folder holding ``Chinook_Sqlite.sqlite`` (default: the registered data set).
    """
    return _data_file("chinook", "Chinook_Sqlite.sqlite", data_dir)


def chinook_postgres_sql(data_dir: str | os.PathLike[str] | None = None) -> str:
    """The Chinook PostgreSQL script, ready to run in the database you are connected to.

    The published script begins by dropping and creating a database ``chinook`` and switching to it
    with psql's ``\\c``; those lines are left out, so the tables (snake_case: ``album``, ``artist``,
    ``track``, ``invoice_line``, ...) are made where the script runs, e.g.
    ``postgres().run_script(chinook_postgres_sql())`` (:mod:`aieng.foundations.database`).
    ``data_dir``: a folder holding ``Chinook_PostgreSql.sql`` (default: the registered data set).
    """
    text = _data_file("chinook", "Chinook_PostgreSql.sql", data_dir).read_text(encoding="utf-8")
    kept = [line for line in text.splitlines()
            if not line.lstrip().upper().startswith(("DROP DATABASE", "CREATE DATABASE", "\\C "))]
    return "\n".join(kept) + "\n"


def load_mnist_5k(data_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits: ``(X, y)``, ``X`` of shape ``(5000, 28, 28)`` (uint8, 0-255), ``y`` (5000,) in 0-9.

    Taught in Month 6 (chapters/06-deep-learning). ``data_dir``: a folder holding ``mnist_5k.csv.gz``
    (784 pixel columns, row-major, then the label; no header). The default is the registered data set.
    """
    import numpy as np

    source = _data_file("mnist_5k", "mnist_5k.csv.gz", data_dir)
    with gzip.open(source, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.ndim != 2 or table.shape[1] != 785:
        raise DatasetFormatError(f"{source}: expected 785 comma-separated integers a line "
                                 f"(784 pixels, then the label), got shape {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if labels.min() < 0 or labels.max() > 9 or pixels.min() < 0 or pixels.max() > 255:
        raise DatasetFormatError(f"{source}: the last column must be a digit 0-9 and the others "
                                 "grey levels 0-255")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m aieng.data list | where NAME | fetch NAME | verify NAME``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m aieng.data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the registered data sets")
    for cmd, text in [("where", "print the folder holding NAME"), ("fetch", "download NAME if missing"),
                      ("verify", "check NAME's checksums")]:
        sub.add_parser(cmd, help=text).add_argument("name", choices=sorted(REGISTRY))
    args = parser.parse_args(argv)
    if args.cmd == "list":
        for d in REGISTRY.values():
            print(f"{d.name:16s} {d.description}\n{'':16s} source: {d.source}\n{'':16s} license: {d.license}")
        return 0
    try:
        folder = path(args.name, download=args.cmd == "fetch")
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(folder if args.cmd == "where" else f"{args.name}: {len(REGISTRY[args.name].files)} files verified in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
