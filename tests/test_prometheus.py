"""aieng.ops.prometheus: a real Prometheus server scrapes our metrics and answers range queries.

Needs Debian's ``prometheus`` package; without it this test FAILS, naming ``apt-get install prometheus``.
"""

from __future__ import annotations

import time

import pytest

from aieng.ops.prometheus import PrometheusError, PrometheusNotFound, PrometheusServer, config_text, find_prometheus
from aieng.ops.telemetry import Metrics


def test_missing_binary_names_the_package(tmp_path, monkeypatch):
    import shutil

    from aieng.ops import prometheus

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(prometheus.Path, "is_file", lambda self: False)
    with pytest.raises(PrometheusNotFound, match="apt-get install prometheus"):
        PrometheusServer(["127.0.0.1:1"], binary=str(tmp_path / "nope"))


def test_config_refuses_no_targets():
    with pytest.raises(ValueError):
        config_text([])


def test_real_server_scrapes_and_answers_queries():
    find_prometheus()  # fails with the install command when the package is missing
    metrics = Metrics()
    with metrics.serve() as address, PrometheusServer([address], scrape_interval="1s") as prom:
        prom.wait_for_targets()
        t0 = time.time()
        for i in range(30):
            metrics.observe(0.05 + 0.01 * (i % 5), tokens=10)
            time.sleep(0.1)
        time.sleep(1.5)
        t1 = time.time()
        tokens = prom.query("llm_tokens_total")
        assert tokens and tokens[0][1] > 0
        series = prom.query_range("histogram_quantile(0.95, rate(llm_request_seconds_bucket[3s]))",
                                  t0, t1, step=1)
        assert series and any(0.0 < v <= 0.1 for v in series[0][2])
        with pytest.raises(PrometheusError):
            prom.query("rate(")
        process = prom.process
    assert process is not None and process.poll() is not None  # stopped
