"""Exercises of Month 6, notebook 02-anatomy-of-a-network (chapters/06-deep-learning).

``06.rmsprop``, ``06.layer_norm``, ``06.tune_optimiser`` (change it and measure),
``06.think_params``, ``06.think_adam_step``, ``06.think_dropout``.

Hints point to the idea or the function to read; they never contain the answer's code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aieng.book.cases import Case, exercise, same_choice

# ---- 06.rmsprop -----------------------------------------------------------------------------------

def _judge_rmsprop(rmsprop_step: Any) -> str | None:
    import numpy as np
    import torch

    configs = [dict(lr=0.01, alpha=0.99, eps=1e-8), dict(lr=0.1, alpha=0.9, eps=1e-3),
               dict(lr=1e-3, alpha=0.5, eps=1e-6)]
    for seed, kwargs in enumerate(configs):
        rng = np.random.default_rng(seed)
        shapes = [(3, 4), (5,)]
        ours = [rng.normal(size=s) for s in shapes]
        theirs = [torch.tensor(p.copy(), requires_grad=True) for p in ours]
        opt = torch.optim.RMSprop(theirs, **kwargs)
        states: list[dict] = [{} for _ in ours]
        for step in range(25):
            grads = [rng.normal(scale=10.0 ** rng.integers(-3, 2), size=s) for s in shapes]
            ours = [np.asarray(rmsprop_step(p, g, st, **kwargs), dtype=float)
                    for p, g, st in zip(ours, grads, states)]
            for t, g in zip(theirs, grads):
                t.grad = torch.tensor(g)
            opt.step()
            for p, t in zip(ours, theirs):
                ref = t.detach().numpy()
                if p.shape != ref.shape:
                    return f"step {step + 1}: returned shape {p.shape}, expected {ref.shape}"
                if not np.allclose(p, ref, rtol=1e-9, atol=1e-12):
                    worst = np.abs(p - ref).max()
                    return (f"rmsprop_step(..., {', '.join(f'{k}={v}' for k, v in kwargs.items())}): "
                            f"after step {step + 1} the parameters differ from torch.optim.RMSprop "
                            f"by up to {worst:.3g}")
    return None


@exercise("06.rmsprop", hint="Read adam_step above: RMSprop keeps only its second running mean (v), "
          "with alpha in the place of beta2, and has no first mean and no bias correction. Keep the "
          "running mean in state between calls; eps is added after the square root.")
def _rmsprop():
    return [Case(test=_judge_rmsprop)]


# ---- 06.layer_norm --------------------------------------------------------------------------------

def _judge_layer_norm(layer_norm: Any) -> str | None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    for shape, eps in [((4, 8), 1e-5), ((2, 3, 16), 1e-5), ((7,), 1e-3), ((5, 2), 1e-1)]:
        x = rng.normal(loc=3.0, scale=2.0, size=shape)
        gamma, beta = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
        got = np.asarray(layer_norm(x, gamma, beta, eps=eps), dtype=float)
        ref = F.layer_norm(torch.tensor(x), shape[-1:], torch.tensor(gamma), torch.tensor(beta),
                           eps=eps).numpy()
        if got.shape != ref.shape:
            return f"x of shape {shape}: returned shape {got.shape}, expected {ref.shape}"
        if not np.allclose(got, ref, rtol=1e-9, atol=1e-10):
            return (f"x of shape {shape}, eps={eps}: differs from torch.nn.functional.layer_norm by up "
                    f"to {np.abs(got - ref).max():.3g}")
    return None


@exercise("06.layer_norm", hint="Normalise over the last axis only, keeping dimensions so that the "
          "mean and variance broadcast against x. Read torch's layer_norm documentation for which "
          "variance it uses (divided by n or by n - 1) and where eps goes.")
def _layer_norm():
    return [Case(test=_judge_layer_norm)]


# ---- 06.tune_optimiser (change it and measure) ----------------------------------------------------

TUNE_MIN_ACCURACY = 0.92
"""``06.tune_optimiser``: the held-out accuracy the learner's optimiser must reach in 60 steps."""


@lru_cache(maxsize=1)
def _digits() -> tuple[Any, Any]:
    import torch
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)


def measure_optimiser(make_optimizer: Any, num_steps: int = 60) -> float:
    """Train a fixed 64 -> 64 -> 10 tanh network on sklearn's 8x8 digits; return held-out accuracy.

    Full batch, float32, the same starting weights every call (numpy seed 0, not torch's global
    generator): the first 1,200 digits train, the other 597 are held out. ``make_optimizer(params)``
    returns a ``torch.optim.Optimizer`` over ``params``.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    X, y = _digits()
    rng = np.random.default_rng(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = 1.0 / np.sqrt(layer.in_features)
            layer.weight.copy_(torch.tensor(rng.uniform(-bound, bound, layer.weight.shape)))
            layer.bias.copy_(torch.tensor(rng.uniform(-bound, bound, layer.bias.shape)))
    opt = make_optimizer(model.parameters())
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer returned {type(opt).__name__}; return a torch.optim optimizer")
    for _ in range(num_steps):
        opt.zero_grad()
        F.cross_entropy(model(X[:1200]), y[:1200]).backward()
        opt.step()
    with torch.no_grad():
        return float((model(X[1200:]).argmax(dim=1) == y[1200:]).float().mean())


def _judge_tune(make_optimizer: Any) -> str | None:
    accuracy = measure_optimiser(make_optimizer)
    if not accuracy >= TUNE_MIN_ACCURACY:
        return (f"held-out accuracy after 60 steps: {accuracy:.3f}; reach at least "
                f"{TUNE_MIN_ACCURACY}")
    return None


@exercise("06.tune_optimiser", hint="Measure first: call measure_optimiser with a few optimisers. The "
          "race in section 4 shows which optimisers get far in few steps; then the learning rate is "
          "the setting to move, by factors of ten, both up and down.")
def _tune_optimiser():
    return [Case(test=_judge_tune)]


# ---- Think! ---------------------------------------------------------------------------------------

@exercise("06.think_params", hint="A linear layer from d_in to d_out has a weight matrix and a bias "
          "vector; add up the three layers.")
def _think_params():
    return [Case(args=None, expected=269_322)]


@exercise("06.think_adam_step", hint="At the first step the running means hold only this gradient; "
          "apply the bias correction to each and write out the ratio m_hat / sqrt(v_hat).")
def _think_adam_step():
    return [Case(args=None, expected=0.001)]


@exercise("06.think_dropout", hint="Inverted dropout scales the units it keeps so that the average "
          "over masks equals the evaluation-time value.", compare=same_choice)
def _think_dropout():
    return [Case(args=None, expected="b")]
