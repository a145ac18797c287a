"""Month 8, embeddings and retrieval: embedders, vector stores, BM25, dense and hybrid retrieval, evaluation,
approximate nearest-neighbour search from scratch, RAG, and corpora built from the book.

One module a concept: :mod:`~aieng.retrieval.base` (the :class:`Hit` and the two interfaces),
:mod:`~aieng.retrieval.validate`, :mod:`~aieng.retrieval.stores` (FAISS, Qdrant),
:mod:`~aieng.retrieval.bm25`, :mod:`~aieng.retrieval.dense`, :mod:`~aieng.retrieval.hybrid` (fusion),
:mod:`~aieng.retrieval.cache` (embeddings on disk), :mod:`~aieng.retrieval.evaluation`,
:mod:`~aieng.retrieval.embed` (the embedder), :mod:`~aieng.retrieval.vectorsearch` (IVF and HNSW from
scratch), :mod:`~aieng.retrieval.rag` (the answer path) and :mod:`~aieng.retrieval.corpora`.

>>> from aieng.retrieval import BM25Retriever, DenseRetriever, HybridRetriever, evaluate
"""

from aieng.retrieval.base import Hit, Retriever, VectorStore
from aieng.retrieval.bm25 import STOPWORDS, BM25Retriever, tokenize
from aieng.retrieval.cache import embed_cached
from aieng.retrieval.dense import DenseRetriever
from aieng.retrieval.embed import Embedder, EmbedderNotFoundError, load_embedder
from aieng.retrieval.evaluation import evaluate, run_from_hits
from aieng.retrieval.hybrid import HybridRetriever, rrf_fuse, zscore_fuse
from aieng.retrieval.stores import FaissStore, QdrantStore

__all__ = [
    "Hit",
    "VectorStore",
    "FaissStore",
    "QdrantStore",
    "Retriever",
    "BM25Retriever",
    "DenseRetriever",
    "HybridRetriever",
    "tokenize",
    "rrf_fuse",
    "zscore_fuse",
    "evaluate",
    "embed_cached",
    "run_from_hits",
    "STOPWORDS",
    "Embedder",
    "EmbedderNotFoundError",
    "load_embedder",
]
