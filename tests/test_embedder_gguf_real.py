"""EmbeddingGemma on llama.cpp, for real: the conversion `rag model` runs (llama.cpp's converter out of
llama-cpp-python's source release), its record, the same vectors and hits as torch float32, and llama.cpp's
own OpenAI-compatible server serving the converted file as the embeddings server of an ingest
(rag/models/embedder_gguf.py, rag/models/roles.py).

The conversion takes some 15 s, into a temporary cache that links the verified model folder and the
converter's archive (fetched from PyPI when the user cache lacks it); the 334 MB file goes when the module ends.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ModelUnavailable
from rag.ingest import ingest
from rag.models.embedder_files import EMBEDDINGGEMMA_300M, model_dir
from rag.models.embedder_gguf import (
    CONVERTER,
    RECORD,
    WEIGHTS,
    LlamaGemmaEmbeddings,
    check_gguf,
    convert_gguf,
    gguf_dir,
)
from rag.models.embeddings import GemmaEmbeddings, make_embeddings
from rag.models.roles import RoleEmbeddings
from rag.settings import Settings, default_cache_dir
from rag.store import ChunkStore
from tests.conftest import FIXTURES, free_port, model_cache, running_server
from tests.test_embedder_onnx_real import bilingual_texts, cosines, project_questions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder with the verified model (a link to the user's) and its Q8_0 conversion."""
    cache = model_cache(tmp_path_factory)
    archive = default_cache_dir() / "sources" / CONVERTER.archive
    if archive.is_file():  # else the conversion fetches it
        (cache / "sources").mkdir()
        (cache / "sources" / CONVERTER.archive).symlink_to(archive)
    convert_gguf(cache, "gguf", log=lambda _: None)
    yield cache
    shutil.rmtree(gguf_dir(cache, "gguf"), ignore_errors=True)


@pytest.fixture(scope="module")
def torch32(cache: Path) -> GemmaEmbeddings:
    return GemmaEmbeddings(model_dir(cache), "float32")


@pytest.fixture(scope="module")
def gguf(cache: Path) -> LlamaGemmaEmbeddings:
    return LlamaGemmaEmbeddings(model_dir(cache), check_gguf(cache, "gguf"), "gguf")


def test_the_conversion_is_recorded_and_a_changed_file_fails_the_check(cache: Path, tmp_path: Path) -> None:
    folder = check_gguf(cache, "gguf", verify_hashes=True)
    record = json.loads((folder / RECORD).read_text())
    assert record["outtype"] == "q8_0" and record["source_sha256"] == EMBEDDINGGEMMA_300M.safetensors_sha256
    assert record["converter_sha256"] == CONVERTER.sha256 and set(record["files"]) == {WEIGHTS}
    assert 300e6 < record["files"][WEIGHTS]["size"] < 400e6  # 8.5 bits a weight, not float32's 1.2 GB
    assert [p.name for p in (cache / "models").iterdir() if p.name.startswith(".")] == []  # no work folder left
    said: list[str] = []
    assert convert_gguf(cache, "gguf", log=said.append) == folder and said == []  # ready: not converted again

    changed = gguf_dir(tmp_path, "gguf")  # a copy with one byte changed: same size, another sha256
    changed.mkdir(parents=True)
    shutil.copy(folder / RECORD, changed / RECORD)
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (changed / WEIGHTS).write_bytes(data)
    with pytest.raises(ModelUnavailable, match=r"model\.gguf does not match the sha256.*`rag model`"):
        check_gguf(tmp_path, "gguf", verify_hashes=True)
    with pytest.raises(ModelUnavailable, match=r"not exported yet.*`rag model`"):
        check_gguf(tmp_path, "gguf-f16")  # another runtime's conversion is not this one


