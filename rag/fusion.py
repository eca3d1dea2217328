"""Fusion: what each retriever returned for one question -> one ranked list of chunk ids.

Pure functions over `Candidates`, so the same code ranks at question time and in the tuning runs
(evals/tune_retrieval.py), which gather each question's candidates once and fuse them many ways.

Two rules:
- "rrf" (reciprocal rank fusion): each ranking (best sentence, whole chunk, BM25, and the chunk's
  article) adds weight / (rrf_k + rank). Only ranks count, so it does not depend on the embedder's
  similarity scale, nor on how one language's similarities run against another's.
- "score": best sentence + chunk weight x chunk similarity (optionally centred per article language),
  + article weight x the article's best such score, + keyword weight x BM25 scaled to 0..1.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

FusionRule = Literal["rrf", "score"]
MIN_GROUP_FOR_BALANCE = 3  # fewer candidates in a language than this: no centring for it


@dataclass(frozen=True)
class Fusion:
    """How the rankings are combined (`Settings.fusion_params`)."""

    rule: FusionRule
    chunk_weight: float
    article_weight: float
    keyword_weight: float
    rrf_k: int = 60
    balance_languages: bool = False  # "score" only: centre semantic scores per article language


@dataclass(frozen=True)
class Candidates:
    """One question's candidates, each side's scores by chunk id (a side's order is by its score)."""

    sentence: Mapping[str, float]  # the chunk's best sentence similarity
    dense: Mapping[str, float]  # the whole chunk's similarity
    keyword: Mapping[str, float]  # BM25
    article: Mapping[str, str]  # chunk id -> article id, for every candidate
    language: Mapping[str, str]  # chunk id -> article language, for every candidate

    @property
    def ids(self) -> list[str]:
        return list(self.article)


def fuse(candidates: Candidates, fusion: Fusion) -> dict[str, float]:
    """Each candidate's fused score (higher is better)."""
    if fusion.rule == "rrf":
        return _rrf(candidates, fusion)
    return _score(candidates, fusion)


def ranked(candidates: Candidates, fusion: Fusion, k: int) -> list[tuple[str, float]]:
    """The top k (chunk id, fused score), best first; ties by id, so the order is stable."""
    fused = fuse(candidates, fusion)
    order = sorted(fused, key=lambda cid: (-fused[cid], cid))[:k]
    return [(cid, fused[cid]) for cid in order]


def _ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based rank of each id by descending score, ties by id."""
    return {cid: rank for rank, cid in enumerate(sorted(scores, key=lambda c: (-scores[c], c)), start=1)}


def _rrf(c: Candidates, f: Fusion) -> dict[str, float]:
    sides = [(1.0, _ranks(c.sentence)), (f.chunk_weight, _ranks(c.dense)), (f.keyword_weight, _ranks(c.keyword))]
    base = {
        cid: sum(weight / (f.rrf_k + ranks[cid]) for weight, ranks in sides if weight and cid in ranks) for cid in c.ids
    }
    if not f.article_weight:
        return base
    best: dict[str, float] = {}
    for cid, score in base.items():
        best[c.article[cid]] = max(best.get(c.article[cid], score), score)
    article_rank = _ranks(best)
    return {cid: score + f.article_weight / (f.rrf_k + article_rank[c.article[cid]]) for cid, score in base.items()}


def _score(c: Candidates, f: Fusion) -> dict[str, float]:
    # a side that did not return a candidate gives it its lowest returned score (an upper bound)
    sentence_floor = min(c.sentence.values(), default=0.0)
    dense_floor = min(c.dense.values(), default=0.0)
    semantic = {
        cid: c.sentence.get(cid, sentence_floor) + f.chunk_weight * c.dense.get(cid, dense_floor) for cid in c.ids
    }
    if f.balance_languages:
        semantic = balance_by_language(semantic, c.language)
    best: dict[str, float] = {}
    for cid, score in semantic.items():
        best[c.article[cid]] = max(best.get(c.article[cid], score), score)
    top_keyword = max(c.keyword.values(), default=0.0) or 1.0
    return {
        cid: semantic[cid]
        + f.article_weight * best[c.article[cid]]
        + f.keyword_weight * c.keyword.get(cid, 0.0) / top_keyword
        for cid in c.ids
    }


def balance_by_language(scores: Mapping[str, float], language: Mapping[str, str]) -> dict[str, float]:
    """Subtract each language's median score, so languages compete on how far above their typical score.

    Example: {"a": 0.9, "b": 0.8, "c": 0.7 (all it), "x": 0.85, "y": 0.84, "z": 0.83 (all en)}
    -> a +0.1, x +0.01: the Italian passage that stands out wins over the flat English group.
    It lets a language with few candidates win (its median is its own few best chunks): off for
    every embedder that ranks well without it.
    """
    groups: dict[str, list[float]] = {}
    for cid, score in scores.items():
        groups.setdefault(language[cid], []).append(score)
    medians = {
        lang: statistics.median(values) for lang, values in groups.items() if len(values) >= MIN_GROUP_FOR_BALANCE
    }
    return {cid: score - medians.get(language[cid], 0.0) for cid, score in scores.items()}
