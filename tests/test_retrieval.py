from __future__ import annotations

from pathlib import Path

from rag.chunking import split_sentences
from rag.ingest import ingest
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
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