def test_llama_cpp_gives_torch_float32_vectors(torch32: GemmaEmbeddings, gguf: LlamaGemmaEmbeddings) -> None:
    texts = bilingual_texts()
    assert len(texts) == 20 and max(map(len, texts)) > 1000  # several passes of llama.cpp, long and short
    documents = cosines(torch32.embed_documents(texts), gguf.embed_documents(texts))
    assert documents.min() >= 0.999, dict(zip(texts, documents.round(6), strict=True))
    questions = project_questions()
    queries = cosines([torch32.embed_query(q) for q in questions], [gguf.embed_query(q) for q in questions])
    assert queries.min() >= 0.999, dict(zip(questions, queries.round(6), strict=True))
    # the same texts give the same vectors; one text alone or among others nearly so (each text is its own
    # sequence of a pass, but Q8_0 products depend on the pass's shape: 0.9998 measured)
    assert gguf.embed_documents(texts) == gguf.embed_documents(texts)
    alone = np.asarray(gguf.embed_documents(texts[3:4])[0])
    assert float(alone @ np.asarray(gguf.embed_documents(texts)[3])) > 0.999


def test_an_index_built_by_torch_answers_llama_cpp_questions_alike(
    settings: Settings, corpus_dir: Path, tmp_path: Path, torch32: GemmaEmbeddings, gguf: LlamaGemmaEmbeddings
) -> None:
    """What `auto` does: documents on one runtime, questions on llama.cpp (RoleEmbeddings)."""
    for article in (FIXTURES / "news").glob("*.md"):
        shutil.copy(article, corpus_dir / article.name)
    run = settings.model_copy(update={"index": tmp_path / "index"})
    store = ChunkStore(run, RoleEmbeddings(torch32, gguf))
    assert ingest(run, store).articles == 6
    for question in project_questions():
        by_torch, by_llama = torch32.embed_query(question), store.embed_query(question)
        assert_same_up_to_near_ties(question, (store, by_torch), (store, by_llama))


def assert_same_up_to_near_ties(question: str, *asked: tuple[ChunkStore, list[float]]) -> None:
    """The same first chunk and sentence; below them, each rank's similarity within 0.01, so two that swap
    are near-ties (among the 12 project questions, 3 sentence lists of llama.cpp's questions swap two whose
    similarities differ by 0.0007 to 0.003; bfloat16's swapped 1)."""
    (first, a), (second, b) = asked
    chunks = [first.dense_search(a, 5), second.dense_search(b, 5)]
    sentences = [first.sentence_search(a, 5), second.sentence_search(b, 5)]
    assert chunks[0][0][0].id == chunks[1][0][0].id, (question, chunks)
    assert sentences[0][0].sentence == sentences[1][0].sentence, (question, sentences)
    for one, other in zip(sentences[0], sentences[1], strict=True):
        assert abs(one.score - other.score) < 0.01, (question, one, other)
    for (_, one_score), (_, other_score) in zip(chunks[0], chunks[1], strict=True):
        assert abs(one_score - other_score) < 0.01, (question, chunks)


@pytest.fixture(scope="module")
def llama_server(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's own OpenAI-compatible server (llama-cpp-python's `llama_cpp.server`) with the converted file."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_dir(cache, "gguf") / WEIGHTS),
               "--embedding", "true", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
               "--n_batch", "2048", "--n_ubatch", "2048", "--n_threads", "2"]  # fmt: skip
    folder = tmp_path_factory.mktemp("embeddings-server")
    with running_server(command, f"http://127.0.0.1:{port}/v1", folder, "llama.cpp's server", 120) as url:
        yield url


def test_llama_cpp_server_serves_the_same_index(
    settings: Settings, corpus_dir: Path, tmp_path: Path, llama_server: str, gguf: LlamaGemmaEmbeddings
) -> None:
    """RAG_EMBEDDER=openai:embeddinggemma against a server that is not ours: the client adds the prompts."""
    remote = make_embeddings(Settings(embedder="openai:embeddinggemma", embeddings_url=llama_server))
    # the same file, but the server's own passes and attention kernel move Q8_0's vectors a little (0.9998)
    texts = bilingual_texts()
    assert cosines(remote.embed_documents(texts), gguf.embed_documents(texts)).min() >= 0.999

    for article in (FIXTURES / "news").glob("*.md"):
        shutil.copy(article, corpus_dir / article.name)
    stores = {}
    for name, embeddings in (("served", remote), ("local", gguf)):
        run = settings.model_copy(update={"index": tmp_path / f"index-{name}"})
        stores[name] = ChunkStore(run, embeddings)
        assert ingest(run, stores[name]).articles == 6
    for question in project_questions():
        served, local = remote.embed_query(question), gguf.embed_query(question)
        assert_same_up_to_near_ties(question, (stores["served"], served), (stores["local"], local))
