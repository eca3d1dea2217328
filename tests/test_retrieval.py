from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import rag.retrieval
from rag.chunking import split_sentences
from rag.ingest import ingest
from rag.keyword import BM25Index
from rag.periods import day_number
from rag.retrieval import HybridRetriever, _admitted, _KeywordSide
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Chunk, Scope
from tests.fakes import HashEmbeddings


def _retriever(settings: Settings) -> HybridRetriever:
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    return HybridRetriever(settings, store)


def test_hybrid_search_finds_the_passage_with_the_fact(settings: Settings) -> None:
    # the fake embedder carries no meaning, so the keyword side must bring the passage up
    settings = settings.model_copy(update={"keyword_weight": 1.0})
    hits = _retriever(settings).search("Quanto è stato l'investimento per convertire lo stabilimento di Douai?", k=3)
    assert "550 milioni" in hits[0].chunk.text
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].keyword_score and hits[0].keyword_score > 0
    assert hits[0].best_sentence and hits[0].best_sentence in hits[0].chunk.text
    # every sentence of every hit is scored, in text order; the best one is the 550 sentence
    for hit in hits:
        assert len(hit.sentence_scores) == len(split_sentences(hit.chunk.text))
    spans = split_sentences(hits[0].chunk.text)
    best = max(range(len(spans)), key=hits[0].sentence_scores.__getitem__)
    assert "550 milioni" in hits[0].chunk.text[spans[best][0] : spans[best][1]]


def test_sentence_vectors_read_by_id_are_those_read_by_chunk(settings: Settings) -> None:
    """The search reads the hits' sentences by their ids (chunk id and position), not by a filter on the chunk."""
    store = _retriever(settings).store
    chunks = store.all_chunks()
    counts = {c.id: len(split_sentences(c.text)) for c in chunks}
    by_id = store.sentence_vectors(counts, counts)
    by_chunk = store.sentence_vectors(counts)
    assert set(by_id) == set(by_chunk) == set(counts) and len(counts) > 5
    for cid, rows in by_chunk.items():
        assert rows.shape[0] == counts[cid] and np.array_equal(by_id[cid], rows)


def test_k_controls_how_many_passages_come_back(settings: Settings) -> None:
    retriever = _retriever(settings)
    assert len(retriever.search("Ford", k=2)) == 2
    assert len(retriever.search("Ford", k=5)) == 5


def test_new_article_is_searchable_without_a_new_retriever(settings: Settings, corpus_dir: Path) -> None:
    retriever = _retriever(settings)
    assert not any("Zanzibar" in h.chunk.text for h in retriever.search("Zanzibar gigafactory", k=3))
    (corpus_dir / "nuovo.md").write_text(
        "---\ntitle: Nuova fabbrica\ndate: 2026-01-10\nlanguage: it\n---\n\n"
        "Ampere aprirà una gigafactory a Zanzibar nel 2027. L'impianto produrrà batterie.\n",
        encoding="utf-8",
    )
    ingest(settings, retriever.store)
    hits = retriever.search("Zanzibar gigafactory", k=3)
    assert "Zanzibar" in hits[0].chunk.text
    (corpus_dir / "nuovo.md").unlink()
    ingest(settings, retriever.store)
    assert not any("Zanzibar" in h.chunk.text for h in retriever.search("Zanzibar gigafactory", k=3))


def test_the_keyword_side_admits_what_a_scope_admits() -> None:
    # the BM25 side filters by a days array; it must agree with Scope.admits, chunk by chunk
    dates = ["2025-09-17", "2025-12-09", "", "2024-02-20", "2025-12-31", "not a date", "2026-01-01"]
    chunks = [Chunk(f"c{i}", f"a{i % 3}", "t", d, "it", "p", "testo", 0, 5, 0) for i, d in enumerate(dates)]
    side = _KeywordSide(
        "r", {c.id: c for c in chunks}, [c.id for c in chunks], BM25Index([["testo"]] * len(chunks)), {},
        np.asarray([day_number(c.date) for c in chunks]),
    )  # fmt: skip
    scopes = [
        Scope(20250901, 20251231), Scope(20251201, 0), Scope(0, 20250101), Scope(article_ids=frozenset({"a1"})),
        Scope(20250101, 20251231, frozenset({"a0", "a2"})), Scope(20300101, 0),
    ]  # fmt: skip
    for scope in scopes:
        assert list(_admitted(side, scope)) == [scope.admits(c) for c in chunks], scope


def test_a_scope_searched_among_ids_finds_what_its_where_filter_finds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a scope goes to Chroma as the ids it admits, as `where` on `day` past the ids limit, or, admitting
    # most chunks, as a deeper unscoped search filtered here: the same hits all three ways
    retriever = _retriever(settings)
    questions = ["Quanto è stato l'investimento a Douai?", "Who leads Renault Group?", "Ford e Renault"]
    scopes = [Scope(20250901, 20250930), Scope(20251201, 20251231), Scope(20240101, 20241231)]

    def searched() -> list[list[str]]:
        return [[h.chunk.id for h in retriever.search(q, scope=s)] for q in questions for s in scopes]

    monkeypatch.setattr(rag.retrieval, "WIDE_SCOPE", 0.0)
    filtered = searched()
    monkeypatch.setattr(rag.retrieval, "WIDE_SCOPE", 2.0)  # never wide
    among_ids = searched()
    monkeypatch.setattr(rag.retrieval, "SCOPE_IDS_LIMIT", 0)
    by_where = searched()
    assert among_ids == by_where == filtered and any(among_ids) and not all(among_ids)  # 2024 admits nothing


def test_a_retriever_keeps_numpys_blas_on_one_thread(settings: Settings) -> None:
    """Its spinning workers would take a core from the threads embedding the next question."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    _retriever(settings)
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
