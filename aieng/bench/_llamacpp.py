"""llama.cpp's side of ``python -m aieng.bench generate``: the same GGUF file, token ids and threads.

Run as a script by any Python that has ``llama-cpp-python`` (a throwaway virtualenv: it builds from
source in about ten minutes, and it never joins the book's pins). It imports nothing from aieng.
It reads one JSON object on stdin, ``{"model": path, "prompts": [[ids]...], "max_new_tokens": n,
"threads": t}``, and prints one JSON object: tokens/s (prompt and new tokens, as a user waits for
them, measured exactly as the bench measures aieng's engine), the greedy answers, and versions.
"""

from __future__ import annotations

import json
import sys
import time


def measure(request: dict) -> dict:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=request["model"], n_ctx=2048, n_threads=request["threads"],
                          n_threads_batch=request["threads"], verbose=False, seed=0)
    eos = llm.token_eos()
    n_new = request["max_new_tokens"]

    def answer(ids: list[int], limit: int) -> list[int]:
        llm.reset()
        out: list[int] = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
            out.append(int(token))
            if token == eos or len(out) == limit:
                break
        return out

    answer(request["prompts"][0], 8)  # warm-up, as the bench does for every engine
    answers, n_tokens, seconds = [], 0, 0.0
    for ids in request["prompts"]:
        t0 = time.perf_counter()
        new = answer(ids, n_new)
        seconds += time.perf_counter() - t0
        n_tokens += len(new)
        answers.append(new)
    return {"tokens_per_s": n_tokens / seconds, "answers": answers,
            "llama_cpp_python": llama_cpp.__version__, "python": sys.version.split()[0]}


if __name__ == "__main__":
    json.dump(measure(json.load(sys.stdin)), sys.stdout)
