"""Tests of aieng.llm.kernels (the fused GGUF block kernel) and aieng.llm.engine (the small Llama engine).

The kernel is checked against a plain fp32 product with the dequantised weights; the engine against
transformers running the same fp32 weights: logits, greedy answers and constrained decoding.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _doubles import one_thread  # noqa: F401  (fixture)

from aieng.llm import kernels
from aieng.llm.engine import KVCache, LlamaEngine, supports, top_p_filter
from aieng.llm.kernels import BlockMatrix, KernelUnavailable
from aieng.llm import GREEDY_PROMPTS, SMOLLM2_GGUF, load_chat_model, smollm2_path

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_blocks(kind: str, N: int, K: int, seed: int = 0) -> BlockMatrix:
    rng = np.random.default_rng(seed)
    nb = K // 32
    d = rng.uniform(0.001, 0.05, (N, nb)).astype(np.float16).astype(np.float32)
    if kind == "Q4_1":
        qs = rng.integers(0, 256, (N, nb, 16), dtype=np.uint8)
        m = rng.uniform(-0.3, 0.0, (N, nb)).astype(np.float16).astype(np.float32)
        return BlockMatrix(kind, qs, d, m)
    return BlockMatrix(kind, rng.integers(-128, 128, (N, nb, 32), dtype=np.int8), d)


# ----------------------------------------------------------------------------- the kernel


@pytest.mark.parametrize("kind", ["Q4_1", "Q8_0"])
@pytest.mark.parametrize("N,M", [(13, 1), (64, 1), (21, 3)])  # rows not a multiple of 8, and several x rows
def test_kernel_equals_fp32_product_with_dequantised_weights(kind, N, M):
    mat = _random_blocks(kind, N, 96, seed=N + M)
    x = torch.randn(M, 96, generator=torch.Generator().manual_seed(1))
    expected = x @ mat.dequantize().T
    got = mat.matvec(x)
    assert got.shape == (M, N)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flags", [["-mavx2", "-mfma"], []], ids=["avx2", "plain-c"])
def test_every_code_path_of_the_kernel(flags, tmp_path):
    """The AVX2 and plain-C versions (what other CPUs compile) agree with fp32 too."""
    import shutil
    import subprocess

    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "the test machine has a C compiler (the default model needs one)"
    so = tmp_path / "k.so"
    subprocess.run([cc, "-O3", "-fopenmp", *flags, "-shared", "-fPIC", "-o", str(so), str(kernels.SOURCE)], check=True)
    lib = kernels.load(so)
    for kind in ("Q4_1", "Q8_0"):
        mat = _random_blocks(kind, 21, 96, seed=5)
        x = torch.randn(2, 96, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(mat.matvec(x, lib), x @ mat.dequantize().T, rtol=1e-5, atol=1e-5)


def test_dequantise_follows_the_q4_1_layout():
    # one row, one block: byte j holds element j (low nibble) and element j + 16 (high nibble)
    qs = np.array([[[(15 - j) << 4 | j for j in range(16)]]], dtype=np.uint8)
    mat = BlockMatrix("Q4_1", qs, np.array([[0.5]], np.float32), np.array([[-1.0]], np.float32))
    w = mat.dequantize()[0]
    assert w[:16].tolist() == [0.5 * j - 1 for j in range(16)]
    assert w[16:].tolist() == [0.5 * (15 - j) - 1 for j in range(16)]


def test_stack_fuses_rows():
    a, b = _random_blocks("Q4_1", 5, 64, 1), _random_blocks("Q4_1", 3, 64, 2)
    both = BlockMatrix.stack([a, b])
    assert torch.equal(both.dequantize(), torch.cat([a.dequantize(), b.dequantize()]))
    with pytest.raises(ValueError, match="one kind"):
        BlockMatrix.stack([a, _random_blocks("Q8_0", 2, 64)])


def test_kernel_bad_input_is_a_clear_error():
    mat = _random_blocks("Q8_0", 4, 64)
    with pytest.raises(ValueError, match=r"expected float32 \[\.\.\., 64\]"):
        mat.matvec(torch.zeros(1, 32))
    with pytest.raises(ValueError, match="expected float32"):
        mat.matvec(torch.zeros(1, 64, dtype=torch.float64))
    with pytest.raises(ValueError, match="unsupported block type 'Q5_K'"):
        BlockMatrix("Q5_K", np.zeros((1, 1, 16), np.uint8), np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="need their minimums"):
        BlockMatrix("Q4_1", np.zeros((1, 1, 16), np.uint8), np.zeros((1, 1), np.float32))


def test_no_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang on this PATH
    with pytest.raises(KernelUnavailable, match="no C compiler"):
        kernels._build(tmp_path / "k.so")
    assert not (tmp_path / "k.so").exists()


def test_default_falls_back_to_fp32_with_a_warning(monkeypatch):
    monkeypatch.setattr(kernels, "unavailable_reason", lambda: "no C compiler found (set $CC, or install gcc)")
    with pytest.warns(RuntimeWarning, match="decoding in fp32.*no C compiler"):
        llm = load_chat_model("smollm2", device="cpu", cache=False)
    assert llm.dtype == "fp32" and llm.engine is None
    assert "Paris" in llm.generate("What is the capital of France?", max_new_tokens=12)


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.99, 1.0])
def test_top_p_filter_keeps_what_transformers_keeps(top_p):
    from transformers import TopPLogitsWarper

    scores = torch.randn(1000, generator=torch.Generator().manual_seed(int(top_p * 100))) * 3
    ours = top_p_filter(scores, top_p)
    theirs = TopPLogitsWarper(top_p)(None, scores[None].clone())[0]
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    assert torch.isfinite(ours).sum() >= 1


def test_kv_cache_grows_and_keeps_its_contents():
    cache = KVCache()
    cache.reserve(2, 3, 4, 10)
    cache.k[1][:, :10] = 7.0
    cache.length = 10
    cache.reserve(2, 3, 4, 600)
    assert cache.k[1].shape == (3, 600, 4) and len(cache.v) == 2
    assert bool((cache.k[1][:, :10] == 7.0).all()) and bool((cache.k[1][:, 10:] == 0).all())


def test_supports_names_what_it_cannot_run():
    class Cfg:
        model_type = "gpt2"

    assert "gpt2" in supports(Cfg())


# ----------------------------------------------------------------------------- the engine on the real model


@pytest.fixture(scope="module")
def fp32():
    return load_chat_model("smollm2", dtype="fp32", device="cpu")


@pytest.fixture(scope="module")
def engine(fp32):
    return LlamaEngine(fp32.model, smollm2_path() / SMOLLM2_GGUF)


def test_gguf_blocks_are_exactly_the_fp32_weights(fp32, engine):
    hf = fp32.model.model.layers[3]
    layer = engine.layers[3]
    a, m = hf.self_attn, hf.mlp
    assert torch.equal(layer.qkv.dequantize(), torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
    assert torch.equal(layer.o.dequantize(), a.o_proj.weight)
    assert torch.equal(layer.gate_up.dequantize(), torch.cat([m.gate_proj.weight, m.up_proj.weight]))
    assert torch.equal(layer.down.dequantize(), m.down_proj.weight)
    assert torch.equal(engine.head.dequantize(), fp32.model.lm_head.weight)


def test_engine_logits_match_transformers(fp32, engine):
    ids = fp32.encode_chat("What is the capital of France?")
    with torch.inference_mode():
        ref = fp32.model(ids, use_cache=True)
        logits, cache = engine.forward(ids)
        torch.testing.assert_close(logits, ref.logits[0, -1], rtol=0, atol=2e-4)
        step = torch.tensor([[int(logits.argmax())]])  # one token: the kernel path
        ref2 = fp32.model(step, past_key_values=ref.past_key_values, use_cache=True)
        logits2, cache = engine.forward(step, cache)
        torch.testing.assert_close(logits2, ref2.logits[0, -1], rtol=0, atol=2e-4)
        more = torch.tensor([[28, 3458, 314]])  # several tokens after a past: the masked fp32 path
        ref3 = fp32.model(more, past_key_values=ref2.past_key_values, use_cache=True)
        logits3, cache = engine.forward(more, cache)
        torch.testing.assert_close(logits3, ref3.logits[0, -1], rtol=0, atol=2e-4)
    assert cache.length == ids.shape[1] + 4


def test_engine_greedy_answers_equal_fp32(fp32, engine):
    for prompt in GREEDY_PROMPTS[:3]:
        ids = fp32.encode_chat(prompt)
        with torch.inference_mode():
            ref = fp32.model.generate(**fp32._gen_kwargs(ids, 24, 0.0, 1.0, None, None))[0, ids.shape[1]:]
        assert list(engine.generate_tokens(ids, 24)) == ref.tolist(), prompt


def test_fused_decode_step_equals_the_per_operation_step(fp32, engine):
    """The C decoding step (every layer in one call) computes what the PyTorch-call version computes."""
    ids = fp32.encode_chat("Name a colour.")
    fused, _ = engine.forward(ids)
    caches = {True: engine.forward(ids)[1], False: engine.forward(ids)[1]}
    token = int(fused.argmax())
    try:
        for _ in range(6):
            logits = {}
            for mode in (True, False):
                engine.fused = mode
                logits[mode], caches[mode] = engine.forward(torch.tensor([token]), caches[mode])
            # float32 summed in a different order (the C loop against torch's kernels, which torch picks per CPU):
            # equal to a few parts in a million, relative, as the CI's runner showed, not to a fixed absolute step
            torch.testing.assert_close(logits[True], logits[False], rtol=1e-5, atol=1e-4)
            token = int(logits[True].argmax())
    finally:
        engine.fused = True
    n = caches[True].length
    for i in (0, len(engine.layers) - 1):  # the keys and values it wrote into the cache
        torch.testing.assert_close(caches[True].k[i][:, :n], caches[False].k[i][:, :n], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(caches[True].v[i][:, :n], caches[False].v[i][:, :n], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("flags", [["-mavx2", "-mfma"], []], ids=["avx2", "plain-c"])
def test_fused_decode_step_on_every_code_path(flags, fp32, engine, tmp_path):
    """Greedy answers equal the fp32 model's with the AVX2 and plain-C builds of the decoding step."""
    import shutil
    import subprocess

    cc = shutil.which("gcc") or shutil.which("cc")
    so = tmp_path / "k.so"
    subprocess.run([cc, "-O3", "-fopenmp", *flags, "-shared", "-fPIC", "-o", str(so), str(kernels.SOURCE), "-lm"],
                   check=True)
    ids = fp32.encode_chat(GREEDY_PROMPTS[0])
    with torch.inference_mode():
        ref = fp32.model.generate(**fp32._gen_kwargs(ids, 12, 0.0, 1.0, None, None))[0, ids.shape[1]:]
    default = engine._lib
    engine._lib = kernels.load(so)
    try:
        assert list(engine.generate_tokens(ids, 12)) == ref.tolist()
    finally:
        engine._lib = default


