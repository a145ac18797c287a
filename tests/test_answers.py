"""Unit tests of aieng.retrieval.answers (Month 8): the support test, citation precision, faithfulness, refusals."""

from __future__ import annotations

import math

import pytest

from aieng.retrieval.answers import (cited_sentences, citation_precision, faithfulness, refusal_rates,
                                     token_support)

SOURCES = {1: "In adults, aspirin lowered the fever within an hour.", 2: "Dogs bark at night."}


def test_token_support_counts_content_words_only():
    assert token_support("Aspirin lowers fever [1].", SOURCES[1]) == 1.0  # stems: lowers ~ lowered
    assert token_support("Aspirin cures cancer.", SOURCES[1]) == pytest.approx(1 / 3)
    assert token_support("The [2].", SOURCES[1]) == 1.0  # no content words: nothing to contradict
    assert token_support("Cats purr.", SOURCES[2]) == 0.0


def test_cited_sentences_attach_trailing_markers():
    assert cited_sentences("A is B [1]. C [2][1].") == [("A is B [1].", [1]), ("C [2][1].", [2, 1])]
    assert cited_sentences("Fever drops. [1] Dogs bark.") == [("Fever drops. [1]", [1]), ("Dogs bark.", [])]
    assert cited_sentences("") == []


def test_citation_precision_scores_each_pair():
    text = "Aspirin lowers fever [1]. Dogs bark at night [1][2]."
    assert citation_precision(text, SOURCES) == pytest.approx(2 / 3)  # [1] right, [1] wrong, [2] right
    assert citation_precision("Aspirin lowers fever [7].", SOURCES) == 0.0  # no such source
    assert math.isnan(citation_precision("No citations here.", SOURCES))


def test_faithfulness_needs_one_supporting_citation_per_sentence():
    assert faithfulness("Aspirin lowers fever [2][1]. Dogs bark [2].", SOURCES) == 1.0
    assert faithfulness("Aspirin lowers fever [1]. Dogs bark.", SOURCES) == 0.5  # uncited: unsupported
    assert faithfulness("Aspirin cures cancer [1].", SOURCES) == 0.0
    assert math.isnan(faithfulness("  ", SOURCES))


def test_threshold_and_custom_support():
    text = "Aspirin cures cancer [1]."
    assert faithfulness(text, SOURCES, threshold=0.3) == 1.0  # a third of the words is enough at 0.3
    assert faithfulness(text, SOURCES, support=lambda s, p: 1.0) == 1.0
    with pytest.raises(ValueError):
        faithfulness(text, SOURCES, threshold=0)
    with pytest.raises(ValueError):
        citation_precision(text, SOURCES, threshold=1.5)


def test_refusal_rates_split_by_answerability():
    rates = refusal_rates([True, True, False, False, True], [False, False, False, True, True])
    assert rates == {"unanswerable": pytest.approx(2 / 3), "answerable": 0.5}
    assert math.isnan(refusal_rates([True], [False])["answerable"])
    with pytest.raises(ValueError):
        refusal_rates([True], [True, False])
