"""Screening quality on the labelled corpus: recall and false-positive rate.

    .venv/bin/python -m bench.screening [--corpus PATH] [--show-errors]

Reads ``tests/data/messaging_corpus.jsonl`` (one JSON object per line: ``text``, ``lang``
``es|pt|en``, ``label`` ``block|allow``, ``kind``), screens every message with the real
phone adapter (``phonenumbers``) and prints recall (blocked share of ``block`` messages)
and the false-positive rate (blocked share of ``allow`` messages), overall and per
language and kind. Exits 1 when recall < 0.97 or false positives > 1 %: these are quality
thresholds, not timings, so they hold on any machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from adapters.screening import MarketplacePhoneFinder
from domain.messaging.screening import Screener, Screening

CORPUS: Final = Path(__file__).resolve().parents[1] / "tests" / "data" / "messaging_corpus.jsonl"
MIN_RECALL: Final = 0.97
MAX_FALSE_POSITIVE_RATE: Final = 0.01
LABELS: Final = frozenset({"block", "allow"})
LANGUAGES: Final = frozenset({"es", "pt", "en"})


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    lang: str
    label: str
    kind: str


@dataclass(slots=True)
class Tally:
    total: int = 0
    blocked: int = 0

    @property
    def rate(self) -> float:
        return self.blocked / self.total if self.total else 0.0


@dataclass(slots=True)
class Report:
    recall: Tally = field(default_factory=Tally)
    false_positives: Tally = field(default_factory=Tally)
    by_group: dict[tuple[str, str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    misses: list[tuple[Example, Screening]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.recall.rate >= MIN_RECALL and self.false_positives.rate <= MAX_FALSE_POSITIVE_RATE


def load(path: Path = CORPUS) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        example = Example(text=raw["text"], lang=raw["lang"], label=raw["label"], kind=raw["kind"])
        if example.label not in LABELS or example.lang not in LANGUAGES or not example.text.strip():
            raise ValueError(f"{path}:{number}: bad example {raw!r}")
        examples.append(example)
    return examples


def evaluate(examples: Sequence[Example], screener: Screener | None = None) -> Report:
    screener = screener or Screener(MarketplacePhoneFinder())
    report = Report()
    for example in examples:
        screening = screener.screen(example.text)
        tally = report.recall if example.label == "block" else report.false_positives
        tally.total += 1
        tally.blocked += screening.blocked
        group = report.by_group[(example.label, example.lang, example.kind)]
        group.total += 1
        group.blocked += screening.blocked
        if screening.blocked != (example.label == "block"):
            report.misses.append((example, screening))
    return report


def _print(report: Report, *, show_errors: bool) -> None:
    recall = report.recall
    print(f"recall               {recall.rate:.4f}  ({recall.blocked}/{recall.total} blocked)")
    print(
        f"false-positive rate  {report.false_positives.rate:.4f}  "
        f"({report.false_positives.blocked}/{report.false_positives.total} allowed messages blocked)"
    )
    print(f"thresholds           recall >= {MIN_RECALL}, false positives <= {MAX_FALSE_POSITIVE_RATE}")
    print()
    print(f"{'label':6} {'lang':4} {'kind':16} {'n':>4} {'blocked':>8}")
    for (label, lang, kind), tally in sorted(report.by_group.items()):
        print(f"{label:6} {lang:4} {kind:16} {tally.total:>4} {tally.rate:>8.2%}")
    if show_errors and report.misses:
        print()
        for example, screening in report.misses:
            what = ", ".join(
                f"{finding.kind.value}:{finding.excerpt(example.text)!r}" for finding in screening.findings
            )
            where = f"[{example.label} {example.lang} {example.kind}]"
            print(f"{where} {example.text!r} -> {what or 'nothing found'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screening", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show-errors", action="store_true", help="list every misclassified message")
    args = parser.parse_args(argv)
    report = evaluate(load(args.corpus))
    _print(report, show_errors=args.show_errors)
    print()
    print("PASS" if report.passed else "FAIL")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
