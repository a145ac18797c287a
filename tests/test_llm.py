"""Unit tests of aieng.llm: bad input, the OpenAI-compatible client against a test double, the local
model (loaded once for the module) and the default dtype's greedy answers against fp32."""

from __future__ import annotations

import argparse
import json
import time

import httpx
import pytest
from _doubles import one_thread  # noqa: F401  (fixture)

from aieng.llm import local as llm_module
from aieng.llm import (DEFAULT_DTYPE, GREEDY_PROMPTS, LLMError, ModelNotFoundError, OpenAIChatModel,
                       load_chat_model)


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- bad input, no model needed


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="unknown chat model 'no-such-model'.*smollm2"):
        load_chat_model("no-such-model")


def test_hugging_face_name_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="could not load 'no-such-org/no-such-model'"):
        load_chat_model("no-such-org/no-such-model", dtype="fp32")


def test_endpoint_without_a_model_name(monkeypatch):
    monkeypatch.delenv("AIENG_LLM_MODEL", raising=False)
    with pytest.raises(ModelNotFoundError, match="no model name"):
        load_chat_model("http://localhost:11434/v1", cache=False)


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype"):
        load_chat_model("smollm2", dtype="fp8")


def test_unreachable_endpoint_fails_fast():
    client = OpenAIChatModel("http://127.0.0.1:9/v1", "any", timeout=3.0)
    t0 = time.perf_counter()
    with pytest.raises(LLMError, match="cannot reach"):
        client.generate("hello")
    assert time.perf_counter() - t0 < 5.0


def test_cache_can_be_turned_off(monkeypatch, tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"x")
    monkeypatch.setenv("AIENG_CACHE", "0")
    assert llm_module._converted_dir(str(tmp_path), "m.gguf") is None
    monkeypatch.setenv("AIENG_CACHE", str(tmp_path / "cache"))
    assert llm_module._converted_dir(str(tmp_path), "m.gguf").parent == tmp_path / "cache"


# ----------------------------------------------------------------------------- a scripted test double


class ScriptedEndpoint:
    """A test double of an OpenAI-compatible server (not a model): it records each request and answers
    with a fixed reply, as JSON or as a server-sent-event stream."""

    def __init__(self, reply: str = "Paris.", status: int = 200) -> None:
        self.reply, self.status, self.requests = reply, status, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request, body))
        if self.status >= 400:
            return httpx.Response(self.status, text="model overloaded")
        if body.get("stream"):
            chunks = [self.reply[:3], self.reply[3:]]
            lines = [f"data: {json.dumps({'choices': [{'delta': {'content': c}}]})}\n\n" for c in chunks]
            return httpx.Response(200, text="".join(lines) + "data: [DONE]\n\n",
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": self.reply}}],
                                         "usage": {"prompt_tokens": 7, "completion_tokens": 2}})


def test_openai_client_against_test_double():
    double = ScriptedEndpoint()
    client = OpenAIChatModel("https://test/v1", "tiny", api_key="k", transport=httpx.MockTransport(double))
    text = client.generate([{"role": "user", "content": "Capital of France?"}], max_new_tokens=5, stop=["\n"], seed=1)
    assert text == "Paris."
    request, body = double.requests[0]
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    assert body["model"] == "tiny" and body["max_tokens"] == 5 and body["stop"] == ["\n"] and body["seed"] == 1
    assert client.last_usage.prompt_tokens == 7 and client.last_usage.completion_tokens == 2


def test_openai_client_streams():
    double = ScriptedEndpoint("Hello there")
    client = OpenAIChatModel("http://test/v1", "tiny", transport=httpx.MockTransport(double))
    pieces = list(client.stream("hi"))
    assert pieces == ["Hel", "lo there"]
    assert double.requests[0][1]["stream"] is True


def test_openai_client_http_error_and_bad_reply():
    client = OpenAIChatModel("http://test/v1", "tiny", transport=httpx.MockTransport(ScriptedEndpoint(status=503)))
    with pytest.raises(LLMError, match="503"):
        client.generate("hi")
    bad = OpenAIChatModel("http://test/v1", "tiny",
                          transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"oops": 1})))
    with pytest.raises(LLMError, match="not an OpenAI chat completion"):
        bad.generate("hi")


