"""The labelled corpus (tests/data/messaging_corpus.jsonl) and the quality thresholds on it.

Quality, not timing: recall >= 0.97 on messages that must be blocked, and at most 1 % of
ordinary order talk blocked. ``python -m bench.screening --show-errors`` lists the misses.
"""

from __future__ import annotations

from collections import Counter

from bench.screening import CORPUS, MAX_FALSE_POSITIVE_RATE, MIN_RECALL, evaluate, load


def test_the_corpus_is_large_varied_and_labelled() -> None:
    examples = load(CORPUS)
    assert len(examples) >= 400
    assert len({e.text for e in examples}) == len(examples), "no duplicate messages"
    by_label_lang = Counter((e.label, e.lang) for e in examples)
    for label in ("block", "allow"):
        for lang in ("es", "pt", "en"):
            assert by_label_lang[(label, lang)] >= 50, (label, lang)
    blocked_kinds = {e.kind for e in examples if e.label == "block"}
    assert {"phone", "email", "link", "handle", "payment", "contact", "abuse"} <= blocked_kinds
    allowed_kinds = {e.kind for e in examples if e.label == "allow"}
    expected = {"order_number", "tracking", "price", "date_time", "address", "quantity", "order_talk"}
    assert expected <= allowed_kinds


def test_recall_and_false_positive_rate_meet_the_thresholds() -> None:
    report = evaluate(load(CORPUS))
    misses = [(example.label, example.text) for example, _ in report.misses]
    assert report.recall.rate >= MIN_RECALL, misses
    assert report.false_positives.rate <= MAX_FALSE_POSITIVE_RATE, misses
    assert MIN_RECALL == 0.97 and MAX_FALSE_POSITIVE_RATE == 0.01
