"""Each exercise of 02-anatomy-of-a-network accepts a correct reference answer and rejects a wrong one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aieng.book import CheckFailed, check, registry
from _exercise_contract import contract
from aieng.book.exercises.ch06_networks import TUNE_MIN_ACCURACY, measure_optimiser

# ---- reference answers ------------------------------------------------------------------------


def rmsprop_step(p, g, state, lr, alpha=0.99, eps=1e-8):
    sq = state["sq"] = alpha * state.get("sq", 0.0) + (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(sq) + eps)


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + eps) * gamma + beta


def adam_fast(params):
    return torch.optim.Adam(params, lr=1e-2)


# ---- wrong answers ----------------------------------------------------------------------------


def rmsprop_bias_corrected(p, g, state, lr, alpha=0.99, eps=1e-8):  # Adam's correction: not RMSprop
    t = state["t"] = state.get("t", 0) + 1
    sq = state["sq"] = alpha * state.get("sq", 0.0) + (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(sq / (1 - alpha**t)) + eps)


def rmsprop_eps_inside(p, g, state, lr, alpha=0.99, eps=1e-8):
    sq = state["sq"] = alpha * state.get("sq", 0.0) + (1 - alpha) * g * g
    return p - lr * g / np.sqrt(sq + eps)


def rmsprop_stateless(p, g, state, lr, alpha=0.99, eps=1e-8):  # forgets the running mean
    sq = (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(sq) + eps)


def layer_norm_unbiased(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=-1, ddof=1, keepdims=True) + eps) * gamma + beta


def layer_norm_eps_outside(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / (x.std(axis=-1, keepdims=True) + eps) * gamma + beta


def layer_norm_first_axis(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=0, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=0, keepdims=True) + eps) * gamma + beta


CASES = {
    "06.rmsprop": (rmsprop_step, rmsprop_bias_corrected),
    "06.layer_norm": (layer_norm, layer_norm_unbiased),
    "06.tune_optimiser": (adam_fast, lambda params: torch.optim.SGD(params, lr=0.01)),
    "06.think_params": (269_322, 268_800),
    "06.think_adam_step": (0.001, 0.05),
    "06.think_dropout": ("b", "a"),
}


def test_every_ch06_networks_exercise_is_covered():
    from aieng.book.exercises import ch06_networks

    names = {n for n in registry() if n.startswith("06.")}
    mine = {n for n in names if registry()[n].cases.__module__ == ch06_networks.__name__}
    assert mine == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("06.rmsprop", rmsprop_eps_inside),
    ("06.rmsprop", rmsprop_stateless),
    ("06.layer_norm", layer_norm_eps_outside),
    ("06.layer_norm", layer_norm_first_axis),
    ("06.tune_optimiser", lambda params: torch.optim.SGD(params, lr=0.5)),
    ("06.tune_optimiser", lambda params: torch.optim.Adam(params, lr=1e-3)),
    ("06.think_dropout", "d"),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_measure_optimiser_is_deterministic_and_separates_settings():
    slow = measure_optimiser(lambda params: torch.optim.SGD(params, lr=0.01))
    fast = measure_optimiser(adam_fast)
    assert fast == measure_optimiser(adam_fast)
    assert slow < 0.6 < TUNE_MIN_ACCURACY <= fast
    momentum = measure_optimiser(lambda params: torch.optim.SGD(params, lr=0.5, momentum=0.9))
    assert momentum >= TUNE_MIN_ACCURACY


def test_measure_optimiser_rejects_what_is_not_an_optimizer():
    with pytest.raises(TypeError, match="torch.optim"):
        measure_optimiser(lambda params: list(params))
