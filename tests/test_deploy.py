"""The files in deploy/ and .github/workflows/ pass their offline checkers, and a broken copy of each
fails (aieng.ops.deploy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from aieng.ops import deploy

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TERRAFORM = ROOT / "deploy" / "terraform"


# ---- Dockerfile ---------------------------------------------------------------------------------

def test_shipped_dockerfile_is_clean():
    assert deploy.lint_dockerfile(DOCKERFILE) == []
    assert deploy.dockerfile_policy(DOCKERFILE.read_text()) == []


def test_broken_dockerfile_fails(tmp_path):
    text = DOCKERFILE.read_text().replace("python:3.11.7-slim-bookworm AS runtime", "python:latest")
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(("USER", "HEALTHCHECK", "    CMD")))
    text += "\nRUN apt-get update && apt-get install -y curl\n"
    (tmp_path / "Dockerfile").write_text(text)
    codes = {f.rule for f in deploy.lint_dockerfile(tmp_path / "Dockerfile")}
    assert {"DL3007", "DL3008", "DL3015"} <= codes
    rules = {f.rule for f in deploy.dockerfile_policy(text)}
    assert rules == {"AIENG-D1", "AIENG-D3", "AIENG-D4"}


def test_policy_agrees_with_hadolint_on_the_base_image(tmp_path):
    for base, hadolint_code in [("python", "DL3006"), ("python:latest", "DL3007")]:
        text = f"FROM {base}\nUSER 1000\nHEALTHCHECK CMD [\"true\"]\n"
        (tmp_path / "Dockerfile").write_text(text)
        assert hadolint_code in {f.rule for f in deploy.lint_dockerfile(tmp_path / "Dockerfile")}
        assert "AIENG-D1" in {f.rule for f in deploy.dockerfile_policy(text)}


def test_policy_reads_continuations_stages_and_users():
    text = ("FROM python:3.11.7-slim AS build\nUSER 1000\nFROM build\nRUN echo a \\\n    && echo b\n"
            "HEALTHCHECK \\\n  CMD [\"true\"]\n")
    rules = {f.rule for f in deploy.dockerfile_policy(text)}
    assert rules == {"AIENG-D4"}  # the USER is in the first stage only; `FROM build` is a stage, not a base


def test_lint_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Dockerfile"):
        deploy.lint_dockerfile(tmp_path / "nope")


# ---- Kubernetes -----------------------------------------------------------------------------------

def test_shipped_manifests_are_valid():
    docs = deploy.load_manifests(K8S)
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert deploy.validate_k8s(docs) == []
    assert deploy.k8s_policy(docs) == []


def _broken(mutate):
    docs = deploy.load_manifests(K8S)
    mutate({d["kind"]: d for d in docs})
    return docs


def test_schema_catches_a_wrong_type_and_a_misspelt_field():
    def mutate(by_kind):
        c = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        c["ports"][0]["containerPort"] = "8000"
        c["readinessprobe"] = c.pop("readinessProbe")

    found = deploy.validate_k8s(_broken(mutate))
    assert found and all(f.tool == "kubernetes-validate" for f in found)
    assert any("containerPort" in f.where or "containerPort" in f.message for f in found) or \
        any("readinessprobe" in f.message for f in found)


@pytest.mark.parametrize("mutate,rule", [
    (lambda k: k["Deployment"]["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe"), "AIENG-K1"),
    (lambda k: k["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits"),
     "AIENG-K2"),
    (lambda k: k["Deployment"]["spec"]["template"]["spec"]["containers"][0].update(image="gw:latest"),
     "AIENG-K3"),
    (lambda k: k["Service"]["spec"].update(selector={"app": "gateway"}), "AIENG-K4"),
    (lambda k: k["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"].update(name="gw"), "AIENG-K5"),
])
def test_policy_catches_what_the_schema_allows(mutate, rule):
    docs = _broken(mutate)
    assert deploy.validate_k8s(docs) == []  # the schema is happy...
    assert [f.rule for f in deploy.k8s_policy(docs)] == [rule]  # ...the policy is not


def test_broken_manifest_file_fails(tmp_path):
    text = (K8S / "hpa.yaml").read_text().replace("minReplicas: 2", "minReplicas: two")
    (tmp_path / "hpa.yaml").write_text(text)
    found = deploy.validate_k8s(deploy.load_manifests(tmp_path))
    assert len(found) == 1 and "minReplicas" in found[0].where


def test_kubectl_dry_run_needs_a_cluster():
    ok, said = deploy.kubectl_dry_run(K8S)
    assert not ok and said  # no cluster here (or no kubectl): it cannot validate offline


# ---- the CI workflow -------------------------------------------------------------------------------

def test_workflow_runs_ci_run_and_is_valid():
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = [s.get("run") for job in doc["jobs"].values() for s in job["steps"]]
    assert ".ci/run" in steps
    assert deploy.validate_workflow(WORKFLOW) == []


def test_broken_workflow_fails_and_agrees_with_the_cli(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("    runs-on: ubuntu-24.04\n", ""))
    found = deploy.validate_workflow(broken)
    assert len(found) == 1 and "runs-on" in found[0].message
    assert deploy.check_jsonschema_cli(WORKFLOW)[0] is True
    ok, said = deploy.check_jsonschema_cli(broken)
    assert not ok and "jobs.test" in said


def test_workflow_on_key_is_not_read_as_true(tmp_path):
    bad = tmp_path / "ci.yml"
    bad.write_text(WORKFLOW.read_text().replace("on:\n", "onn:\n"))
    assert deploy.validate_workflow(bad)  # YAML 1.2: `on` is a key, so a misspelling is caught


# ---- Terraform -------------------------------------------------------------------------------------

def test_terraform_module_passes_its_policy():
    assert deploy.terraform_policy(TERRAFORM) == []


def test_broken_terraform_fails(tmp_path):
    copy = tmp_path / "tf"
    shutil.copytree(TERRAFORM, copy)
    versions = copy / "versions.tf"
    versions.write_text(versions.read_text().replace('      version = "~> 2.35"\n', ""))
    (copy / "main.tf").write_text((copy / "main.tf").read_text() + "\nresource \"kubernetes_secret_v1\" \"x\" {\n")
    assert {f.rule for f in deploy.terraform_policy(copy)} == {"AIENG-T1", "AIENG-T3"}
    fmt = deploy.terraform_fmt_check(copy)
    if shutil.which("terraform") is None:
        assert fmt is None
    else:
        assert fmt is not None and fmt[0] is False
        assert deploy.terraform_fmt_check(TERRAFORM) == (True, "")


def test_terraform_policy_names_an_empty_folder(tmp_path):
    assert [f.rule for f in deploy.terraform_policy(tmp_path)] == ["AIENG-T0"]


# ---- namespaces and cgroups -------------------------------------------------------------------------

def test_missing_unshare_names_the_package(monkeypatch):
    monkeypatch.setattr(deploy.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install util-linux"):
        deploy.require_unshare()


def test_namespaces_isolate_what_works_here():
    rows = {r["kind"]: r for r in deploy.namespace_table()}
    assert set(rows) == {"pid", "uts", "mount", "net", "user"}
    for r in rows.values():
        assert r["works"] or r["error"], r  # either it ran or unshare said why not
    if rows["pid"]["works"]:
        assert rows["pid"]["inside"].split()[0] == "1" and rows["pid"]["outside"].split()[0] != "1"
    if rows["uts"]["works"]:
        assert rows["uts"]["inside"] == "aieng-box" and rows["uts"]["outside"] != "aieng-box"
    if rows["net"]["works"]:
        assert rows["net"]["inside"] == "lo"
    if rows["mount"]["works"]:
        assert rows["mount"]["inside"] == "inside"


def test_cgroup_limits_read_v2(tmp_path, monkeypatch):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    d = tmp_path / "box"
    d.mkdir()
    for name, value in {"memory.max": "1073741824", "memory.current": "4096", "cpu.max": "150000 100000",
                        "pids.max": "max"}.items():
        (d / name).write_text(value + "\n")
    monkeypatch.setattr(deploy, "cgroups_of", lambda pid="self": [("", "/box")])
    assert deploy.cgroup_limits(root=tmp_path) == {"version": "2", "memory": "1073741824",
                                                  "memory_used": "4096", "cpu": "150000 100000", "pids": "max"}


def test_cgroup_limits_read_v1(tmp_path, monkeypatch):
    for ctrl, name, value in [("memory", "memory.limit_in_bytes", "536870912"),
                              ("memory", "memory.usage_in_bytes", "1024"), ("cpu", "cpu.cfs_quota_us", "-1"),
                              ("cpu", "cpu.cfs_period_us", "100000"), ("pids", "pids.max", "512")]:
        (tmp_path / ctrl / "job").mkdir(parents=True, exist_ok=True)
        (tmp_path / ctrl / "job" / name).write_text(value + "\n")
    monkeypatch.setattr(deploy, "cgroups_of",
                        lambda pid="self": [("memory", "/job"), ("cpu,cpuacct", "/job"), ("pids", "/job")])
    got = deploy.cgroup_limits(root=tmp_path)
    assert got == {"version": "1", "memory": "536870912", "memory_used": "1024", "cpu": "-1 100000",
                   "pids": "512"}


def test_cgroups_of_this_process():
    groups = deploy.cgroups_of()
    assert groups and all(path.startswith("/") for _, path in groups)
    assert deploy.cgroup_limits()["version"] in ("1", "2")


def test_tools_here_lists_hadolint():
    rows = {r["tool"]: r["found"] for r in deploy.tools_here()}
    assert rows["hadolint"] != "not installed"
