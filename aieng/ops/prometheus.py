"""A real Prometheus server for a notebook or a test: started with a generated config, queried, stopped.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

>>> with PrometheusServer(["127.0.0.1:8000"], scrape_interval="1s") as prom:   # doctest: +SKIP
...     prom.wait_for_targets()
...     series = prom.query_range("rate(llm_requests_total[5s])", start, end, step=1)

The binary is Debian's ``prometheus`` package (``apt-get install prometheus``); the server listens on
``127.0.0.1`` on a free port, keeps its data in a temporary folder, dies with its parent (Linux's
``PR_SET_PDEATHSIG``), and is stopped, and its folder removed, when the ``with`` block ends.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["PrometheusError", "PrometheusNotFound", "PrometheusServer", "find_prometheus"]


class PrometheusError(RuntimeError):
    """The server did not start, or a query failed."""


class PrometheusNotFound(PrometheusError, FileNotFoundError):
    """No ``prometheus`` binary: install Debian's package."""


def find_prometheus(binary: str | None = None) -> str:
    """Path of the Prometheus binary (``binary``, ``$PATH``, ``/usr/bin/prometheus``), or raise."""
    for candidate in (binary, shutil.which("prometheus"), "/usr/bin/prometheus"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise PrometheusNotFound("no prometheus binary found: `apt-get install prometheus` (Debian's package, "
                             "2.x) or pass binary=")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends SIGTERM when the Python process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def config_text(targets: Sequence[str], scrape_interval: str = "1s", job: str = "aieng") -> str:
    """The ``prometheus.yml`` for scraping ``targets`` (``"host:port"``) every ``scrape_interval``.

    JSON is valid YAML, so the file is written with ``json``.
    """
    if not targets:
        raise ValueError("targets is empty")
    return json.dumps({"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                       "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}]},
                      indent=1)


class PrometheusServer:
    """A Prometheus server scraping ``targets``, as a child process (use it as a context manager)."""

    def __init__(self, targets: Sequence[str], scrape_interval: str = "1s", binary: str | None = None,
                 timeout: float = 30.0) -> None:
        self.binary = find_prometheus(binary)
        self.config = config_text(targets, scrape_interval)
        self.timeout = timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.folder: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        self.folder = Path(tempfile.mkdtemp(prefix="aieng-prometheus-"))
        (self.folder / "prometheus.yml").write_text(self.config)
        self.port = _free_port()
        args = [self.binary, f"--config.file={self.folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.folder / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn"]
        log = open(self.folder / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=preexec)
        self._log = log
        deadline = time.monotonic() + self.timeout
        while True:
            if self.process.poll() is not None:
                text = (self.folder / "prometheus.log").read_text(errors="replace")[-1500:]
                self.stop()
                raise PrometheusError(f"prometheus exited at start: {text}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise PrometheusError(f"prometheus was not ready within {self.timeout:g} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its folder; safe to call twice."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
            self._log.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: Any) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raise :class:`PrometheusError` on an error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusError(f"cannot reach prometheus at {self.url}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their health (``"up"``, ``"down"``, ``"unknown"``)."""
        return list(self.api("targets")["activeTargets"])

    def wait_for_targets(self, timeout: float = 15.0) -> None:
        """Wait until every target has been scraped successfully once."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.targets()
            if active and all(t["health"] == "up" for t in active):
                return
            if time.monotonic() > deadline:
                raise PrometheusError(f"targets not up within {timeout:g} s: "
                                      f"{[(t['scrapeUrl'], t['health'], t.get('lastError')) for t in active]}")
            time.sleep(0.2)

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: ``(labels, value)`` per series."""
        data = self.api("query", query=expr)
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0
                    ) -> list[tuple[dict[str, str], list[float], list[float]]]:
        """A range query: ``(labels, times, values)`` per series (times in Unix seconds; NaN kept)."""
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")
        return [(s["metric"], [float(t) for t, _ in s["values"]], [float(v) for _, v in s["values"]])
                for s in data["result"]]
