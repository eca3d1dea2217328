"""Ingest into a real persistent Chroma with a fake embedder: idempotent, replaces, removes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import EmbedderMismatch, IndexNotBuilt
from rag.ingest import ingest, read_manifest
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings


def test_ingest_twice_changes_nothing(settings: Settings) -> None:
    embeddings = HashEmbeddings()
    store = ChunkStore(settings, embeddings)
    first = ingest(settings, store)
    assert first.articles == 2 and first.chunks > 4 and first.added == first.chunks and first.removed == 0
    calls = embeddings.calls
    second = ingest(settings, ChunkStore(settings, embeddings))
    assert (second.chunks, second.added, second.removed, second.unchanged) == (first.chunks, 0, 0, first.chunks)
    assert embeddings.calls == calls  # nothing re-embedded
    assert len(ChunkStore(settings, embeddings).stored_ids()) == first.chunks


def test_changed_article_replaces_its_chunks_and_deleted_article_removes_them(
    settings: Settings, corpus_dir: Path
) -> None:
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    ford = next(p for p in corpus_dir.glob("*.md") if "Ford" in p.read_text(encoding="utf-8")[:300])
    text = ford.read_text(encoding="utf-8")
    ford.write_text(text.replace("inizio del 2028", "inizio del 2029"), encoding="utf-8")
    report = ingest(settings, store)
    assert report.added >= 1 and report.removed == report.added
    chunks = store.all_chunks()
    assert any("inizio del 2029" in c.text for c in chunks)
    assert not any("inizio del 2028" in c.text for c in chunks)  # no stale chunk
    assert len({c.id for c in chunks}) == len(chunks) == report.chunks

    ford.unlink()
    report = ingest(settings, store)
    assert report.articles == 1 and report.removed > 0
    assert {c.article_id for c in store.all_chunks()} == {p.stem for p in corpus_dir.glob("*.md")}


def test_manifest_records_embedder_and_articles(settings: Settings) -> None:
    store = ChunkStore(settings, HashEmbeddings())
    report = ingest(settings, store)
    manifest = read_manifest(settings)
    assert manifest is not None
    assert manifest["embedder"] == "fake/hash-256"
    assert manifest["chunks"] == report.chunks
    assert sorted(a["date"] for a in manifest["articles"]) == ["2025-09-17", "2025-12-09"]


def test_querying_with_another_embedder_is_an_error_naming_the_fix(settings: Settings) -> None:
    ingest(settings, ChunkStore(settings, HashEmbeddings()))
    other = ChunkStore(settings, HashEmbeddings(name="fake/other"))
    with pytest.raises(EmbedderMismatch, match="rag ingest --rebuild"):
        other.dense_search("Douai", 3)
    with pytest.raises(EmbedderMismatch):
        ingest(settings, other)  # never silently mixes vectors
    report = ingest(settings, other, rebuild=True)
    assert report.added == report.chunks
    assert other.built_with() == "fake/other"


def test_missing_index_says_to_ingest(settings: Settings) -> None:
    with pytest.raises(IndexNotBuilt, match="rag ingest"):
        ChunkStore(settings, HashEmbeddings()).dense_search("Douai", 3)
    assert not settings.chroma_path.exists()  # asking did not create an empty index


def test_rebuild_keeps_articles_and_feedback(settings: Settings, corpus_dir: Path) -> None:
    ingest(settings, ChunkStore(settings, HashEmbeddings()))
    settings.feedback_path.write_text('{"vote": "up"}\n')
    before = sorted(p.name for p in corpus_dir.iterdir())
    ingest(settings, ChunkStore(settings, HashEmbeddings()), rebuild=True)
    assert sorted(p.name for p in corpus_dir.iterdir()) == before
    assert settings.feedback_path.read_text() == '{"vote": "up"}\n'
