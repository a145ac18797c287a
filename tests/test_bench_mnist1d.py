"""aieng.bench.mnist1d: the paper's models and data, a tiny run through the dispatcher, bad options refused,
and the chapter's results file."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from aieng.bench import main, mnist1d, module_defaults
from aieng.book import results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "chapters" / "06-deep-learning" / "results" / "mnist1d.json"


def test_the_models_have_the_papers_parameter_counts():
    assert sum(p.numel() for p in mnist1d.build_model("mlp", 256).parameters()) == 78_858
    assert sum(p.numel() for p in mnist1d.build_model("cnn").parameters()) == 5_210
    with pytest.raises(ValueError, match="unknown model"):
        mnist1d.build_model("gru")


def test_the_cnn_maps_a_batch_of_signals_to_ten_logits():
    import torch

    out = mnist1d.build_model("cnn")(torch.zeros(3, 40))
    assert tuple(out.shape) == (3, 10)


@pytest.fixture(scope="module")
def offline_data():
    """MNIST-1D generated once for this module, with every socket refused while it is made."""
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    real, socket.socket = socket.socket, refuse
    try:
        return mnist1d.make_data()
    finally:
        socket.socket = real


def test_the_data_is_generated_without_the_network(offline_data):
    data = offline_data
    assert data["x"].shape == (4000, 40) and data["x_test"].shape == (1000, 40)
    assert sorted(set(data["y"].tolist())) == list(range(10))


def test_defaults_are_the_papers_settings_and_name_the_reference_file():
    args = module_defaults(mnist1d, "mnist1d")
    assert (args.steps, args.hidden, args.lr, args.batch_size) == (8000, 256, 1e-2, 100)
    assert mnist1d.results_name(args) == "mnist1d"
    args.steps = 50
    assert mnist1d.results_name(args) == "mnist1d-steps_50"   # a quick run never overwrites it


@pytest.mark.parametrize("flag, value", [("steps", 0), ("seeds", 0), ("lr", -1.0), ("batch_size", 0)])
def test_bad_options_are_refused(flag, value):
    args = argparse.Namespace(**{**mnist1d.DEFAULTS, flag: value})
    with pytest.raises(ValueError):
        mnist1d.run(args)


def test_a_tiny_run_through_the_dispatcher_writes_a_valid_record(tmp_path, capsys, monkeypatch,
                                                                  offline_data):
    monkeypatch.setattr(mnist1d, "make_data", lambda: offline_data)   # generated once (it takes seconds)
    out = tmp_path / "mnist1d.json"
    assert main(["mnist1d", "--steps", "30", "--hidden", "32", "--device", "cpu", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    results.validate(record)
    figures = record["figures"]
    assert record["command"] == "python -m aieng.bench mnist1d --steps 30 --hidden 32 --device cpu"
    assert figures["device"] == "cpu" and figures["settings"]["steps"] == 30
    for kind in ("mlp", "cnn"):
        m = figures["models"][kind]
        assert 0.0 <= m["test_accuracy"] <= 1.0 and m["paper_test_accuracy"] == mnist1d.PAPER[kind]
    assert "gap (CNN - MLP)" in capsys.readouterr().out


def test_the_chapters_results_file_reproduces_the_papers_gap():
    """The committed reference run: the paper's settings, and the CNN far ahead of the MLP, as published."""
    record = json.loads(RESULTS.read_text())
    results.validate(record)
    figures = record["figures"]
    assert record["command"] == "python -m aieng.bench mnist1d"
    assert figures["settings"]["steps"] == 8000 and figures["settings"]["lr"] == 0.01
    mlp, cnn = figures["models"]["mlp"]["test_accuracy"], figures["models"]["cnn"]["test_accuracy"]
    assert cnn > 0.85 and mlp < cnn - 0.15, (mlp, cnn)
    assert abs(cnn - mnist1d.PAPER["cnn"]) < 0.06 and abs(mlp - mnist1d.PAPER["mlp"]) < 0.1
