"""A model worker: the bundled chat model behind an OpenAI-style endpoint, run as its own process.

Serves Month 11 (chapters/11-llmops), started by the gateway. ``python -m aieng.ops.worker [--injected-delay-s S]`` loads
:func:`aieng.llm.load_chat_model` once, listens on a free loopback port and prints ``PORT <n>`` on stdout
when it is ready. It serves:

- ``POST /v1/chat/completions``: ``{"model", "messages", "max_tokens", "temperature"}`` -> an OpenAI chat
  completion with ``usage``. One generation at a time (the model is one object; requests queue);
- ``GET /healthz``: ``{"status": "ok", "outstanding": n}``.

``--injected-delay-s`` (named ``injected_delay_s`` everywhere) adds that many seconds of sleep to each
request: a deliberately slow worker, so that the notebook can show what a balancing policy does when
workers are unequal (on one machine the workers are otherwise identical). It is off by default.

:class:`Process` starts any such service as a child process (this module's workers, the gateway of
:mod:`aieng.ops.gateway`) and stops it: it reads the ``PORT`` line, and on Linux the child is asked to
die with its parent (``PR_SET_PDEATHSIG``), so a crashed notebook leaves no orphan listening.
"""

import argparse
import asyncio
import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WorkerRequest", "WorkerMessage", "Process", "start_worker", "create_worker_app", "serve_forever", "main"]


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends SIGKILL to it when the parent thread dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Process:
    """A service running as a child process on ``127.0.0.1``: ``url``, ``port``, ``pid``; a context manager.

    ``argv`` is run with this Python; it must print ``PORT <n>`` on stdout once it listens.
    ``stop()`` sends SIGTERM, waits, then SIGKILL; ``kill()`` sends SIGKILL at once (a crash).
    """

    def __init__(self, argv: Sequence[str], ready_timeout_s: float = 180.0, name: str = "service",
                 wait: bool = True) -> None:
        self.name = name
        self._log = tempfile.NamedTemporaryFile(prefix=f"aieng-{name}-", suffix=".log", delete=False)
        preexec = _die_with_parent if sys.platform.startswith("linux") and \
            threading.current_thread() is threading.main_thread() else None
        self.popen = subprocess.Popen([sys.executable, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=self._log, preexec_fn=preexec, text=True)
        self.pid = self.popen.pid
        self.port, self.url = 0, ""
        if wait:
            self.wait_ready(ready_timeout_s)

    def wait_ready(self, timeout_s: float = 180.0) -> "Process":
        """Block until the child printed its port (start several children first, then wait for each)."""
        if not self.port:
            self.port = self._read_port(timeout_s)
            self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _read_port(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        assert self.popen.stdout is not None
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            ready, _, _ = select.select([self.popen.stdout], [], [], 0.2)
            if ready:
                line = self.popen.stdout.readline()
                if line.startswith("PORT "):
                    return int(line.split()[1])
        why = "exited" if self.popen.poll() is not None else f"did not start within {timeout_s:.0f} s"
        text = self.log()[-2000:]
        self.stop()
        raise RuntimeError(f"{self.name} {why}; its log ends:\n{text}")

    def log(self) -> str:
        """What the child wrote on stderr (its errors and warnings)."""
        try:
            with open(self._log.name, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, mid-request (what a crash or the OOM killer does)."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.alive:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout_s)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Process({self.name}, pid={self.pid}, url={self.url}, alive={self.alive})"


def start_worker(injected_delay_s: float = 0.0, threads: int = 1, ready_timeout_s: float = 180.0,
                 wait: bool = True) -> Process:
    """A worker process serving the chat model (``AIENG_LLM`` chooses it, as everywhere)."""
    argv = ["-m", "aieng.ops.worker", "--injected-delay-s", str(injected_delay_s), "--threads", str(threads)]
    return Process(argv, ready_timeout_s, name="worker", wait=wait)


class WorkerMessage(BaseModel):
    role: str
    content: str


class WorkerRequest(BaseModel):
    """What a worker accepts (the gateway has validated it already; extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str = "smollm2"
    messages: list[WorkerMessage] = Field(min_length=1)
    max_tokens: int = Field(16, ge=1, le=512)
    temperature: float = Field(0.0, ge=0.0, le=2.0)


def create_worker_app(model: Any, injected_delay_s: float = 0.0, name: str = "smollm2") -> Any:
    """The worker's FastAPI app around a loaded chat model."""
    from fastapi import FastAPI

    app = FastAPI(title="aieng model worker")
    lock = threading.Lock()
    state = {"outstanding": 0}

    def generate(body: WorkerRequest) -> tuple[str, Any]:
        with lock:
            text = model.generate([m.model_dump() for m in body.messages], max_new_tokens=body.max_tokens,
                                  temperature=body.temperature)
            return text, model.last_usage

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "outstanding": state["outstanding"], "pid": os.getpid()}

    @app.post("/v1/chat/completions")
    async def chat(body: WorkerRequest) -> dict[str, Any]:
        state["outstanding"] += 1
        try:
            if injected_delay_s > 0:
                await asyncio.sleep(injected_delay_s)
            text, usage = await asyncio.to_thread(generate, body)
        finally:
            state["outstanding"] -= 1
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": body.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                          "total_tokens": usage.prompt_tokens + usage.completion_tokens}}

    return app


def serve_forever(app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``app`` (on a free loopback port by default), print ``PORT <n>``, and run until SIGTERM or SIGINT.

    ``host="0.0.0.0"`` and a fixed ``port`` are for a container, where the platform routes traffic in.
    """
    from aieng.foundations.webapp import serve

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with serve(app, host=host, port=port, timeout_s=300.0) as served:
        print(f"PORT {served.port}", flush=True)
        while not done.wait(0.5):
            if os.getppid() == 1:  # the parent is gone and no death signal came (not Linux)
                break


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aieng.ops.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--injected-delay-s", type=float, default=0.0,
                        help="sleep added to every request: a deliberately slow worker (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    import aieng
    from aieng.llm import load_chat_model

    aieng.set_threads(args.threads)
    model = load_chat_model()
    serve_forever(create_worker_app(model, args.injected_delay_s))


if __name__ == "__main__":
    main()
