"""Unit tests of aieng.llm.constrain (Month 9): the call grammar and the from-scratch regex constraint."""

from __future__ import annotations


import pytest

from aieng.agents.callsyntax import Call, call_regex, parse_calls
from aieng.llm.constrain import RegexConstraint

FNS = [
    {"name": "math.hypot", "parameters": {"type": "dict", "properties": {
        "x": {"type": "integer"}, "y": {"type": "integer"}, "z": {"type": "integer"}}, "required": ["x", "y"]}},
    {"name": "play", "parameters": {"type": "dict", "properties": {
        "song": {"type": "string"}, "loud": {"type": "boolean"}, "mode": {"type": "string", "enum": ["a", "b"]},
        "ids": {"type": "array", "items": {"type": "float"}}}, "required": ["song"]}},
]


@pytest.fixture(scope="module")
def rc():
    return RegexConstraint(call_regex(FNS))


@pytest.mark.parametrize("text", ["[]", "[math.hypot(x=4, y=5)]", "[math.hypot(x=4, y=5, z=-1)]",
                                  '[play(song="Hey Jude", loud=True, mode="b", ids=[1.5, 2])]',
                                  '[math.hypot(x=1, y=2), play(song="x")]'])
def test_accepts_valid_calls(rc, text):
    assert rc.complete(text) and parse_calls(text) is not None


@pytest.mark.parametrize("text", ["[math.hypot(x=4)]", "[math.hypot(y=5, x=4)]", '[play(song=3)]',
                                  '[play(song="x", mode="c")]', "[sqrt(x=1)]", "[math.hypot(x=4.5, y=1)]", "hello"])
def test_rejects_invalid_calls(rc, text):
    assert not rc.complete(text)


def test_prefixes(rc):
    assert rc.viable("") and rc.viable("[ma") and rc.viable('[play(song="He')
    assert not rc.viable("[x") and not rc.viable("The")
    assert rc.token_mask("[math.hypot(", ["x=", "y=", "z", ")"]) == [True, False, False, False]


def test_no_functions():
    assert RegexConstraint(call_regex([])).complete("[]")
    with pytest.raises(ValueError):
        call_regex([], allow_empty=False)


def _canonical_call(truth, functions):
    """BFCL's first accepted answer as a call, arguments in the grammar's order (required, then optional)."""
    (name, params), = truth.items()
    schema = next(f for f in functions if f["name"] == name)["parameters"]
    required = schema.get("required") or []
    order = [k for k in schema["properties"] if k in required] + [k for k in schema["properties"] if k not in required]
    def pick(k):  # the schema's required parameters are written even where BFCL would accept them left out
        values = [v for v in params.get(k, []) if v != ""]
        return values[0] if values and (k in required or params[k][0] != "") else None

    args = {k: pick(k) for k in order if pick(k) is not None}
    flat = all(not isinstance(v, (dict, list)) and not (isinstance(v, float) and "e" in repr(v)) for v in args.values())
    return Call(name, args), flat


def test_bfcl_grammars_compile_and_admit_the_right_answers():
    """Every BFCL schema of the shared half compiles, admits ``[]``, and admits its own correct answer."""
    import regex

    from aieng.agents.callsyntax import Call, format_calls  # noqa: F401  (Call used by _canonical_call)
    from aieng.data import BFCL_CATEGORIES, load_bfcl

    checked = 0
    for category in BFCL_CATEGORIES:
        for item in load_bfcl(category):
            pattern = call_regex(item["function"], max_calls=max(4, len(item["ground_truth"])))
            RegexConstraint(pattern)
            assert regex.fullmatch(pattern, "[]"), item["id"]
            calls = [_canonical_call(t, item["function"]) for t in item["ground_truth"]]
            if not calls or not all(flat for _, flat in calls):
                continue  # nested or scientific-notation answers: the grammar writes them another way
            text = format_calls([c for c, _ in calls])
            assert regex.fullmatch(pattern, text), f"{item['id']}: the grammar rejects the right answer {text}"
            checked += 1
    assert checked >= 400, f"only {checked} answers were checked: the data set is not the shared half"


# ----------------------------------------------------------------------------- the token budget


class _Rambler:
    """A stand-in for a local model that wants to go on for ever: random logits, end-of-text and closing
    quotes pushed down, so without finishing every reply would be cut inside a call. Real tokenizer."""

    def __init__(self, real, seed):
        import torch

        self.tokenizer, self.encode_chat, self.context_length = real.tokenizer, real.encode_chat, real.context_length
        self.g = torch.Generator().manual_seed(seed)
        self.n = real.model.config.vocab_size
        self.down = [real.tokenizer.eos_token_id] + real.tokenizer.encode('"])}', add_special_tokens=False)

    def model(self, input_ids, past_key_values=None, use_cache=True):
        import types

        import torch

        logits = torch.randn(1, 1, self.n, generator=self.g)
        logits[0, 0, self.down] = -50.0
        return types.SimpleNamespace(logits=logits, past_key_values=None)


@pytest.fixture(scope="module")
def smollm():
    from aieng.llm import load_chat_model

    return load_chat_model("smollm2", dtype="fp32")


@pytest.mark.parametrize("seed", range(6))
def test_a_reply_cut_at_the_token_budget_still_closes_its_call(smollm, seed):
    """The class behind BFCL's one invalid constrained reply: the budget ends inside a call (a string,
    an object, a required argument not yet written). Finishing must close it, for any schema."""
    import random

    from aieng.llm.constrain import decode_llguidance
    from test_callsyntax import random_functions

    rng = random.Random(seed)
    fns = random_functions(rng)
    fns.append({"name": "book", "parameters": {"type": "dict", "required": ["where", "opts"], "properties": {
        "where": {"type": "string"}, "opts": {"type": "dict", "required": ["n"], "properties": {
            "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}})
    pattern = call_regex(fns)
    out = decode_llguidance(_Rambler(smollm, seed), "book something", pattern, max_new_tokens=rng.randint(1, 12),
                            finish_tokens=48)  # the old default; finishing must close within it
    assert out.stop_reason in {"complete", "grammar_end"}, (out.stop_reason, out.text)
    assert RegexConstraint(pattern).complete(out.text), out.text
    parse_calls(out.text)


def test_a_budget_too_small_to_finish_says_so(smollm, monkeypatch):
    """With no finishing allowed, the cut reply is reported as cut: an error, never a call."""
    import aieng.agents.loop as loop
    from aieng.agents import ReasoningEngine
    from aieng.llm.constrain import decode_llguidance

    fns = [{"name": "f", "parameters": {"properties": {"s": {"type": "string"}}, "required": ["s"]}}]
    out = decode_llguidance(_Rambler(smollm, 0), "go", call_regex(fns, allow_empty=False), max_new_tokens=3,
                            finish_tokens=0)
    assert out.stop_reason == "max_tokens" and not RegexConstraint(call_regex(fns)).complete(out.text)
    monkeypatch.setattr(loop, "decode_llguidance", lambda *a, **k: decode_llguidance(*a, **{**k, "finish_tokens": 0}))
    monkeypatch.setattr(ReasoningEngine, "grammar", lambda self, schemas: call_regex(schemas, allow_empty=False))
    d = ReasoningEngine(_Rambler(smollm, 0), max_new_tokens=3).decide([{"role": "user", "content": "go"}], fns)
    assert d.calls == [] and d.decode_stop == "max_tokens" and "cut at the token budget" in d.error, d
