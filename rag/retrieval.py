"""Hybrid retrieval: Chroma dense search + BM25 over the same chunks, fused by reciprocal rank.

The BM25 side is rebuilt whenever the store's revision changes, so articles added or removed
(by this process or another) are searchable without a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .keyword import BM25Index, analyze
from .settings import Settings
from .store import ChunkStore
from .types import Chunk, Hit

QUERY_LANGUAGES = ("it", "en")


@dataclass(frozen=True)
class _KeywordSide:
    revision: str
    chunks: list[Chunk]
    index: BM25Index


def rrf_fuse(rankings: list[tuple[list[str], float]], rrf_k: int) -> dict[str, float]:
    """Weighted reciprocal rank fusion: sum over rankings of weight / (rrf_k + rank).

    Example: rankings [(["a", "b"], 1.0), (["b"], 1.0)], rrf_k=60 -> b: 1/62 + 1/61 > a: 1/61
    """
    fused: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, chunk_id in enumerate(ids, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    return fused


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
                chunks = self.store.all_chunks()
                index = BM25Index(
                    [analyze(c.text, [c.language if c.language in QUERY_LANGUAGES else "it"]) for c in chunks]
                )
                self._keyword = _KeywordSide(revision, chunks, index)
            return self._keyword

    def keyword_search(self, question: str, n: int) -> list[tuple[Chunk, float]]:
        side = self._keyword_side()
        scores = side.index.scores(analyze(question, QUERY_LANGUAGES))
        ranked = sorted(
            ((chunk, score) for chunk, score in zip(side.chunks, scores, strict=True) if score > 0),
            key=lambda pair: (-pair[1], pair[0].id),
        )
        return ranked[:n]

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The top-k chunks for the question, best first."""
        k = k or self.settings.k
        depth = max(self.settings.candidates, k)
        dense = self.store.dense_search(question, depth)
        keyword = self.keyword_search(question, depth)
        by_id: dict[str, Chunk] = {c.id: c for c, _ in dense}
        by_id.update({c.id: c for c, _ in keyword})
        dense_scores = {c.id: s for c, s in dense}
        keyword_scores = {c.id: s for c, s in keyword}
        fused = rrf_fuse(
            [
                ([c.id for c, _ in dense], self.settings.dense_weight),
                ([c.id for c, _ in keyword], self.settings.keyword_weight),
            ],
            self.settings.rrf_k,
        )
        order = sorted(fused, key=lambda cid: (-fused[cid], -dense_scores.get(cid, 0.0), cid))[:k]
        return [
            Hit(
                chunk=by_id[cid],
                rank=rank,
                score=round(fused[cid], 6),
                dense_score=dense_scores.get(cid),
                keyword_score=keyword_scores.get(cid),
            )
            for rank, cid in enumerate(order, start=1)
        ]
