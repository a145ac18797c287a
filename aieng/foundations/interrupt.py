"""Stopping a thread from outside: raise an exception inside it, and take that back.

Behind a tool's time limit in an agent's tool box (Month 9, chapters/09-agents: ``aieng.agents.tools``)
and a case's time limit in the exercise checker (``aieng.book.checker``).

Python has no way to kill a thread. What CPython offers is ``PyThreadState_SetAsyncExc``: the exception
is raised in the target thread at its next bytecode, so a loop stops but a call waiting inside C (a long
``time.sleep``, a socket read) is reached only when it returns. An exception that cannot be delivered
must be withdrawn: left pending, it slowed the whole process (measured: the exercise checker's 1 s
hypothesis run took over 30 s after an agent abandoned a tool blocked in ``time.sleep``). Withdrawing has
a trap of its own: in CPython 3.11, clearing the exception leaves the interpreter's "an asynchronous
exception is pending" flag set (the same run then took 20 s). :func:`withdraw` clears the exception and
then resets the flag by delivering a harmless one to the calling thread, caught at once (0.8 s).
"""

from __future__ import annotations

import ctypes
import threading

__all__ = ["raise_in_thread", "withdraw"]


def raise_in_thread(ident: int, exc: type[BaseException]) -> bool:
    """Raise ``exc`` in the thread ``ident`` at its next Python bytecode.

    Parameters
    ----------
    ident
        The thread's :attr:`threading.Thread.ident` (or :func:`threading.get_ident` in that thread).
    exc
        An exception *class*; make it a ``BaseException`` so that ``except Exception`` does not swallow it.

    Returns
    -------
    bool
        Whether a thread with that ident was found.
    """
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc)) == 1


class _Flush(BaseException):
    """Raised into the calling thread on purpose by :func:`withdraw`, and caught at once."""


def withdraw(ident: int) -> None:
    """Take back an exception :func:`raise_in_thread` sent to ``ident`` that has not been delivered yet.

    The thread then runs on as if nothing had been sent, and the rest of the interpreter keeps its speed.
    Safe to call when nothing is pending.
    """
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
    me = threading.get_ident()
    try:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(me), ctypes.py_object(_Flush))
        for _ in range(10_000):  # delivered at the loop's first backward jump
            pass
    except _Flush:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(me), None)  # never let it escape
