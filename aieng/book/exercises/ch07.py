"""Exercises of Month 7, transformers and LLMs (chapters/07-transformers-and-llms)."""

from __future__ import annotations

import math

import torch

from aieng.book.cases import Case, exercise, near, same_choice
from aieng.llm.bpe import merge_pair


def _tensor_equal(expected, got) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype
            and bool(torch.equal(got, expected)))


def _tensor_close(expected, got) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and bool(torch.allclose(got.float(), expected.float(), atol=1e-5, rtol=1e-5)))


# ----------------------------------------------------------------------------- 01-attention


def _window(T: int, w: int) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).tril() & ~torch.ones(T, T, dtype=torch.bool).tril(-w)


@exercise("07.sliding_window_mask", hint="Write the condition on row i (the query) and column j (the key) "
          "in words first: j is not in the future, and j is fewer than window steps back. Broadcasting "
          "a column of i against a row of j evaluates it for every pair at once.",
          compare=_tensor_equal)
def _sliding_window_mask():
    return [Case((4, 2), expected=torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]],
                                                 dtype=torch.bool)),
            Case((5, 1), expected=torch.eye(5, dtype=torch.bool)),
            Case((5, 9), expected=torch.ones(5, 5, dtype=torch.bool).tril()),
            Case((7, 3), expected=_window(7, 3))]


def _rope_pairs_ref(x: torch.Tensor, positions: torch.Tensor, base: float) -> torch.Tensor:
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angle = positions.double()[:, None] * theta
    even, odd = x.double()[..., 0::2], x.double()[..., 1::2]
    out = torch.empty(x.shape, dtype=torch.float64)
    out[..., 0::2] = even * angle.cos() - odd * angle.sin()
    out[..., 1::2] = even * angle.sin() + odd * angle.cos()
    return out.to(x.dtype)


def _rope_relative(fn) -> str | None:
    g = torch.Generator().manual_seed(11)
    q, k = torch.randn(1, 16, generator=g), torch.randn(1, 16, generator=g)

    def score(m: int, n: int) -> float:
        return float(fn(q, torch.tensor([m]), 10000.0) @ fn(k, torch.tensor([n]), 10000.0).T)

    for m, n, s in [(5, 2, 9), (30, 1, 13), (4, 4, 40)]:
        if not math.isclose(score(m, n), score(m + s, n + s), rel_tol=1e-4, abs_tol=1e-4):
            return (f"score(q at {m}, k at {n}) = {score(m, n):.4f} but after shifting both by {s} it is "
                    f"{score(m + s, n + s):.4f}: a RoPE score must depend on m - n only")
    x = torch.randn(3, 8, 16, generator=g)
    if not torch.allclose(fn(x, torch.arange(8), 10000.0).norm(dim=-1), x.norm(dim=-1), rtol=1e-5):
        return "a rotation must not change the length of a vector"
    return None


@exercise("07.rope_pairs", hint="Read pair i as the complex number x[2i] + 1j * x[2i + 1]: rotating it by an "
          "angle is multiplying by cos + 1j * sin (torch.view_as_complex and torch.polar do the bookkeeping), "
          "or write the 2-by-2 rotation out on the even and odd entries.", compare=_tensor_close)
def _rope_pairs():
    g = torch.Generator().manual_seed(5)
    x1 = torch.randn(2, 6, 8, generator=g)
    x2 = torch.randn(1, 3, 10, 4, generator=g)
    p1, p2 = torch.arange(6), torch.tensor([0, 3, 7, 100, 2, 9, 1, 50, 4, 8])
    return [Case((x1, p1, 10000.0), expected=_rope_pairs_ref(x1, p1, 10000.0)),
            Case((x2, p2, 500.0), expected=_rope_pairs_ref(x2, p2, 500.0)),
            Case((x1, torch.zeros(6, dtype=torch.long), 10000.0), expected=x1.clone()),
            Case(test=_rope_relative)]


def _first_token_ratio(layer: torch.nn.Module) -> float:
    grads = []
    for T in (5, 40):
        X = torch.randn(1, T, 16, requires_grad=True)
        out, _ = layer(X)
        out[:, -1].sum().backward()
        grads.append(X.grad[0, 0].norm().item())
    return grads[1] / grads[0]


def _remembers(make) -> str | None:
    ratios = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        layer = make()
        if not isinstance(layer, (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU)):
            return f"make_recurrent() returned {type(layer).__name__}, not torch.nn.RNN, LSTM or GRU"
        if layer.input_size != 16 or layer.hidden_size != 64 or not layer.batch_first:
            return "the layer needs input_size=16, hidden_size=64, batch_first=True"
        ratios.append(_first_token_ratio(layer))
    worst = min(ratios)
    if not worst >= 1e-2:
        return (f"gradient at T=40 / gradient at T=5 = {worst:.1e} for the worst of three seeds; "
                "it must be at least 1e-2")
    return None


