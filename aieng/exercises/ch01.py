"""Exercises of Month 1, Python as an engineering language (chapters/01-python)."""

from __future__ import annotations

from aieng.check import Case, exercise


@exercise("01.fizzbuzz", hint="Test divisibility by 15 first (or build the string from both tests); "
          "return the number itself as a string otherwise.")
def _fizzbuzz():
    return [Case((1,), expected="1"), Case((3,), expected="Fizz"), Case((5,), expected="Buzz"),
            Case((15,), expected="FizzBuzz"), Case((30,), expected="FizzBuzz"), Case((98,), expected="98")]
