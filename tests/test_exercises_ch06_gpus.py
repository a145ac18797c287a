"""Each exercise of chapters/06-deep-learning/03-inductive-bias-and-gpus accepts a correct answer and rejects
wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _exercise_contract import contract
from aieng.book import CheckFailed, check
from aieng.book.exercises import ch06_gpus

# ---- reference answers ------------------------------------------------------------------------


def conv1d_matmul(x, weight, bias, stride=1, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    n, c_in, length = x.shape
    c_out, _, k = weight.shape
    length_out = (length - k) // stride + 1
    starts = np.arange(length_out) * stride
    cols = x[:, :, starts[:, None] + np.arange(k)]
    rows = cols.transpose(0, 2, 1, 3).reshape(n * length_out, c_in * k)
    out = rows @ weight.reshape(c_out, c_in * k).T + bias
    return out.reshape(n, length_out, c_out).transpose(0, 2, 1)


def receptive_field(layers):
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def batched_matmul(As, Bs):
    return torch.matmul(As, Bs)


# ---- wrong answers ----------------------------------------------------------------------------


def conv_ignores_padding(x, weight, bias, stride=1, padding=0):
    return conv1d_matmul(x, weight, bias, stride=stride, padding=0)


def conv_wrong_row_order(x, weight, bias, stride=1, padding=0):  # rows as (offset, channel)
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    n, c_in, length = x.shape
    c_out, _, k = weight.shape
    length_out = (length - k) // stride + 1
    starts = np.arange(length_out) * stride
    cols = x[:, :, starts[:, None] + np.arange(k)]
    rows = cols.transpose(0, 2, 3, 1).reshape(n * length_out, c_in * k)
    out = rows @ weight.reshape(c_out, c_in * k).T + bias
    return out.reshape(n, length_out, c_out).transpose(0, 2, 1)


def field_sum_of_kernels(layers):  # forgets the strides
    return 1 + sum(k - 1 for k, _ in layers)


def field_product(layers):
    out = 1
    for k, s in layers:
        out = out * s + k - 1
    return out


def batched_loop(As, Bs):  # right values, no gain
    return torch.stack([a @ b for a, b in zip(As, Bs)])


def batched_transposed(As, Bs):
    return torch.matmul(Bs, As)


CASES = {
    "06.conv_as_matmul": (conv1d_matmul, conv_ignores_padding),
    "06.receptive_field": (receptive_field, field_sum_of_kernels),
    "06.batched_matmul": (batched_matmul, batched_loop),
    "06.think_shuffle": ("b", "a"),
    "06.think_intensity": (1024 / 6, 1024 / 3),
}


def test_every_exercise_of_the_notebook_is_covered():
    names = {ex for ex in ch06_gpus.__doc__.split("``") if ex.startswith("06.")}
    assert names == set(CASES)


test_reference_answer_passes, test_wrong_answer_fails, test_stub_reads_as_not_attempted = contract(CASES)


@pytest.mark.parametrize("name, bad", [
    ("06.conv_as_matmul", conv_wrong_row_order),
    ("06.receptive_field", field_product),
    ("06.batched_matmul", batched_transposed),
    ("06.think_shuffle", "c"),
    ("06.think_intensity", 2 * 1024 ** 3),
])
def test_more_wrong_answers_fail(name, bad):
    with pytest.raises(CheckFailed):
        check(name, bad, strict=True, quiet=True)


def test_letter_answers_forgive_case_and_brackets():
    assert check("06.think_shuffle", "(B)", strict=True, quiet=True)


@pytest.mark.parametrize("layers, field", [([(5, 2), (3, 2), (3, 2)], 17), ([(2, 2)] * 4, 16), ([(1, 3), (4, 1)], 10)])
def test_the_measured_receptive_field_agrees_with_the_formula(layers, field):
    """The judge's autograd measurement is itself right on stacks worked out by hand."""
    assert ch06_gpus._measured_field(layers) == field
