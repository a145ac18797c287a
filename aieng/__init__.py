"""aieng: the companion package of *AI Engineer in 12 Months*.

Code that a chapter teaches and a later chapter or lab reuses lives here once; every
module's docstring names the chapter that teaches it. Notebooks import it, never copy it.

The package is a stack of layers, as the book is (``aieng.foundations`` for Months 1-3, ``aieng.ml``
for 4-6, ``aieng.llm`` for 7, ``aieng.retrieval`` for 8, ``aieng.agents`` for 9-10, ``aieng.ops`` for 11),
with ``aieng.data`` (data sets), ``aieng.book`` (exercises, student copies, grading) and ``aieng.bench``
(benchmarks) beside them. Every ``AIENG_*`` setting is read in :mod:`aieng.settings`.
"""

from __future__ import annotations

import inspect
import os
import random
from typing import Any

__version__ = "0.1.0"


from aieng import _legacy, settings
from aieng.settings import QUICK, offline

_legacy.install()


def quick(full: Any, small: Any) -> Any:
    """Return ``small`` in quick mode and ``full`` otherwise.

    Examples
    --------
    >>> num_steps = quick(5000, 50)
    """
    return small if QUICK else full


def device(prefer: str | None = None) -> str:
    """The torch device to use: ``"cuda"`` when a GPU is present, else ``"cpu"``.

    Parameters
    ----------
    prefer
        Force a device (``"cpu"`` or ``"cuda"``). Asking for CUDA without a GPU is an error.
    """
    import torch

    has_cuda = torch.cuda.is_available()
    if prefer is None:
        return "cuda" if has_cuda else "cpu"
    if prefer.startswith("cuda") and not has_cuda:
        raise RuntimeError("device('cuda') was asked for, but torch sees no CUDA GPU on this machine.")
    if prefer not in {"cpu"} and not prefer.startswith("cuda") and prefer != "mps":
        raise ValueError(f"unknown device {prefer!r}; use 'cpu', 'cuda' or 'mps'")
    return prefer


def set_threads(n: int | None = None) -> int:
    """Set how many CPU threads torch uses, by one policy for every notebook; returns the number.

    ``n`` when given; else ``$AIENG_THREADS`` when set; else **1 in quick mode** (the tests run two
    notebooks at once on two cores, and a small model's many tiny operations lose more to threads
    waiting for each other than they gain, as Month 7 measures); else torch's default (all cores).
    NumPy's BLAS (through ``threadpoolctl``) gets the same number.
    """
    import torch

    if n is None:
        n = settings.threads()
    if n is None and QUICK:
        n = 1
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be at least 1, got {n}")
        torch.set_num_threads(n)
        try:  # NumPy's and SciPy's BLAS follow the same policy (else small products oversubscribe)
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=n, user_api="blas")
        except ImportError:
            pass
    return torch.get_num_threads()


def seed_everything(seed: int = 0) -> int:
    """Seed Python's, NumPy's and (when installed) torch's random generators.

    Returns the seed so a notebook can print what it used.
    """
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return seed


def show_source(obj: Any) -> None:
    """Display the source of a function or class from :mod:`aieng`, as d2l does.

    In a notebook it renders as highlighted Python; elsewhere it prints.
    """
    source = inspect.getsource(obj)
    try:
        from IPython.display import Markdown, display

        display(Markdown(f"```python\n{source}```"))
    except ImportError:  # pragma: no cover
        print(source)


__all__ = ["QUICK", "quick", "offline", "device", "set_threads", "seed_everything", "show_source", "__version__"]