def test_empty_and_malformed_messages():
    client = OpenAIChatModel("http://test/v1", "tiny", transport=httpx.MockTransport(ScriptedEndpoint()))
    with pytest.raises(ValueError, match="empty"):
        client.generate([])
    with pytest.raises(ValueError, match="role"):
        client.generate([{"content": "no role"}])
    with pytest.raises(ValueError, match="max_new_tokens"):
        client.generate("hi", max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        client.generate("hi", top_p=0)


# ----------------------------------------------------------------------------- misbehaving endpoints (real loopback servers)


class _Server:
    """A loopback TCP server in a thread that answers every connection with ``behave(conn)``; bounded."""

    def __init__(self, behave):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.stop = threading.Event()
        self.behave = behave
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conns = []
        for _ in range(200):  # at most ~40 s
            if self.stop.is_set():
                break
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conns.append(conn)
            try:
                conn.settimeout(0.5)
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                self.behave(conn, self.stop)
            except OSError:
                pass
        for c in conns:
            c.close()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _silent(conn, stop):
    stop.wait(10)


def _trickle(conn, stop, stream=False):
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: " + (b"text/event-stream" if stream else b"application/json")
            + b"\r\nContent-Length: 100000\r\n\r\n")
    conn.sendall(head)
    for _ in range(100):  # one byte every 0.1 s: each read "succeeds", so httpx's read timeout never trips
        if stop.wait(0.1):
            return
        conn.sendall(b"d" if not stream else b" ")


@pytest.mark.parametrize("behave", [_silent, _trickle, lambda c, s: _trickle(c, s, stream=True)],
                         ids=["silent", "trickle", "trickle-stream"])
def test_a_slow_or_silent_server_is_cut_at_the_deadline(behave):
    server = _Server(behave)
    try:
        client = OpenAIChatModel(server.url, "any", timeout=1.0)
        t0 = time.perf_counter()
        with pytest.raises(LLMError, match="deadline"):
            "".join(client.stream("hi")) if behave not in (_silent, _trickle) else client.generate("hi")
        assert time.perf_counter() - t0 < 2.5, "the total deadline is 1 s"
    finally:
        server.close()


def test_the_deadline_comes_from_load_chat_model_and_the_setting(monkeypatch):
    monkeypatch.setenv("AIENG_LLM_TIMEOUT", "7")
    assert OpenAIChatModel("http://127.0.0.1:9/v1", "m").timeout == 7.0
    assert load_chat_model("http://127.0.0.1:9/v1", model="m", timeout=2.5, cache=False).timeout == 2.5
    monkeypatch.setenv("AIENG_LLM_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="AIENG_LLM_TIMEOUT"):
        OpenAIChatModel("http://127.0.0.1:9/v1", "m")


@pytest.mark.parametrize("line", ["data: {not json", 'data: {"choices": 3}', 'data: ["a"]',
                                  'data: {"choices": [{"delta": {"content": 5}}]}'])
def test_malformed_stream_lines_are_a_clear_error(line):
    client = OpenAIChatModel("http://test/v1", "tiny", transport=httpx.MockTransport(
        lambda r: httpx.Response(200, text=line + "\n\n", headers={"content-type": "text/event-stream"})))
    with pytest.raises(LLMError, match="malformed stream line"):
        list(client.stream("hi"))


def test_api_keys_go_only_to_their_own_host(monkeypatch):
    from aieng import settings

    monkeypatch.setenv("AIENG_LLM", "http://localhost:8000/v1")
    monkeypatch.setenv("AIENG_LLM_API_KEY", "local-key")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-key")
    monkeypatch.delenv("AIENG_LLM_API_HOST", raising=False)
    monkeypatch.delenv("AIENG_LLM_ALLOW_HTTP", raising=False)
    assert settings.api_key_for("http://localhost:8000/v1") == "local-key"
    assert settings.api_key_for("https://api.openai.com/v1") == "openai-key"
    for url in ["https://evil.example/v1", "http://localhost.evil.example/v1", "https://api.openai.com.evil/v1"]:
        assert settings.api_key_for(url) is None, url
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r.headers.get("authorization")) or httpx.Response(
        200, json={"choices": [{"message": {"content": "ok"}}]}))
    elsewhere = load_chat_model("https://evil.example/v1", model="m", cache=False)
    assert "authorization" not in elsewhere._client.headers
    OpenAIChatModel("https://evil.example/v1", "m", transport=transport).generate("hi")
    assert seen == [None]
    with pytest.raises(LLMError, match="plain HTTP"):
        OpenAIChatModel("http://10.1.2.3:8000/v1", "m", api_key="secret")
    OpenAIChatModel("http://127.0.0.1:8000/v1", "m", api_key="secret")  # loopback: allowed
    monkeypatch.setenv("AIENG_LLM_ALLOW_HTTP", "1")
    OpenAIChatModel("http://10.1.2.3:8000/v1", "m", api_key="secret")


# ----------------------------------------------------------------------------- the local model (loaded once)


