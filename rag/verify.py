"""Citation verification: every answer sentence is checked against the passages that were in the prompt.

For each answer sentence the verifier finds the source sentence that supports it best among the
source sentences that state every number it states (or, when none does, among the sources whose text
holds them all): the most similar one (multilingual e5, so an English answer matches an Italian
passage), with a bonus for sharing the answer's distinctive words, so the sentence that holds the
fact wins over one that only shares the topic. That source becomes the sentence's citation (the
model's own marker is moved or dropped when it disagrees), and the source sentence is kept so the
reader can see it. Numbers compare across languages and formats (rag/numbers.py: "4,2 miliardi" is
"4.2 billion", "cinque" backs "5"). A sentence with a number no source holds, sharing no word with
any source, or too far from every source sentence, is unsupported; an answer with no supported sentence, or with fewer
supported sentences than unsupported ones, is an abstention.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from .chunking import sentence_spans, split_sentences
from .keyword import analyze
from .numbers import numbers_in
from .protocol import MARKER
from .types import Hit

_CACHE_LIMIT = 20_000
_LANGUAGES = ("it", "en")


@dataclass(frozen=True)
class SentenceSupport:
    sentence: str  # the answer sentence, markers removed
    source: int | None  # 1-based source number, None when unsupported
    source_sentence: str  # the supporting sentence of that source ("" when unsupported)
    similarity: float
    # "ok" | "number" (a number no source holds) | "unanchored" (no word in common with any source)
    # | "weak" (too far from every source sentence)
    reason: str
    # further (source, sentence) pairs when the sentence joins numbers stated by different sources
    more: tuple[tuple[int, str], ...] = ()

    def cited(self) -> list[tuple[int, str]]:
        """Every (source number, supporting sentence) of this sentence, the best supporting first."""
        return ([(self.source, self.source_sentence)] if self.source is not None else []) + list(self.more)


@dataclass(frozen=True)
class Verified:
    text: str  # the answer with verified markers
    supports: list[SentenceSupport]

    @property
    def supported(self) -> bool:
        """Some sentence is supported, and at least half of them are: a ramble with a sentence that
        happens to resemble a passage is not an answer."""
        backed = sum(s.source is not None for s in self.supports)
        return backed > 0 and 2 * backed >= len(self.supports)

    def markers(self) -> list[int]:
        return list(dict.fromkeys(source for s in self.supports for source, _ in s.cited()))


def adds_information(answer: str, question: str) -> bool:
    """The answer states something the question does not already hold: a sentence made only of the
    question's own words ("Victoria was known" to "What was Victoria known for?") is no answer.

    Example: ("Victoria was known for livestock.", "What was Victoria known for?") -> True (livestock);
    ("Victoria was known.", "What was Victoria known for?") -> False
    """
    asked = set(analyze(question, _LANGUAGES))
    said = set(analyze(MARKER.sub("", answer), _LANGUAGES))
    return bool(said - asked)


def _idf(term_sets: list[set[str]]) -> dict[str, float]:
    """How distinctive each term is among the prompt's source sentences: rare terms weigh more.

    Example: "ford" in 9 of 10 sentences -> 0.75; "colonia" in 1 of 10 -> 2.4
    """
    counts: dict[str, int] = {}
    for terms in term_sets:
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
    return {term: math.log(1 + len(term_sets) / n) for term, n in counts.items()}


def _source_sentences(hit: Hit) -> list[str]:
    text = hit.chunk.text
    return [hit.chunk.header()] + [text[a:b] for a, b in sentence_spans(hit)]


StoredVectors = Callable[[list[str]], dict[str, np.ndarray]]  # chunk ids -> their sentences' vectors


class Verifier:
    """Attributes answer sentences to sources. Thread-safe; source sentence vectors are cached.

    With `stored` (the store's sentence vectors by chunk id), a source's sentences are not embedded
    again: the vectors the index holds for them are used, and only the answer and headers are embedded.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        min_similarity: float,
        lexical_weight: float = 0.1,
        stored: StoredVectors | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.stored = stored
        self.min_similarity = min_similarity
        # added to the similarity, scaled by the share of the answer's distinctive words a sentence holds
        # (on the seed eval, 0.1 moved four answers' citations to the sentence holding the fact, one away)
        self.lexical_weight = lexical_weight
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _vectors(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                if len(self._cache) > _CACHE_LIMIT:
                    self._cache.clear()
                for text, vector in zip(missing, self.embeddings.embed_documents(missing), strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])

    def _take_stored(self, sources: list[Hit]) -> None:
        """Cache the stored vectors of the sources' sentences (when they match the text's sentences)."""
        if self.stored is None:
            return
        with self._lock:
            wanted = [h.chunk for h in sources if any(s not in self._cache for s in _source_sentences(h)[1:])]
        if not wanted:
            return
        found = self.stored([c.id for c in wanted])
        with self._lock:
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            for chunk in wanted:
                rows = found.get(chunk.id)
                spans = split_sentences(chunk.text)
                if rows is None or len(rows) != len(spans):  # an index of another layout: embed instead
                    continue
                for (a, b), row in zip(spans, rows, strict=True):
                    self._cache.setdefault(chunk.text[a:b], np.asarray(row, dtype=np.float32))

    def verify(self, answer: str, sources: list[Hit]) -> Verified:
        spans = split_sentences(answer)
        sentences = [MARKER.sub("", answer[a:b]).strip() for a, b in spans]
        keep = [i for i, s in enumerate(sentences) if re.search(r"\w", s)]
        if not keep or not sources:
            return Verified(text=MARKER.sub("", answer).strip(), supports=[])
        self._take_stored(sources)
        per_source = [_source_sentences(h) for h in sources]
        flat = [(i, s) for i, group in enumerate(per_source) for s in group]
        source_vectors = self._vectors([s for _, s in flat])
        answer_vectors = self._vectors([sentences[i] for i in keep])
        similarity = answer_vectors @ source_vectors.T
        sentence_numbers = [numbers_in(text, source=True) for _, text in flat]
        source_numbers: list[set[str]] = [set() for _ in per_source]
        for (source, _), numbers in zip(flat, sentence_numbers, strict=True):
            source_numbers[source] |= numbers
        sentence_terms = [set(analyze(text, _LANGUAGES)) for _, text in flat]
        source_terms: list[set[str]] = [set() for _ in per_source]
        for (source, _), terms in zip(flat, sentence_terms, strict=True):
            source_terms[source] |= terms
        idf = _idf(sentence_terms)

        def best(candidates: list[int], row: int, terms: set[str]) -> int | None:
            """The candidate column similar enough that fits best: similarity plus shared distinctive words."""
            close = [col for col in candidates if similarity[row, col] >= self.min_similarity]
            weight = sum(idf.get(t, 0.0) for t in terms) or 1.0
            fits = [
                float(similarity[row, col])
                + self.lexical_weight * sum(idf[t] for t in terms & sentence_terms[col]) / weight
                for col in close
            ]
            return close[fits.index(max(fits))] if close else None  # the first of equals: rank order

        supports: dict[int, SentenceSupport] = {}
        for row, i in enumerate(keep):
            needed = numbers_in(sentences[i])
            terms = set(analyze(sentences[i], _LANGUAGES))
            # only a source sharing a word with the sentence can support it: similarity alone lets fluent
            # text about something else through (e5 puts almost any two sentences near 0.8)
            anchored = {source for source, words in enumerate(source_terms) if terms & words}
            # a sentence stating the numbers itself beats one whose passage states them elsewhere
            stating = [
                col
                for col, (source, _) in enumerate(flat)
                if needed and needed <= sentence_numbers[col] and source in anchored
            ]
            columns = stating or [
                col for col, (source, _) in enumerate(flat) if needed <= source_numbers[source] and source in anchored
            ]
            if not columns and len(needed) > 1:
                # "started in 2023, and the Ford cars arrive in 2028": each number from the sentence stating it
                parts = [
                    best(
                        [c for c in range(len(flat)) if n in sentence_numbers[c] and flat[c][0] in anchored], row, terms
                    )
                    for n in sorted(needed)
                ]
                if all(col is not None for col in parts):
                    cover = sorted({col for col in parts if col is not None}, key=lambda c: -similarity[row, c])
                    first = cover[0]
                    others: dict[int, str] = {}
                    for c in cover[1:]:
                        if flat[c][0] != flat[first][0]:
                            others.setdefault(flat[c][0] + 1, flat[c][1])
                    more = tuple(others.items())
                    supports[i] = SentenceSupport(
                        sentences[i], flat[first][0] + 1, flat[first][1], float(similarity[row, first]), "ok", more
                    )
                    continue
            if not columns:
                supports[i] = SentenceSupport(sentences[i], None, "", 0.0, "number" if anchored else "unanchored")
                continue
            col = best(columns, row, terms)
            if col is None:
                top = max(float(similarity[row, col]) for col in columns)
                supports[i] = SentenceSupport(sentences[i], None, "", top, "weak")
                continue
            source, text = flat[col]
            supports[i] = SentenceSupport(sentences[i], source + 1, text, float(similarity[row, col]), "ok")

        pieces: list[str] = []
        for i in range(len(spans)):
            if i not in supports:
                continue
            support = supports[i]
            body = sentences[i]
            punct = ""
            if body and body[-1] in ".!?":
                body, punct = body[:-1].rstrip(), body[-1]
            markers = "".join(f"[{source}]" for source in dict.fromkeys(source for source, _ in support.cited()))
            pieces.append(f"{body} {markers}{punct}" if markers else f"{body}{punct}")
        return Verified(text=" ".join(pieces), supports=[supports[i] for i in keep])
