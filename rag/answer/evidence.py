"""The evidence: the sentences closest to the question across the retrieved passages, each with its article.

They are what the reader sees first (before the model has read anything), what the model is asked to
copy from, and what an answer cites. A copied span is located in them by the same folding the copy
check uses (rag/models/copying.py), so the cited sentence is the one the span was taken from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..chunking import sentence_spans
from ..keyword import analyze
from ..models.copying import fold
from ..types import Citation, Hit

SHOWN = 3  # sentences the reader is shown as evidence (while the model reads, or as an evidence-only answer)
SEPARATOR = " \u2016 "  # between sentences in the copy source: a span never runs across two of them


@dataclass(frozen=True)
class Evidence:
    """One sentence shown to the model as `[number]`, from the retrieved passage `hit`."""

    number: int
    hit: Hit
    sentence: str
    score: float  # its similarity to the question

    @property
    def language(self) -> str:
        return self.hit.chunk.language

    def citation(self) -> Citation:
        return Citation.of(self.number, self.hit.chunk, self.sentence)


def gather(hits: list[Hit], count: int, wanted: Callable[[str], bool] | None = None) -> list[Evidence]:
    """The `count` sentences most similar to the question across `hits`, best first, each taken once.

    Passages without per-sentence scores give their best sentence at the passage's rank. With `wanted`
    (a sentence holds the kind of answer the question asks for, rag/answer/kinds.py), when none of those
    does, the last is given up for the closest sentence of the passages that does.
    Example (count=2; hit 1 scores .9 .1, hit 2 scores .2 .8): [hit 1 s1 (.9), hit 2 s2 (.8)]
    """
    candidates: list[tuple[float, int, int, Hit, str]] = []
    for rank, hit in enumerate(hits):
        spans = sentence_spans(hit)
        if len(hit.sentence_scores) != len(spans):
            if hit.best_sentence:
                candidates.append((hit.sentence_score or 0.0, rank, 0, hit, hit.best_sentence))
            continue
        for i, (start, end) in enumerate(spans):
            text = " ".join(hit.chunk.text[start:end].split())
            candidates.append((hit.sentence_scores[i], rank, i, hit, text))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[Evidence] = []
    seen: set[str] = set()
    for score, _, _, hit, text in candidates:
        if len(chosen) == count:
            break
        if text and text not in seen:
            seen.add(text)
            chosen.append(Evidence(len(chosen) + 1, hit, text, score))
    if wanted is None or not chosen or any(wanted(e.sentence) for e in chosen):
        return chosen
    for score, _, _, hit, text in candidates:
        if text not in seen and wanted(text):
            return [*chosen[:-1], replace(chosen[-1], hit=hit, sentence=text, score=score)]
    return chosen


def copy_source(evidence: list[Evidence]) -> str:
    """The text a span may be copied from: every evidence sentence, kept apart."""
    return SEPARATOR.join(e.sentence for e in evidence)


def locate(span: str, evidence: list[Evidence]) -> Evidence | None:
    """The evidence sentence the span comes from: the first (closest to the question) that holds it
    verbatim (folded), else the one sharing most of its words when that is at least half of them
    (a backend that could not be held to copying); None when no sentence holds it."""
    wanted = fold(span)
    if not wanted:
        return None
    for item in evidence:
        if wanted in fold(item.sentence):
            return item
    terms = set(analyze(span, ("it", "en")))
    if not terms:
        return None
    best = max(evidence, key=lambda e: len(terms & set(analyze(e.sentence, ("it", "en")))), default=None)
    if best is None or len(terms & set(analyze(best.sentence, ("it", "en")))) * 2 < len(terms):
        return None
    return best