@pytest.fixture(scope="module")
def fp32():
    # The bundled model is part of the set-up (`make setup`): its absence is a failure, not a skip.
    return load_chat_model("smollm2", dtype="fp32", device="cpu")


def test_local_generate_and_stream(fp32):
    answer = fp32.generate("What is the capital of France?", max_new_tokens=12)
    assert "Paris" in answer
    assert fp32.last_usage.completion_tokens > 0 and fp32.last_usage.tokens_per_s > 0
    streamed = "".join(fp32.stream("What is the capital of France?", max_new_tokens=12))
    assert streamed == answer
    assert fp32.encode_chat("hi").shape[0] == 1
    with pytest.raises(ValueError, match="empty"):
        fp32.generate([])
    with pytest.raises(ValueError, match="temperature"):
        fp32.generate("hi", temperature=-1)


def test_local_stop_and_seeded_sampling(fp32):
    text = fp32.generate("List three primary colours.", max_new_tokens=16, stop=["\n"])
    assert "\n" not in text
    a = fp32.generate("Say a word.", max_new_tokens=8, temperature=1.0, seed=3)
    b = fp32.generate("Say a word.", max_new_tokens=8, temperature=1.0, seed=3)
    assert a == b


def test_default_dtype_matches_fp32_greedy(fp32):
    """The default CPU dtype must give greedy answers identical to fp32 on the fixed prompts."""
    default = load_chat_model("smollm2", device="cpu")
    assert default.dtype == DEFAULT_DTYPE
    for prompt in GREEDY_PROMPTS[:2]:
        ids = fp32.encode_chat(prompt)
        ref = fp32.model.generate(**fp32._gen_kwargs(ids, 16, 0.0, 1.0, None, None))[0, ids.shape[1]:]
        assert default.generate_ids(ids, 16) == ref.tolist(), prompt


def test_generate_bench_small(fp32):
    from aieng.bench import generate

    parser = argparse.ArgumentParser()
    generate.add_arguments(parser)
    result = generate.run(parser.parse_args(["--variants", "fp32,gguf", "--prompts", "1", "--max-new-tokens", "4",
                                             "--threads", "1"]))
    assert result["variants"]["fp32"]["matches_fp32"] is True
    assert result["variants"]["gguf"]["matches_fp32"] is True
    assert result["variants"]["fp32"]["tokens_per_s"] > 0 and result["default"] == DEFAULT_DTYPE
    assert "fp32" in generate.format_table(result)
    with pytest.raises(ValueError, match="unknown variant"):
        generate.run(parser.parse_args(["--variants", "fp64"]))


def test_a_prompt_longer_than_the_context_is_refused(fp32):
    from aieng.llm.local import ContextLengthError

    limit = fp32.context_length
    assert limit and limit == fp32.model.config.max_position_embeddings
    with pytest.raises(ContextLengthError, match="context is"):
        fp32.generate("word " * (limit + 10), max_new_tokens=4)
    n = fp32.encode_chat("word " * (limit - 40)).shape[1]
    with pytest.warns(RuntimeWarning, match="reply is limited"):
        assert fp32.fit_budget(n, 64) == limit - n


def test_choose_scores_equal_a_full_forward_over_prompt_and_option(fp32):
    """choose() runs the prompt once (last position's logits only) and continues each option from a copy of
    the cache: its log-probabilities equal teacher-forced scoring of prompt + option in one plain forward."""
    import torch

    from aieng.llm import choose

    messages = [{"role": "system", "content": "Answer with one word."},
                {"role": "user", "content": "Is the sky blue on a clear day? yes, no or maybe"}]
    options = ["yes", "no", "maybe", " perhaps not"]  # " perhaps not" takes several tokens
    best, got = choose(fp32, messages, options)
    ids = fp32.encode_chat(messages)
    want = {}
    with torch.inference_mode():
        for opt in options:
            opt_ids = fp32.tokenizer(opt, add_special_tokens=False, return_tensors="pt")["input_ids"]
            full = torch.cat([ids, opt_ids], dim=1)
            logp = torch.log_softmax(fp32.model(full).logits[0].float(), dim=-1)
            n = ids.shape[1]
            want[opt] = float(sum(logp[n - 1 + j, t] for j, t in enumerate(opt_ids[0].tolist())))
    assert len(fp32.tokenizer(options[-1], add_special_tokens=False)["input_ids"]) > 1
    assert got.keys() == want.keys()
    for opt in options:
        assert abs(got[opt] - want[opt]) < 1e-3, (opt, got[opt], want[opt])
    assert best == max(want, key=want.__getitem__)
    with pytest.raises(ValueError, match="empty"):
        choose(fp32, messages, [])