@exercise("07.long_memory", hint="Read the equations in torch.nn.LSTM's documentation: which gate decides how "
          "much of the cell state survives a step, and what does it start at when its bias is zero? The "
          "bias vectors hold the four gates one after another, in the order the documentation lists them.")
def _long_memory():
    return [Case(test=_remembers)]


@exercise("07.think_scale", hint="Each product q_j * k_j has mean 0; what is its variance? Variances of "
          "independent terms add up.")
def _think_scale():
    return [Case(args=None, expected=64.0)]


@exercise("07.think_family", hint="Which mask lets a token see the words after it? Then: is the output a new "
          "sequence, or one label per input position?", compare=same_choice)
def _think_family():
    return [Case(args=None, expected="b")]


# ----------------------------------------------------------------------------- 02-build-a-gpt


def _lr(progress: float, lr: float, min_lr: float, warmup: float) -> float:
    if progress < warmup:
        return lr * progress / warmup
    decay = (progress - warmup) / (1 - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * decay)) * (lr - min_lr)


@exercise("07.lr_schedule", hint="Look at the plot of the schedule: a straight line from 0 up to lr over the "
          "warm-up, then half a period of a cosine from lr down to min_lr over the rest. Rescale progress so "
          "the decay part runs from 0 to 1; cos goes from 1 to -1 as its argument goes from 0 to pi.")
def _lr_schedule():
    args = [(0.0, 1e-3, 1e-4, 0.1), (0.05, 1e-3, 1e-4, 0.1), (0.1, 1e-3, 1e-4, 0.1), (0.55, 1e-3, 1e-4, 0.1),
            (1.0, 1e-3, 1e-4, 0.1), (0.3, 2e-3, 0.0, 0.2), (0.9, 6e-4, 6e-5, 0.02)]
    return [Case(a, expected=_lr(*a)) for a in args]


def _n_params(vocab_size: int, seq_len: int, n_layers: int, d_model: int) -> dict[str, int]:
    return {"token_embedding": vocab_size * d_model, "position_embedding": seq_len * d_model,
            "blocks": n_layers * (12 * d_model**2 + 2 * d_model), "final_norm": d_model}


@exercise("07.gpt_params", hint="Count one block from show_source(Block) and show_source(CausalSelfAttention): "
          "how many weights does each linear layer and each layer norm hold when there is no bias? The head "
          "is tied to the token embedding, so it adds nothing of its own.")
def _gpt_params():
    args = [(65, 256, 6, 384), (65, 64, 4, 128), (50257, 1024, 12, 768), (10, 8, 1, 4)]
    return [Case(a, expected=_n_params(*a)) for a in args]


@exercise("07.think_dominant", hint="Compute the four shares of gpt_params(50257, 1024, 12, 768). Then compare "
          "the block term's 12 * d_model**2 per layer with the embedding's vocab_size * d_model: divide both "
          "by d_model.", compare=same_choice)
def _think_dominant():
    return [Case(args=None, expected="b")]


def _beats(pair) -> str | None:
    if not (isinstance(pair, tuple) and len(pair) == 2):
        return "pass the baseline and yours as a pair: (baseline, yours)"
    base, yours = pair
    for r in pair:
        if not hasattr(r, "best_val_loss") or not hasattr(r, "num_steps"):
            return "both items must be TrainResult objects returned by train(...)"
    if yours is base:
        return "yours is the baseline itself: train a fresh model"
    if yours.num_steps != base.num_steps:
        return f"same number of steps, please: the baseline trained {base.num_steps}, yours {yours.num_steps}"
    if not yours.best_val_loss < base.best_val_loss:
        return (f"your best validation loss {yours.best_val_loss:.3f} does not beat the baseline's "
                f"{base.best_val_loss:.3f}")
    return None


@exercise("07.beat_recipe", hint="Twenty-five steps is a short budget: which settings make a model learn fastest "
          "at the very start? Try one change at a time (depth, width, learning rate, Adam's betas) and keep the "
          "seed fixed, so the difference you see is the change and not the luck of the draw.")
def _beat_recipe():
    return [Case(test=_beats)]


