"""Choosing among fixed options by the model's own log-probabilities: an answer that cannot wander off format.

Taught in Month 8 (chapters/08-embeddings-and-rag), where PubMedQA's yes/no/maybe questions are answered
this way; a close cousin of constrained decoding (:mod:`aieng.llm.constrain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["choose"]


def choose(model: Any, messages: Sequence[dict[str, str]], options: Sequence[str]) -> tuple[str, dict[str, float]]:
    """Pick the option the chat model finds most likely as the start of its reply.

    Scores each option by the summed log-probability of its tokens after the chat prompt: a
    constrained answer (``"yes"``, ``"no"``, ``"maybe"``) that cannot wander off format. The prompt is run
    once, and only its last position goes through the output layer (for the bundled model, 49,152 logits
    a position, a fifth of the prompt's work: 1.9 s -> 1.5 s a PubMedQA question on one thread); each option then costs one
    short forward pass over its own tokens (the prompt's keys and values are reused from the cache).

    Returns
    -------
    best, logprobs
        The chosen option and every option's log-probability.
    """
    import copy

    import torch

    if not options:
        raise ValueError("options is empty")
    ids = model.encode_chat(list(messages))
    scores = {}
    with torch.inference_mode():
        out = model.model(ids, use_cache=True, logits_to_keep=1)  # the last position's logits only
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        for opt in options:
            opt_ids = model.tokenizer(opt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(ids.device)
            logp = float(first[opt_ids[0, 0]])
            if opt_ids.shape[1] > 1:  # later tokens: continue from a copy of the prompt's cache
                cont = model.model(opt_ids[:, :-1], past_key_values=copy.deepcopy(out.past_key_values), use_cache=True)
                rest = torch.log_softmax(cont.logits[0].float(), dim=-1)
                logp += float(rest.gather(1, opt_ids[0, 1:, None]).sum())
            scores[opt] = logp
    return max(scores, key=scores.__getitem__), scores
