"""Exercise definitions, one module a chapter (``ch01.py``, ``ch07.py``, ...), used by :mod:`aieng.book.checker`.

Each module registers its exercises with :func:`aieng.book.cases.exercise`; the cases and hints live here,
the worked solutions live in the chapter's notebook (cells tagged ``solution``).
"""
