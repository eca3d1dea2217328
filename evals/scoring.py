"""The scorer: pure functions from eval items and system outputs to numbers.

An answer is correct when every fact group has an alternative occurring in the normalized answer
on token boundaries; an unanswerable item is correct only when the system abstained (its flag).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.protocol import marker_numbers
from rag.textutil import strip_accents

_THOUSANDS = re.compile(r"(?<=\d)[.,](?=\d{3}(?!\d))")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True)
class EvalItem:
    id: str
    lang: str
    answerable: bool
    question: str
    expected: list[list[str]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    kind: str = ""  # what the question asks, where a set says ("metadata", "time", "uncovered"...)


def load_items(path: Path) -> list[EvalItem]:
    """Read a questions JSONL file; a malformed line is an error naming the line."""
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            items.append(
                EvalItem(
                    id=str(data["id"]),
                    lang=str(data["lang"]),
                    answerable=bool(data["answerable"]),
                    question=str(data["question"]),
                    expected=[[str(a) for a in group] for group in data.get("expected", [])],
                    evidence=[str(e) for e in data.get("evidence", [])],
                    kind=str(data.get("kind", "")),
                )
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{number}: not a valid eval item ({e})") from e
    return items


def normalize(text: str) -> str:
    """Casefold, strip accents, drop thousands separators, collapse punctuation and spaces.

    Example: "1.500 Città, l’anno!" -> "1500 citta l anno"
    """
    text = strip_accents(text.casefold())
    text = _THOUSANDS.sub("", text)
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    return " ".join(text.split())


def contains(haystack: str, needle: str) -> bool:
    """`needle` occurs in `haystack` on token boundaries, both normalized ("550" not in "1550")."""
    n = normalize(needle)
    return bool(n) and f" {n} " in f" {normalize(haystack)} "


def answer_correct(item: EvalItem, answer: str, abstained: bool) -> bool:
    if not item.answerable:
        return abstained
    if abstained:
        return False
    return all(any(contains(answer, alt) for alt in group) for group in item.expected)


def claim_of(answer: Any) -> str:
    """What an answer asserts, as scored: the extracting reader's short answer (its quote of the supporting
    sentence is evidence, not a claim), or the composing reader's whole sentence."""
    return answer.short_answer if answer.outcome else answer.answer


def token_f1(answer: str, gold: str) -> float:
    """SQuAD's token F1 between an answer and one gold span, both normalized (markers drop as punctuation).

    Example: ("the plant in Douai [1]", "Douai") -> 2 * (1/5 * 1) / (1/5 + 1) = 0.333
    """
    said, wanted = normalize(answer).split(), normalize(gold).split()
    if not said or not wanted:
        return 0.0
    common = sum(min(said.count(t), wanted.count(t)) for t in set(wanted))
    if not common:
        return 0.0
    precision, recall = common / len(said), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def answer_f1(item: EvalItem, answer: str, abstained: bool) -> float | None:
    """Token F1 of an answerable item: each fact group's best alternative, averaged over the groups
    (0 for an abstention); None for an unanswerable item."""
    if not item.answerable:
        return None
    if abstained or not item.expected:
        return 0.0
    return sum(max(token_f1(answer, alt) for alt in group) for group in item.expected) / len(item.expected)


def holds_evidence(chunk_text: str, evidence: Sequence[str]) -> bool:
    return any(contains(chunk_text, quote) for quote in evidence)


def first_hit_rank(chunk_texts: Sequence[str], evidence: Sequence[str]) -> int | None:
    """1-based rank of the first retrieved chunk that holds the evidence, or None."""
    for rank, text in enumerate(chunk_texts, start=1):
        if holds_evidence(text, evidence):
            return rank
    return None


