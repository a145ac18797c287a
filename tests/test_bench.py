"""aieng.bench: the dispatcher finds every benchmark; every run writes one results file (schema, tier, --out,
--no-save, atomic); --json prints exactly one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from aieng.bench import benchmarks, format_generic, module_defaults, record
from aieng.book import results

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_module_has_the_interface():
    found = benchmarks()
    assert "embed" in found
    for name, module in found.items():
        assert isinstance(module.HELP, str) and module.HELP, f"{name} needs a one-line HELP"
        assert callable(module.add_arguments) and callable(module.run)


def test_embed_json_is_one_record_on_stdout_and_out_writes_it(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "deep" / "embed.json"
    proc = subprocess.run([sys.executable, "-m", "aieng.bench", "embed", "--n", "64", "--json", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    results.validate(record)
    assert record["command"] == "python -m aieng.bench embed --n 64"  # output options are not part of it
    assert record["tier"] == {"kind": "cpu", "cores": os.cpu_count()} and record["machine"]["gpu"] is None
    figures = record["figures"]
    assert figures["model"] == "all-MiniLM-L6-v2" and figures["n"] == 64 and figures["dim"] == 384
    assert figures["sentences_per_s"] > 0
    assert json.loads(out.read_text()) == record
    assert [p.name for p in out.parent.iterdir()] == ["embed.json"]  # no temporary file left beside it


def test_no_save_writes_nothing(tmp_path, monkeypatch):
    """``--no-save`` on a quick run: the chapter's results folder is untouched."""
    from aieng.bench import main

    monkeypatch.setattr(record, "default_path", lambda *a, **k: pytest.fail("--no-save must not ask for a path"))
    fake = types.SimpleNamespace(HELP="fake", add_arguments=lambda p: p.add_argument("--x", type=int, default=1),
                                 run=lambda args: {"x": args.x})
    monkeypatch.setattr("aieng.bench.benchmarks", lambda: {"fake": fake})
    assert main(["fake", "--x", "3", "--no-save"]) == 0
    monkeypatch.undo()
    monkeypatch.setattr("aieng.bench.benchmarks", lambda: {"fake": fake})
    out = tmp_path / "fake.json"
    assert main(["fake", "--x", "3", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["figures"] == {"x": 3} and saved["command"] == "python -m aieng.bench fake --x 3"


def _fake_machine(gpu=None):
    return {"cpu": "Test CPU", "cores": 2, "threads": 1, "gpu": gpu}


def test_record_follows_the_schema_and_names_its_tier():
    rec = record.make_record("embed", {"n": 1}, ["embed"], machine_info=_fake_machine())
    results.validate(rec)
    assert rec["tier"] == {"kind": "cpu", "cores": 2} and rec["provenance"] == "measured"
    assert set(rec["versions"]) == {"python", "torch", "transformers", "numpy", "aieng"}
    assert rec["versions"]["numpy"] and rec["versions"]["python"]
    gpu = record.make_record("chargpt", {"device": "cuda"}, ["chargpt"], machine_info=_fake_machine("Test GPU"))
    assert gpu["tier"] == {"kind": "gpu", "name": "Test GPU"}
    with pytest.raises(ValueError, match="no GPU name"):
        record.make_record("chargpt", {"device": "cuda"}, ["chargpt"], machine_info=_fake_machine())


def test_default_path_is_the_chapters_results_folder_per_tier():
    chargpt = benchmarks()["chargpt"]
    args = module_defaults(chargpt, "chargpt")
    cpu = record.default_path(chargpt, "chargpt", {"device": "cpu"}, args)
    assert cpu == ROOT / "chapters/07-transformers-and-llms/results/chargpt-3min.json"
    gpu = record.default_path(chargpt, "chargpt", {"device": "cuda"}, args)
    assert gpu.name == "chargpt-3min.gpu.json"
    embed = benchmarks()["embed"]
    quick = module_defaults(embed, "embed")
    quick.n = 64
    assert record.default_path(embed, "embed", {}, quick).name == "embed-n_64.json"  # never the reference file
    for name, module in benchmarks().items():
        assert (ROOT / "chapters" / module.CHAPTER).is_dir(), f"{name}: CHAPTER names no chapter folder"


def test_write_is_atomic_and_refuses_a_bad_record(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    good = record.make_record("embed", {"n": 1}, ["embed"], machine_info=_fake_machine())
    record.write(path, good)
    bad = {**good, "date": "yesterday"}
    with pytest.raises(results.ResultsError):
        record.write(path, bad)
    # a crash while writing leaves the old file whole and no temporary file behind
    import aieng.atomic

    def crash(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(aieng.atomic.Path, "write_bytes", crash)
    with pytest.raises(OSError):
        record.write(path, {**good, "figures": {"n": 2}})
    monkeypatch.undo()
    assert json.loads(path.read_text())["figures"] == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_scoped_name_keeps_quick_runs_off_the_reference_file():
    ns = argparse.Namespace(n=2000, model=None, decoding="free")
    assert record.scoped_name("embed", ns, {"n": 2000, "model": None}) == "embed"
    ns.n, ns.model = 64, "http://localhost:11434/v1"
    assert record.scoped_name("embed", ns, {"n": 2000, "model": None}) == "embed-n_64-model_http___localhost_11434_v1"


def test_unknown_benchmark_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "aieng.bench", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_generic_format_nests():
    text = format_generic({"a": 1.23456, "b": {"c": "x"}})
    assert text.splitlines() == ["a: 1.235", "b:", "  c: x"]


def test_all_runs_each_bench_as_its_chapters_reference_run():
    found = benchmarks()
    for name, module in found.items():
        module_defaults(module, name)  # every module's REFERENCE_ARGS parse
    retrieval = found["retrieval"]
    args = module_defaults(retrieval, "retrieval")
    assert args.rerank and args.finetune, "the index cites the re-ranked and fine-tuned rows: all must write them"
    assert retrieval.results_name(args) == "retrieval"  # the reference file, not a scoped copy
    assert not module_defaults(found["embed"], "embed").json
