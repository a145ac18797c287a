"""Exercises of Month 11, notebook 3, section "Containers and deployment"
(chapters/11-llmops/03-safety-and-deployment).

Kept beside the chapter's other exercise modules (same ``11.`` names, prefixed ``11.deploy_``).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from aieng.book.cases import Case, exercise, same_choice


@exercise("11.deploy_isolation", compare=same_choice,
          hint="Namespaces change what a process can see; one other kernel feature decides how much it may use.")
def _isolation():
    return [Case(args=None, expected="c")]


@exercise("11.deploy_probe", compare=same_choice,
          hint="The two probes answer different questions: 'should this pod get traffic?' and 'should this "
               "container be restarted?'. Which one failed?")
def _probe():
    return [Case(args=None, expected="b")]


@exercise("11.deploy_cpu_cores",
          hint="Both layouts write a quota and a period in microseconds; the quota allowed per period, divided "
               "by the period, is a number of cores. cgroup v2 writes 'max' and v1 writes -1 for no limit.")
def _cpu_cores():
    cases = [("150000 100000", 1.5), ("max 100000", None), ("-1 100000", None), ("50000 100000", 0.5),
             ("200000 50000", 4.0), ("  100000 100000\n", 1.0)]
    return [*(Case((text,), expected=want) for text, want in cases),
            Case(("",), raises=ValueError), Case(("100000",), raises=ValueError)]


@exercise("11.deploy_hpa_replicas",
          hint="Read the algorithm in the Kubernetes HorizontalPodAutoscaler documentation: scale the current "
               "count by the ratio of measured to target utilisation, round up, leave it alone when the ratio "
               "is within the tolerance of 1, and keep the result between the minimum and the maximum.")
def _hpa_replicas():
    #        current, utilisation, target, min, max -> desired
    rows = [((3, 140, 70, 2, 10), 6), ((3, 75, 70, 2, 10), 3), ((3, 64, 70, 2, 10), 3),
            ((3, 50, 70, 2, 10), 3), ((4, 20, 70, 2, 10), 2), ((8, 200, 70, 2, 10), 10),
            ((5, 100, 70, 1, 20), 8), ((2, 35, 70, 2, 10), 2), ((6, 30, 60, 1, 10), 3)]
    return [Case(args, expected=want) for args, want in rows]


def _judge_dockerfile(make: Any) -> str | None:
    from aieng.ops.deploy import dockerfile_policy, lint_dockerfile

    text = make()
    if not isinstance(text, str) or "FROM" not in text.upper():
        return f"fixed_dockerfile() should return the Dockerfile's text, got {type(text).__name__}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_text(text)
        lint = [f for f in lint_dockerfile(path) if not f.message.startswith("info")]
    policy = dockerfile_policy(text)
    bad = [f"{f.rule} ({f.message})" for f in lint + policy]
    if bad:
        return f"{len(bad)} findings remain (the target is 0): " + "; ".join(bad[:6])
    cmd = [ln for ln in text.splitlines() if ln.strip().upper().startswith(("CMD", "ENTRYPOINT"))]
    if not cmd or "shop.api:app" not in cmd[-1] or not re.search(r'"8080"', cmd[-1]):
        return "the image no longer starts the same service: its CMD must still run shop.api:app on port 8080"
    return None


@exercise("11.deploy_fix_dockerfile",
          hint="Lint after each change and read the rule's page (the code, e.g. DL3008, names it). The slim "
               "image has Python, so a health check needs no curl; a second stage keeps pip's work out of the "
               "image; USER takes a numeric id.")
def _fix_dockerfile():
    return [Case(test=_judge_dockerfile, timeout_s=120)]

