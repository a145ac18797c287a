"""aieng.bench.agent (Month 9) on a tiny BFCL/GSM8K folder, driven by the scripted test double."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _doubles import ScriptedChatModel
from aieng.agents.scoring import last_number
from aieng.bench.agent import format_table, run_bfcl, run_gsm8k
from aieng.data import subset

FN = {"name": "area", "description": "Area of a rectangle.", "parameters": {"type": "dict", "properties": {
    "w": {"type": "integer"}, "h": {"type": "integer"}}, "required": ["w", "h"]}}


@pytest.fixture()
def bfcl_dir(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    for cat in ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]:
        q = [{"id": f"{cat}_{i}", "question": [[{"role": "user", "content": f"area of {i} by 2"}]], "function": [FN]}
             for i in range(2)]
        (tmp_path / f"BFCL_v4_{cat}.json").write_text("\n".join(json.dumps(r) for r in q) + "\n")
        if cat != "irrelevance":
            a = [{"id": f"{cat}_{i}", "ground_truth": [{"area": {"w": [i], "h": [2]}}]} for i in range(2)]
            (tmp_path / "possible_answer" / f"BFCL_v4_{cat}.json").write_text("\n".join(json.dumps(r) for r in a) + "\n")
    return tmp_path


def test_bfcl_result_shape_and_scores(bfcl_dir):
    # per category: item 0 right, item 1 malformed; irrelevance: [] right, a call wrong
    replies = []
    for cat in ["simple_python", "multiple", "parallel", "parallel_multiple"]:
        replies += ["[area(w=0, h=2)]", "The area is 2."]
    replies += ["[]", "[area(w=1, h=2)]"]
    result = run_bfcl(ScriptedChatModel(replies), "free", data_dir=str(bfcl_dir))
    assert result["suite"] == "bfcl" and set(result["categories"]) == {
        "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"}
    sp = result["categories"]["simple_python"]
    assert sp == {"n": 2, "valid_call_rate": 0.5, "accuracy": 0.5}
    assert result["categories"]["irrelevance"] == {"n": 2, "valid_call_rate": 1.0, "accuracy": 0.5}
    assert result["overall"]["n"] == 10 and result["overall"]["accuracy"] == 0.5
    json.dumps(result)
    assert "simple_python" in format_table(result)


def test_gsm8k_result_shape(tmp_path):
    rows = [{"question": "2 + 3?", "answer": "2 + 3 = 5\n#### 5"}, {"question": "10 - 4?", "answer": "#### 6"}]
    (tmp_path / "test_first200.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    replies = ["2 + 3 = 5. The answer is 5.", "The answer is 7.",            # without tools: 1 of 2
               '[calculator(expression="2+3")]', "[final_answer(answer=5)]",  # with the calculator: right
               "[final_answer(answer=5)]"]                                    # wrong
    result = run_gsm8k(ScriptedChatModel(replies), data_dir=str(tmp_path))
    cats = result["categories"]
    assert cats["without_tools"]["n"] == 2 and cats["without_tools"]["accuracy"] == 0.5
    assert cats["with_calculator"]["accuracy"] == 0.5 and cats["with_calculator"]["valid_call_rate"] == 1.0
    assert cats["without_tools"]["valid_call_rate"] is None
    json.dumps(result)


def test_helpers():
    assert subset(list(range(10)), 5) == [0, 2, 4, 6, 8] and subset([1, 2], 0) == [1, 2]
    assert last_number("so 1,200 apples and 3.5 pears") == 3.5 and last_number("none") is None


def test_missing_data_dir_is_a_clean_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aieng.bench", "agent", "--suite", "bfcl", "--data-dir",
                           str(tmp_path / "nope"), "--json", "--model", "http://127.0.0.1:9/v1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "error: agent:" in proc.stderr and "Traceback" not in proc.stderr
