"""Shorter EmbeddingGemma vectors (RAG_EMBEDDER_DIMS) and a narrower sentence index (RAG_SENTENCE_DIMS): the cut,
the rescoring by whole vectors, the name in the index, the settings each needs."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import EmbedderMismatch, ModelUnavailable
from rag.ingest import ingest
from rag.models.embeddings import make_embeddings
from rag.models.embeddings_server import local_embedder
from rag.models.matryoshka import ShortEmbeddings, packed, rescored, shortened, unpacked
from rag.settings import DEFAULT_SENTENCE_DIMS, Settings
from rag.store import VECTOR_KEY, ChunkStore
from tests.fakes import DIM, HashEmbeddings


def test_a_shortened_vector_is_the_start_of_the_whole_one_at_unit_length() -> None:
    rng = np.random.default_rng(0)
    whole = rng.normal(size=(3, 768)).astype(np.float32)
    short = np.asarray(shortened(whole, 256))
    assert short.shape == (3, 256)
    assert np.allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-6)
    # the same direction as the whole vector's first 256 components
    cosine = np.sum(short * whole[:, :256], axis=1) / np.linalg.norm(whole[:, :256], axis=1)
    assert np.allclose(cosine, 1.0, atol=1e-6)
    assert np.allclose(shortened([[3.0, 4.0, 12.0]], 2), [[0.6, 0.8]])


def test_the_width_is_part_of_the_name_and_queries_and_documents_are_cut_alike() -> None:
    inner = HashEmbeddings()
    short = ShortEmbeddings(inner, 64)
    assert short.name == "fake/hash-256@64d"
    document = short.embed_documents(["Renault e Ford firmano a Douai"])[0]
    query = short.embed_query("Renault e Ford firmano a Douai")
    assert len(document) == len(query) == 64
    assert document == pytest.approx(query)
    assert short.calls == inner.calls == 1  # the inner embedder's own attributes show through
    assert short.embed_documents([]) == []


def test_an_index_of_another_width_is_re_embedded_not_mixed(settings: Settings) -> None:
    settings = _narrow(settings, 0)  # the vectors' width alone in the name
    whole = ChunkStore(settings, HashEmbeddings())
    first = ingest(settings, whole)
    short = ChunkStore(settings, ShortEmbeddings(HashEmbeddings(), DIM // 4))
    report = ingest(settings, short)
    assert "fake/hash-256@64d" in report.rebuilt
    assert report.added == first.chunks
    hits = short.dense_search("Douai", 3)
    assert hits and short.built_with() == "fake/hash-256@64d"


def test_a_width_needs_an_embedder_trained_for_it(settings: Settings) -> None:
    with pytest.raises(ModelUnavailable, match="RAG_EMBEDDER_DIMS=256 needs EmbeddingGemma"):
        make_embeddings(settings.model_copy(update={"embedder": "e5", "embedder_dims": 256}))


def test_the_embeddings_server_serves_whole_vectors_whatever_the_desk_s_width(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []

    def fake_make(local: Settings) -> HashEmbeddings:
        seen.append(local)
        fake = HashEmbeddings()
        fake.embed_raw = fake.embed_documents  # type: ignore[attr-defined]
        return fake

    monkeypatch.setattr("rag.models.embeddings.make_embeddings", fake_make)
    local_embedder(settings.model_copy(update={"embedder": "openai:embeddinggemma", "embedder_dims": 256}))
    assert seen[0].embedder == "embeddinggemma" and seen[0].embedder_dims == 768


def test_only_the_trained_widths_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_EMBEDDER_DIMS", "256")
    assert Settings().embedder_dims == 256  # from the environment, as a number
    monkeypatch.setenv("RAG_EMBEDDER_DIMS", "300")
    with pytest.raises(ValueError, match="RAG_EMBEDDER_DIMS must be one of 768, 512, 256, 128"):
        Settings()


# -- a narrower sentence index (RAG_SENTENCE_DIMS) -------------------------------------------------------------


def test_a_packed_vector_comes_back_to_float16_precision() -> None:
    rng = np.random.default_rng(1)
    vector = rng.normal(size=768).astype(np.float32)
    vector /= np.linalg.norm(vector)
    text = packed(vector)
    assert isinstance(text, str) and len(text) == 2048  # 768 float16 values in base64
    back = unpacked(text)
    assert back.dtype == np.float32 and back.shape == (768,)
    assert np.max(np.abs(back - vector)) < 1e-3
    assert list(unpacked(packed([0.5, -1.0]))) == [0.5, -1.0]


def test_rescored_is_the_cosine_whatever_the_rows_lengths() -> None:
    rows = np.asarray([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0]], dtype=np.float32)
    assert rescored([0.0, 5.0], rows) == pytest.approx([0.8, 1.0, 0.0])


def _narrow(settings: Settings, dims: int = DIM // 2) -> Settings:
    return settings.model_copy(update={"sentence_dims": dims})


def test_a_narrow_sentence_index_stores_short_vectors_and_ranks_by_the_whole_ones(settings: Settings) -> None:
    settings = _narrow(settings, 0)
    whole = ChunkStore(settings, HashEmbeddings())
    ingest(settings, whole)
    narrow_settings = _narrow(settings.model_copy(update={"index": settings.index_dir.parent / "narrow"}))
    narrow = ChunkStore(narrow_settings, HashEmbeddings())
    ingest(narrow_settings, narrow)
    assert narrow.built_with() == "fake/hash-256+sentences@128d"
    stored = narrow._sentences().get(limit=5, include=["embeddings", "metadatas"])
    assert all(len(v) == DIM // 2 for v in stored["embeddings"])  # what the index holds in memory
    assert all(len(unpacked(m[VECTOR_KEY])) == DIM for m in stored["metadatas"])  # what a search rescores with
    query = HashEmbeddings().embed_query("Quando sarà presentata la versione Bev della Renault a Douai?")
    count = whole._sentences().count()
    # asked for every sentence, the narrow index's funnel holds them all: the same ranking, the whole vectors' scores
    full = whole.sentence_search(query, count)
    funnel = narrow.sentence_search(query, count)
    assert [(m.chunk_id, m.sentence) for m in funnel[:5]] == [(m.chunk_id, m.sentence) for m in full[:5]]
    assert [m.score for m in funnel] == pytest.approx([m.score for m in full], abs=2e-3)
    assert [m.score for m in funnel] == sorted((m.score for m in funnel), reverse=True)
    assert len(narrow.sentence_search(query, 3)) == 3
    # the verifier's and the prompt's vectors: the whole ones, to float16's precision
    ids = [full[0].chunk_id]
    assert np.allclose(narrow.sentence_vectors(ids)[ids[0]], whole.sentence_vectors(ids)[ids[0]], atol=1e-3)
    expected = whole.sentence_scores(query, ids)[ids[0]]
    assert narrow.sentence_scores(query, ids)[ids[0]] == pytest.approx(expected, abs=2e-3)
    assert not narrow.problems()


def test_an_index_of_another_sentence_width_is_rebuilt_or_refused(settings: Settings) -> None:
    settings = _narrow(settings, 0)
    ingest(settings, ChunkStore(settings, HashEmbeddings()))
    narrow = ChunkStore(_narrow(settings), HashEmbeddings())
    with pytest.raises(EmbedderMismatch, match=r"fake/hash-256\+sentences@128d") as refused:
        narrow.dense_search("Douai", 3)  # a whole-width index is not searched as a narrow one
    assert "RAG_SENTENCE_DIMS=0 keeps it" in str(refused.value)
    assert "RAG_SENTENCE_DIMS=128 keeps it" in str(EmbedderMismatch("fake/a+sentences@128d", "fake/a"))
    assert "RAG_SENTENCE_DIMS" not in str(EmbedderMismatch("fake/a+sentences@128d", "fake/b"))  # another embedder
    report = ingest(_narrow(settings), narrow)
    assert "+sentences@128d" in report.rebuilt
    assert narrow.dense_search("Douai", 3)


def test_the_sentence_width_needs_a_trained_embedder_and_a_narrower_width(monkeypatch: pytest.MonkeyPatch) -> None:
    # unset: EmbeddingGemma's sentences at the default width, other embedders' at their own, and never wider
    assert Settings().sentence_width == DEFAULT_SENTENCE_DIMS == 128
    assert Settings(embedder="e5").sentence_width == 0
    assert Settings(embedder="openai:embeddinggemma").sentence_width == 128
    assert Settings(embedder_dims=128).sentence_width == 0
    monkeypatch.setenv("RAG_SENTENCE_DIMS", "0")
    assert Settings().sentence_width == 0  # the whole vectors in the sentence index, as before
    monkeypatch.setenv("RAG_SENTENCE_DIMS", "256")
    assert Settings().sentence_dims == 256
    monkeypatch.setenv("RAG_EMBEDDER", "e5")
    with pytest.raises(ValueError, match="RAG_SENTENCE_DIMS=256 needs EmbeddingGemma"):
        Settings()
    monkeypatch.setenv("RAG_EMBEDDER", "openai:embeddinggemma")  # a server's EmbeddingGemma is trained for it too
    assert Settings().sentence_dims == 256
    for bad, width in (("768", "768"), ("300", "768"), ("512", "512")):
        monkeypatch.setenv("RAG_SENTENCE_DIMS", bad)
        monkeypatch.setenv("RAG_EMBEDDER_DIMS", width)
        with pytest.raises(ValueError, match="RAG_SENTENCE_DIMS must be 0 or a Matryoshka width below"):
            Settings()
