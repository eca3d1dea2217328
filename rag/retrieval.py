"""Hybrid retrieval: dense search over chunks and over their sentences (Chroma) + BM25, fused by score.

A passage scores by its best-matching sentence plus its whole-chunk similarity. Cross-lingual
similarities run lower than same-language ones (an English question scores English distractors
above the Italian passage that answers it), so scores are centred per article language. The best
passage of an article lifts the article's other passages, and BM25 adds a small keyword term
(names, numbers). Weights were tuned on the development split of evals/questions.jsonl.

The BM25 side and the chunk table are reloaded whenever the store's revision changes, so
articles added or removed (by this process or another) are searchable without a restart.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass

from .keyword import BM25Index, analyze
from .settings import Settings
from .store import ChunkStore
from .types import Chunk, Hit

QUERY_LANGUAGES = ("it", "en")
MIN_GROUP_FOR_BALANCE = 3  # fewer candidates in a language than this: no centring for it


@dataclass(frozen=True)
class _KeywordSide:
    revision: str
    chunks: dict[str, Chunk]
    ids: list[str]
    index: BM25Index
    terms: dict[str, list[str]]  # each chunk's analyzed terms, reused when the index changes


def balance_by_language(scores: dict[str, float], language: dict[str, str]) -> dict[str, float]:
    """Subtract each language's median score, so languages compete on how far above their typical score.

    Example: {"a": 0.9, "b": 0.8, "c": 0.7 (all it), "x": 0.85, "y": 0.84, "z": 0.83 (all en)}
    -> a +0.1, x +0.01: the Italian passage that stands out wins over the flat English group.
    """
    groups: dict[str, list[float]] = {}
    for cid, score in scores.items():
        groups.setdefault(language[cid], []).append(score)
    medians = {
        lang: statistics.median(values) for lang, values in groups.items() if len(values) >= MIN_GROUP_FOR_BALANCE
    }
    return {cid: score - medians.get(language[cid], 0.0) for cid, score in scores.items()}


class HybridRetriever:
    def __init__(self, settings: Settings, store: ChunkStore) -> None:
        self.settings = settings
        self.store = store
        self._keyword: _KeywordSide | None = None
        self._lock = threading.Lock()

    def _keyword_side(self) -> _KeywordSide:
        revision = self.store.revision()
        with self._lock:
            if self._keyword is None or self._keyword.revision != revision:
                chunks = sorted(self.store.all_chunks(), key=lambda c: c.id)  # ties rank by id
                # a chunk's terms depend only on it: analyze just the chunks this side has not seen
                known = self._keyword.terms if self._keyword is not None else {}
                terms = {c.id: known.get(c.id) or analyze(f"{c.title}\n{c.text}", [_lang(c.language)]) for c in chunks}
                index = BM25Index([terms[c.id] for c in chunks])
                self._keyword = _KeywordSide(revision, {c.id: c for c in chunks}, [c.id for c in chunks], index, terms)
            return self._keyword

    def keyword_search(self, question: str, n: int) -> list[tuple[Chunk, float]]:
        side = self._keyword_side()
        return [(side.chunks[side.ids[i]], score) for i, score in side.index.top(analyze(question, QUERY_LANGUAGES), n)]

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The top-k chunks for the question, best first."""
        k = k or self.settings.k
        depth = max(self.settings.candidates, k)
        side = self._keyword_side()
        vector = self.store.embed_query(question)
        dense = {c.id: s for c, s in self.store.dense_search(vector, depth)}
        best_sentence: dict[str, tuple[float, str]] = {}
        for match in self.store.sentence_search(vector, 4 * depth):
            if match.chunk_id not in best_sentence:  # best first
                best_sentence[match.chunk_id] = (match.score, match.sentence)
        keyword = {c.id: s for c, s in self.keyword_search(question, depth)}

        candidates = [cid for cid in dict.fromkeys([*dense, *best_sentence, *keyword]) if cid in side.chunks]
        if not candidates:
            return []
        # a side that did not return a candidate gives it its lowest returned score (an upper bound)
        dense_floor = min(dense.values(), default=0.0)
        sentence_floor = min((s for s, _ in best_sentence.values()), default=0.0)
        semantic = {
            cid: best_sentence.get(cid, (sentence_floor, ""))[0]
            + self.settings.chunk_weight * dense.get(cid, dense_floor)
            for cid in candidates
        }
        if self.settings.profile.balance_languages:
            semantic = balance_by_language(semantic, {cid: side.chunks[cid].language for cid in candidates})
        article_best: dict[str, float] = {}
        for cid, score in semantic.items():
            article = side.chunks[cid].article_id
            article_best[article] = max(article_best.get(article, score), score)
        top_keyword = max(keyword.values(), default=0.0) or 1.0
        fused = {
            cid: semantic[cid]
            + self.settings.article_weight * article_best[side.chunks[cid].article_id]
            + self.settings.keyword_weight * keyword.get(cid, 0.0) / top_keyword
            for cid in candidates
        }
        order = sorted(candidates, key=lambda cid: (-fused[cid], cid))[:k]
        per_sentence = self.store.sentence_scores(vector, order)
        return [
            Hit(
                chunk=side.chunks[cid],
                rank=rank,
                score=round(fused[cid], 6),
                dense_score=dense.get(cid),
                keyword_score=keyword.get(cid),
                sentence_score=best_sentence[cid][0] if cid in best_sentence else None,
                best_sentence=best_sentence.get(cid, (0.0, ""))[1],
                sentence_scores=tuple(per_sentence.get(cid, ())),
            )
            for rank, cid in enumerate(order, start=1)
        ]


def _lang(language: str) -> str:
    return language if language in QUERY_LANGUAGES else "it"
