"""Citations are data: `[n]` markers in the model's text become Citation objects.

Markers that point at no source are dropped (and logged). When the model gives no usable
marker, each answer sentence is attributed to the source that shares the most terms with it
(numbers weigh double), so an answer is never left without its passage.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .chunking import split_sentences
from .keyword import analyze
from .types import Citation, Hit

log = logging.getLogger(__name__)

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LANGS = ("it", "en")


def _numbers(group: str) -> list[int]:
    return [int(n) for n in re.split(r"\s*[,;]\s*", group)]


def marker_numbers(text: str) -> list[int]:
    """Every number in every [n] / [n, m] marker, in order: "A [1]. B [2, 3]." -> [1, 2, 3]."""
    return [n for match in MARKER.finditer(text) for n in _numbers(match.group(1))]


@dataclass(frozen=True)
class ParsedAnswer:
    text: str  # the answer with only valid markers left
    markers: list[int]  # valid markers in order of first appearance
    raw_markers: list[int]  # every marker the model wrote, valid or not


def parse_markers(text: str, n_sources: int) -> ParsedAnswer:
    """Keep markers 1..n_sources, drop the others.

    Example: parse_markers("Nel 2028 [1][7].", 2) -> text "Nel 2028 [1].", markers [1], raw [1, 7]
    """
    raw: list[int] = []
    valid: list[int] = []

    def keep(match: re.Match[str]) -> str:
        numbers = _numbers(match.group(1))
        raw.extend(numbers)
        good = [n for n in numbers if 1 <= n <= n_sources]
        for n in numbers:
            if n not in good:
                log.info("dropped citation marker [%d]: only %d sources", n, n_sources)
        for n in good:
            if n not in valid:
                valid.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(good))

    cleaned = MARKER.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return ParsedAnswer(text=cleaned, markers=valid, raw_markers=raw)


def _overlap(a: list[str], b: set[str]) -> float:
    return sum(2.0 if t[0].isdigit() else 1.0 for t in set(a) if t in b)


def attribute_missing(text: str, sources: list[Hit]) -> ParsedAnswer:
    """Add a marker after each unmarked sentence that shares terms with some source."""
    source_terms = [set(analyze(h.chunk.text, _LANGS)) for h in sources]
    pieces: list[str] = []
    markers: list[int] = []
    last = 0
    for start, end in split_sentences(text):
        sentence = text[start:end]
        pieces.append(text[last:start])
        last = end
        if MARKER.search(sentence) or not source_terms:
            pieces.append(sentence)
            continue
        terms = analyze(sentence, _LANGS)
        scores = [_overlap(terms, s) for s in source_terms]
        best = max(range(len(scores)), key=lambda i: scores[i])
        if scores[best] <= 0:
            pieces.append(sentence)
            continue
        marker = best + 1
        markers.append(marker)
        body, punct = (sentence[:-1], sentence[-1]) if sentence[-1] in ".!?" else (sentence, "")
        pieces.append(f"{body} [{marker}]{punct}")
    pieces.append(text[last:])
    return ParsedAnswer(text="".join(pieces), markers=list(dict.fromkeys(markers)), raw_markers=[])


def to_citations(markers: list[int], sources: list[Hit]) -> list[Citation]:
    citations = []
    for marker in markers:
        chunk = sources[marker - 1].chunk
        citations.append(
            Citation(
                marker=marker,
                article_id=chunk.article_id,
                title=chunk.title,
                date=chunk.date,
                publication=chunk.publication,
                chunk_id=chunk.id,
                text=chunk.text,
            )
        )
    return citations
