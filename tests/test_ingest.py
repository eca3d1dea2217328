"""Ingest into a real persistent Chroma with a fake embedder: idempotent, replaces, removes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import CorpusError, EmbedderMismatch, IndexNotBuilt
from rag.ingest import ingest, read_manifest
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings, walk_with_unreadable


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
    assert manifest["embedder"] == "fake/hash-256+sentences@128d"  # with the sentence index's width in force
    assert manifest["chunks"] == report.chunks
    assert sorted(a["date"] for a in manifest["articles"]) == ["2025-09-17", "2025-12-09"]


def test_querying_with_another_embedder_is_an_error_and_ingest_rebuilds_with_a_note(settings: Settings) -> None:
    first = ingest(settings, ChunkStore(settings, HashEmbeddings()))
    assert first.rebuilt == ""
    other = ChunkStore(settings, HashEmbeddings(name="fake/other"))
    with pytest.raises(EmbedderMismatch, match="rag ingest --rebuild"):
        other.dense_search("Douai", 3)  # never silently mixes vectors
    report = ingest(settings, other)  # an old index after RAG_EMBEDDER changed: `make run` just works
    assert "fake/hash-256" in report.rebuilt and "fake/other" in report.rebuilt
    assert report.added == report.chunks == first.chunks
    assert other.built_with() == "fake/other+sentences@128d" and not other.problems()
    assert ingest(settings, other).rebuilt == ""  # and only once


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


def test_what_an_interrupted_write_leaves_is_found_and_redone(settings: Settings) -> None:
    store = ChunkStore(settings, HashEmbeddings())
    clean = ingest(settings, store)
    assert not store.problems()
    chunks = store.all_chunks()
    sentences = store._sentences()
    # a chunk whose sentences were not all written, and sentences whose chunk was not
    sentences.delete(ids=[f"{chunks[0].id}:0"])
    store._collection().delete(ids=[chunks[1].id])
    found = store.problems()
    assert found.incomplete_chunks == [chunks[0].id]
    assert len(found.orphan_sentences) == len(store.sentence_vectors([chunks[1].id])[chunks[1].id])
    assert "1 of" in found.describe()

    again = ingest(settings, store)
    assert not store.problems()
    assert again.repaired == 1 and again.added == 2 and again.chunks == clean.chunks
    assert store.stored_ids() == {c.id for c in chunks}


def test_the_article_list_comes_from_the_index_not_the_manifest(settings: Settings) -> None:
    from rag.library import list_articles

    store = ChunkStore(settings, HashEmbeddings())
    assert list_articles(store) == []  # before the first ingest
    report = ingest(settings, store)
    settings.manifest_path.unlink()  # as if the ingest had been killed before writing it
    entries = list_articles(store)
    assert sum(e.chunks for e in entries) == report.chunks and len(entries) == report.articles
    assert all(e.source.endswith(".md") and e.content_hash for e in entries)


def test_a_corpus_with_nothing_loadable_is_an_error_naming_why(settings: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "vuoto.md").write_text("  \n")
    bare = settings.model_copy(update={"corpus": (empty,), "index": tmp_path / "fresh"})
    with pytest.raises(CorpusError, match=r"vuoto\.md.*nothing to index"):
        ingest(bare, ChunkStore(bare, HashEmbeddings()))


def test_articles_in_a_folder_that_cannot_be_read_stay_indexed(
    settings: Settings, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = corpus_dir / "private"
    private.mkdir()
    first = sorted(corpus_dir.glob("*.md"))[0]
    first.rename(private / first.name)
    store = ChunkStore(settings, HashEmbeddings())
    before = ingest(settings, store)
    monkeypatch.setattr("rag.corpus.os.walk", walk_with_unreadable("private"))
    after = ingest(settings, store)
    assert after.removed == 0 and len(store.stored_ids()) == before.chunks
    assert any("cannot be read" in line for line in after.skipped_files)


def test_whole_collection_reads_are_paged(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large index is read a page at a time (one `get` of 100k chunks fails in Chroma's SQLite)."""
    store = ChunkStore(settings, HashEmbeddings())
    report = ingest(settings, store)
    whole = (store.stored_ids(), [c.id for c in store.all_chunks()], store.problems())
    monkeypatch.setattr("rag.store._PAGE", 3)  # every read now takes many pages, the last one partial
    paged = (store.stored_ids(), [c.id for c in store.all_chunks()], store.problems())
    assert paged == whole and len(paged[0]) == report.chunks and not paged[2]