def _windows(data: torch.Tensor, ix: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.arange(seq_len)
    return data[ix[:, None] + offsets], data[ix[:, None] + offsets + 1]


def _pair_equal(expected, got) -> bool:
    return (isinstance(got, tuple) and len(got) == 2
            and all(_tensor_equal(e, g) for e, g in zip(expected, got)))


@exercise("07.char_batch", hint="Build a (batch, seq_len) grid of indices, one row per start index, by adding "
          "a row of offsets to a column of starts (broadcasting); index data with it. The targets are the "
          "same grid moved by one.", compare=_pair_equal)
def _char_batch():
    data = torch.arange(100, 120)
    return [Case((data, torch.tensor([0, 5]), 4), expected=_windows(data, torch.tensor([0, 5]), 4)),
            Case((data, torch.tensor([15]), 4), expected=_windows(data, torch.tensor([15]), 4)),
            Case((data, torch.tensor([3, 3, 9]), 1), expected=_windows(data, torch.tensor([3, 3, 9]), 1))]


# ----------------------------------------------------------------------------- 03-llms


def _min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    probs = logits.softmax(-1)
    keep = probs >= min_p * probs.max(-1, keepdim=True).values
    return logits.masked_fill(~keep, float("-inf"))


@exercise("07.min_p", hint="Softmax the logits, find the largest probability, and set to -inf every logit "
          "whose probability is below min_p times that maximum.", compare=_tensor_close)
def _min_p_cases():
    g = torch.Generator().manual_seed(3)
    l1 = torch.tensor([2.0, 1.0, 0.0, -1.0])
    l2 = torch.randn(50, generator=g) * 3
    return [Case((l1, 0.3), expected=_min_p(l1, 0.3)), Case((l1, 0.0), expected=l1.clone()),
            Case((l2, 0.1), expected=_min_p(l2, 0.1)), Case((l2, 1.0), expected=_min_p(l2, 1.0))]


def _seq_logprob(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logp = logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0]
    return (logp * mask).sum(-1)


@exercise("07.sequence_logprob", hint="log_softmax over the vocabulary, gather the target's entry at each "
          "position, multiply by the mask and sum over time.", compare=_tensor_close)
def _sequence_logprob():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 6, 11, generator=g)
    targets = torch.randint(11, (2, 6), generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0]], dtype=torch.float32)
    return [Case((logits, targets, mask), expected=_seq_logprob(logits, targets, mask)),
            Case((logits, targets, torch.ones(2, 6)), expected=_seq_logprob(logits, targets, torch.ones(2, 6))),
            Case((torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]), torch.ones(1, 3)),
                 expected=torch.tensor([3 * math.log(0.25)]))]


@exercise("07.bpe_merge", hint="Walk left to right with an index; when symbols[i], symbols[i + 1] is the pair, "
          "append the joined symbol and skip two, otherwise append symbols[i] and move one.")
def _bpe_merge():
    cases = [(list("hello"), ("l", "l")), (list("aaaa"), ("a", "a")), (list("aaa"), ("a", "a")),
             (["th", "e", " ", "th", "e"], ("th", "e")), (list("abc"), ("x", "y")), ([], ("a", "b"))]
    return [Case((list(s), p), expected=list(merge_pair(s, p))) for s, p in cases]


def _no_repeat_ref(logits: torch.Tensor, ids: list[int], n: int) -> torch.Tensor:
    out = logits.clone()
    if len(ids) < n - 1:
        return out
    for i in range(len(ids) - n + 1):
        if ids[i : i + n - 1] == ids[len(ids) - n + 1 :]:
            out[ids[i + n - 1]] = float("-inf")
    return out


def _loops_stopped(fn) -> str | None:
    """Greedy decoding on a toy bigram model that loops 0 -> 1 -> 2 -> 0; no 3-gram may repeat."""
    vocab = 8
    table = torch.full((vocab, vocab), 0.0)
    for a in range(vocab):
        table[a, (a + 1) % 3 if a < 3 else 0] = 5.0  # the loop
        table[a] += torch.linspace(0, 1, vocab)       # second choices, in a fixed order
    tokens = [0]
    for _ in range(30):
        logits = fn(table[tokens[-1]].clone(), list(tokens), 3)
        tokens.append(int(torch.as_tensor(logits).argmax()))
    grams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    repeats = len(grams) - len(set(grams))
    if repeats:
        return f"greedy decoding with your function still repeated {repeats} of {len(grams)} 3-grams: {tokens}"
    return None


@exercise("07.no_repeat", hint="Take the last n - 1 tokens as a prefix; every earlier place where that prefix "
          "occurs tells you one token that must not come next. Change a copy of the logits, never the "
          "learner-visible input, and leave the rest untouched.", compare=_tensor_close)
def _no_repeat():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(10, generator=g)
    cases = [([1, 2, 3, 1, 2], 3), ([1, 2, 3, 1, 2], 2), ([4, 4, 4, 4], 2), ([1], 3), ([5, 6, 7, 8], 3),
             ([1, 2, 9, 1, 2, 3, 1, 2], 3)]
    return ([Case((logits, ids, n), expected=_no_repeat_ref(logits, ids, n)) for ids, n in cases]
            + [Case(test=_loops_stopped)])


@exercise("07.think_dpo", hint="Write the margin out: the +5 appears in the chosen log-ratio and in the rejected "
          "one. What is -log(sigmoid(0))?", compare=near(abs_tol=1e-3))
def _think_dpo():
    return [Case(args=None, expected=math.log(2))]

