from __future__ import annotations

from pathlib import Path

from rag.ingest import ingest
from rag.retrieval import HybridRetriever, rrf_fuse
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings


def test_rrf_rewards_agreement() -> None:
    fused = rrf_fuse([(["a", "b", "c"], 1.0), (["b", "c"], 1.0)], rrf_k=60)
    assert max(fused, key=fused.__getitem__) == "b"
    weighted = rrf_fuse([(["a", "b"], 3.0), (["b", "a"], 1.0)], rrf_k=60)
    assert weighted["a"] > weighted["b"]


def _retriever(settings: Settings) -> HybridRetriever:
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    return HybridRetriever(settings, store)


def test_hybrid_search_finds_the_passage_with_the_fact(settings: Settings) -> None:
    hits = _retriever(settings).search("Quanto è stato l'investimento per convertire lo stabilimento di Douai?", k=3)
    assert "550 milioni" in hits[0].chunk.text
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].keyword_score and hits[0].keyword_score > 0


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
