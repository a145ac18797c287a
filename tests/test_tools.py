"""Unit tests of aieng.agents.tools (Month 9): schemas, validation, safe calls, the call format and the BFCL checker."""

from __future__ import annotations

import time
from typing import Literal

import pytest

from aieng.agents.callsyntax import Call, CallParseError, format_calls, parse_calls
from aieng.agents.scoring import check_calls
from aieng.agents.schemas import schema_from_hints
from aieng.agents.tools import Tool, ToolBox, calculator


def book_flight(city: str, seats: int = 1, cabin: Literal["economy", "business"] = "economy",
                tags: list[str] | None = None) -> str:
    """Book a flight.

    Parameters
    ----------
    city
        Destination city.
    seats
        How many seats.
    cabin
        Cabin class.
    tags
        Labels for the booking.
    """
    return f"booked {seats} to {city} in {cabin}"


def test_schema_from_hints_matches_pydantic():
    ours = schema_from_hints(book_flight)
    tool = Tool.from_function(book_flight)
    assert ours["name"] == tool.name == "book_flight"
    assert ours["description"] == tool.description == "Book a flight."
    assert ours["parameters"] == tool.parameters
    assert ours["parameters"]["required"] == ["city"]
    assert ours["parameters"]["properties"]["seats"] == {"type": "integer", "description": "How many seats.", "default": 1}


def test_schema_needs_hints():
    def f(x, y: int):  # noqa: ANN001
        return x
    with pytest.raises(TypeError, match="no type hint"):
        schema_from_hints(f)
    with pytest.raises(TypeError, match="no type hint"):
        Tool.from_function(f)


def test_toolbox_validation_error_is_an_observation():
    box = ToolBox([book_flight])
    obs = box.call("book_flight", {"city": "Oslo", "seats": "two"})
    assert not obs.ok and "seats" in obs.error
    obs = box.call("book_flight", {"city": "Oslo", "colour": "red"})
    assert not obs.ok and "colour" in obs.error
    obs = box.call("book_flight", {})
    assert not obs.ok and "city" in obs.error
    ok = box.call("book_flight", {"city": "Oslo", "seats": "2"})
    assert ok.ok and ok.value == "booked 2 to Oslo in economy"


def test_unknown_tool():
    obs = ToolBox([book_flight]).call("fly", {})
    assert not obs.ok and "unknown tool" in obs.error


def test_tool_that_raises_is_an_observation():
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError("disk on fire")
    obs = ToolBox([broken]).call("broken", {"x": 1})
    assert not obs.ok and "RuntimeError: disk on fire" in obs.error


def test_tool_that_hangs_times_out():
    def hang(x: int) -> int:
        """Never returns (in time)."""
        time.sleep(5)
        return x
    box = ToolBox([Tool.from_function(hang, timeout_s=0.2)])
    t0 = time.perf_counter()
    obs = box.call("hang", {"x": 1})
    assert time.perf_counter() - t0 < 2
    assert not obs.ok and "timed out" in obs.error


def test_long_output_is_cut():
    def big() -> str:
        """Much text."""
        return "x" * 5000
    obs = ToolBox([big], max_chars=100).call("big", {})
    assert obs.ok and len(obs.content) < 200 and "cut" in obs.content


def test_parse_and_format_roundtrip():
    calls = parse_calls('[math.hypot(x=4, y=5), f(s="a \\"q\\"", l=[1, 2], d={"k": True})]')
    assert calls[0] == Call("math.hypot", {"x": 4, "y": 5})
    assert calls[1].arguments == {"s": 'a "q"', "l": [1, 2], "d": {"k": True}}
    assert parse_calls(format_calls(calls)) == calls
    assert parse_calls("[]") == []
    assert parse_calls("Sure! [f(a=1)]") == [Call("f", {"a": 1})]
    assert parse_calls("f(a=1)") == [Call("f", {"a": 1})]


@pytest.mark.parametrize("bad", ["The area is 25.", "[f(1)]", "[f(a=x)]", "[f(a=1]", "[1, 2]", "[f(**k)]"])
def test_malformed_replies_raise_parse_error(bad):
    with pytest.raises(CallParseError):
        parse_calls(bad)


FNS = [{"name": "area", "parameters": {"type": "dict", "properties": {
    "base": {"type": "integer"}, "height": {"type": "float"}, "unit": {"type": "string"}}, "required": ["base", "height"]}}]
TRUTH = [{"area": {"base": [10], "height": [5.0], "unit": ["units", ""]}}]


def test_checker():
    assert check_calls([Call("area", {"base": 10, "height": 5})], TRUTH, FNS)[0]          # int for float is fine
    assert check_calls([Call("area", {"base": 10, "height": 5, "unit": "Units"})], TRUTH, FNS)[0]
    assert not check_calls([Call("area", {"base": 10})], TRUTH, FNS)[0]                   # missing
    assert not check_calls([Call("area", {"base": "10", "height": 5})], TRUTH, FNS)[0]    # wrong type
    assert not check_calls([Call("area", {"base": 11, "height": 5})], TRUTH, FNS)[0]      # wrong value
    assert not check_calls([Call("volume", {"base": 10, "height": 5})], TRUTH, FNS)[0]    # wrong function
    assert not check_calls([], TRUTH, FNS)[0]
    assert check_calls([], [], FNS)[0] and not check_calls([Call("area", {})], [], FNS)[0]  # irrelevance


def test_checker_parallel_any_order():
    truth = [{"f": {"x": [1]}}, {"f": {"x": [2]}}]
    fns = [{"name": "f", "parameters": {"properties": {"x": {"type": "integer"}}}}]
    assert check_calls([Call("f", {"x": 2}), Call("f", {"x": 1})], truth, fns)[0]
    assert not check_calls([Call("f", {"x": 2}), Call("f", {"x": 2})], truth, fns)[0]


def test_calculator():
    assert calculator("(3 + 4) * 2 / 7") == 2.0
    assert calculator("1,000 - 1") == 999.0
    with pytest.raises(ValueError):
        calculator("__import__('os').system('ls')")
    with pytest.raises(ValueError):
        calculator("2 ** 100000")