def test_default_model_runs_on_the_engine(fp32):
    default = load_chat_model("smollm2", device="cpu")
    assert default.dtype == "gguf" and default.engine is not None
    answer = default.generate("What is the capital of France?", max_new_tokens=12)
    assert answer == fp32.generate("What is the capital of France?", max_new_tokens=12)
    assert "".join(default.stream("What is the capital of France?", max_new_tokens=12)) == answer
    cut = default.generate("List three primary colours.", max_new_tokens=16, stop=["\n"])
    assert "\n" not in cut and cut
    assert "".join(default.stream("List three primary colours.", max_new_tokens=16, stop=["\n"])) == cut
    a = default.generate("Say a word.", max_new_tokens=8, temperature=1.0, seed=3)
    assert a == default.generate("Say a word.", max_new_tokens=8, temperature=1.0, seed=3)
    # a copy whose model was replaced (fine-tuning in Month 7) must not keep decoding the old weights
    tuned = copy.copy(default)
    tuned.model = copy.deepcopy(fp32.model)
    assert tuned.active_engine() is None and default.active_engine() is default.engine


def test_constrained_decoding_is_the_same_on_the_engine(fp32):
    from aieng.agents.callsyntax import call_regex
    from aieng.llm.constrain import decode_llguidance

    default = load_chat_model("smollm2", device="cpu")
    schema = [{"name": "get_weather", "description": "Weather in a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                               "unit": {"type": "string", "enum": ["c", "f"]}},
                              "required": ["city"]}}]
    messages = [{"role": "system", "content": "Reply with a call like [get_weather(city=\"X\")]."},
                {"role": "user", "content": "How warm is it in Paris, in celsius?"}]
    pattern = call_regex(schema)
    a = decode_llguidance(default, messages, pattern, max_new_tokens=40)
    b = decode_llguidance(fp32, messages, pattern, max_new_tokens=40)
    assert a.text == b.text and a.text.startswith("[get_weather(")


def test_fast_gguf_reader_equals_gguf_readers_tensor_table():
    from gguf import GGUFReader

    from aieng.llm.ggufread import read_tensors

    path = smollm2_path() / SMOLLM2_GGUF
    ours, theirs = read_tensors(path), GGUFReader(str(path)).tensors
    assert list(ours) == [t.name for t in theirs]
    for t in theirs:
        mine = ours[t.name]
        assert mine.tensor_type == t.tensor_type and mine.shape == tuple(int(n) for n in t.shape), t.name
        assert np.array_equal(np.asarray(mine.data).view(np.uint8), np.asarray(t.data).view(np.uint8).ravel()), t.name


def test_fast_gguf_reader_bad_input_is_a_clear_error(tmp_path):
    from aieng.llm.ggufread import GGUFFormatError, read_tensors

    (tmp_path / "a.gguf").write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(GGUFFormatError, match="not a GGUF file"):
        read_tensors(tmp_path / "a.gguf")
    head = (smollm2_path() / SMOLLM2_GGUF).read_bytes()[:4096]
    (tmp_path / "cut.gguf").write_bytes(head)
    with pytest.raises(GGUFFormatError, match="ends inside its header|past the end"):
        read_tensors(tmp_path / "cut.gguf")
