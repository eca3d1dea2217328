"""Shorter EmbeddingGemma vectors (RAG_EMBEDDER_DIMS): the cut, its name in the index, the settings it needs."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import ModelUnavailable
from rag.ingest import ingest
from rag.models.embeddings import make_embeddings
from rag.models.embeddings_server import local_embedder
from rag.models.matryoshka import ShortEmbeddings, shortened
from rag.settings import Settings
from rag.store import ChunkStore
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