def markers_valid(raw_answer: str, n_prompt_sources: int) -> bool | None:
    """Every marker the model wrote points at a passage in the prompt; None when it wrote none."""
    numbers = marker_numbers(raw_answer)
    if not numbers:
        return None
    return all(1 <= n <= n_prompt_sources for n in numbers)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def _percentile(values: Sequence[float], q: float) -> int | None:
    if not values:
        return None
    if len(values) == 1:
        return int(values[0])
    return int(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def summarize(records: Sequence[dict[str, Any]], retrieval_only: bool = False) -> dict[str, Any]:
    """Aggregate per-item records (see runner) into the report's metric keys."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    ranks = [r["first_hit_rank"] for r in answerable]
    metrics: dict[str, Any] = {
        "recall@1": _mean(1.0 if k is not None and k <= 1 else 0.0 for k in ranks),
        "recall@3": _mean(1.0 if k is not None and k <= 3 else 0.0 for k in ranks),
        "recall@5": _mean(1.0 if k is not None and k <= 5 else 0.0 for k in ranks),
        "mrr": _mean(1.0 / k if k else 0.0 for k in ranks),
        "n": len(records),
    }
    if retrieval_only:
        metrics.update(
            {
                key: None
                for key in (
                    "answer_accuracy",
                    "answer_f1",
                    "abstention_accuracy",
                    "false_abstention_rate",
                    "citation_hit_rate",
                    "citation_validity",
                    "language_match",
                    "latency_p50_ms",
                    "latency_p95_ms",
                    "ttft_p50_ms",
                    "evidence_only_rate",
                    "evidence_p50_ms",
                )
            }  # fmt: skip
        )
        return metrics
    answered = [r for r in answerable if not r["abstained"]]
    totals = [r["total_ms"] for r in records]
    ttfts = [r["ttft_ms"] for r in records if r["ttft_ms"]]
    metrics.update(
        {
            "answer_accuracy": _mean(1.0 if r["correct"] else 0.0 for r in answerable),
            "answer_f1": _mean(float(r.get("f1") or 0.0) for r in answerable),
            "abstention_accuracy": _mean(1.0 if r["abstained"] else 0.0 for r in unanswerable),
            "false_abstention_rate": _mean(1.0 if r["abstained"] else 0.0 for r in answerable),
            "citation_hit_rate": _mean(1.0 if r["citation_hit"] else 0.0 for r in answered),
            "citation_validity": _mean(
                1.0 if r["citation_valid"] else 0.0 for r in records if r["citation_valid"] is not None
            ),
            "language_match": _mean(1.0 if r["language_ok"] else 0.0 for r in records),
            "latency_p50_ms": _percentile(totals, 50),
            "latency_p95_ms": _percentile(totals, 95),
            "ttft_p50_ms": _percentile(ttfts, 50),
            # answerable questions answered with the closest passages only (not counted correct)
            "evidence_only_rate": _mean(1.0 if r.get("outcome") == "evidence" else 0.0 for r in answerable),
            "evidence_p50_ms": _percentile([r["evidence_ms"] for r in records if r.get("evidence_ms")], 50),
        }
    )
    return metrics


METRIC_KEYS = [
    "answer_accuracy", "answer_f1", "abstention_accuracy", "false_abstention_rate", "recall@1", "recall@3",
    "recall@5", "mrr", "citation_hit_rate", "citation_validity", "language_match", "latency_p50_ms",
    "latency_p95_ms", "ttft_p50_ms", "evidence_only_rate", "evidence_p50_ms", "n",
]  # fmt: skip


def report_block(records: Sequence[dict[str, Any]], retrieval_only: bool = False) -> dict[str, Any]:
    """`overall` and `by_lang` in the report's shape, keys in a fixed order."""

    def ordered(metrics: dict[str, Any]) -> dict[str, Any]:
        return {key: metrics.get(key) for key in METRIC_KEYS}

    block: dict[str, Any] = {
        "overall": ordered(summarize(records, retrieval_only)),
        "by_lang": {
            lang: ordered(summarize([r for r in records if r["lang"] == lang], retrieval_only)) for lang in ("it", "en")
        },
    }
    kinds = sorted({r.get("kind", "") for r in records} - {""})
    if kinds:  # a set whose questions say what they ask is also scored kind by kind
        block["by_kind"] = {
            kind: ordered(summarize([r for r in records if r.get("kind") == kind], retrieval_only)) for kind in kinds
        }
    return block
