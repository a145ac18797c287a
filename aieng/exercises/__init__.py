"""Exercise definitions, one module a chapter (``ch01.py``, ``ch07.py``, ...), used by :mod:`aieng.check`.

Each module registers its exercises with :func:`aieng.check.exercise`; the cases and hints live here,
the worked solutions live in the chapter's notebook (cells tagged ``solution``).
"""
