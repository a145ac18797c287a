"""Each exercise of the "Containers and deployment" section of chapters/11-llmops/03-safety-and-deployment
accepts a reference answer and rejects a wrong one."""

from __future__ import annotations

import math
from pathlib import Path

from _exercise_contract import contract

ROOT = Path(__file__).resolve().parents[1]


def cpu_cores(cpu_max):
    parts = cpu_max.split()
    if len(parts) != 2:
        raise ValueError(f"expected 'QUOTA PERIOD', got {cpu_max!r}")
    quota, period = parts
    if quota in ("max", "-1"):
        return None
    return int(quota) / int(period)


def cpu_cores_wrong(cpu_max):  # forgets cgroup v1's -1
    quota, period = cpu_max.split()
    return None if quota == "max" else int(quota) / int(period)


def hpa_replicas(current, utilization, target, min_replicas, max_replicas):
    ratio = utilization / target
    desired = current if abs(ratio - 1) <= 0.1 else math.ceil(current * ratio)
    return max(min_replicas, min(max_replicas, desired))


def hpa_replicas_wrong(current, utilization, target, min_replicas, max_replicas):  # rounds, no tolerance
    return max(min_replicas, min(max_replicas, round(current * utilization / target)))


BAD_DOCKERFILE = """\
FROM python:latest
RUN apt-get update && apt-get install -y curl
COPY . /srv
RUN pip install -r /srv/requirements.txt
CMD ["uvicorn", "shop.api:app", "--host", "0.0.0.0", "--port", "8080"]
"""

GOOD_DOCKERFILE = """\
FROM python:3.11.7-slim-bookworm AS build
RUN python -m venv /opt/venv
COPY requirements.txt /srv/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /srv/requirements.txt
FROM python:3.11.7-slim-bookworm
COPY --from=build /opt/venv /opt/venv
COPY shop /srv/shop
WORKDIR /srv
USER 10001
HEALTHCHECK CMD ["/opt/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"]
CMD ["/opt/venv/bin/uvicorn", "shop.api:app", "--host", "0.0.0.0", "--port", "8080"]
"""


CASES = {
    "11.deploy_isolation": ("c", "a"),
    "11.deploy_probe": ("b", "a"),
    "11.deploy_cpu_cores": (cpu_cores, cpu_cores_wrong),
    "11.deploy_hpa_replicas": (hpa_replicas, hpa_replicas_wrong),
    "11.deploy_fix_dockerfile": (lambda: GOOD_DOCKERFILE, lambda: BAD_DOCKERFILE),
}

test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


def test_a_fix_that_drops_the_service_fails():
    from aieng.book import CheckFailed, check
    import pytest

    other = GOOD_DOCKERFILE.replace("shop.api:app", "other:app")
    with pytest.raises(CheckFailed):
        check("11.deploy_fix_dockerfile", lambda: other, strict=True, quiet=True)
