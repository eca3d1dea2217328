"""EmbeddingGemma on ONNX Runtime, for real: the export `rag model` runs, its record, and the same vectors and
the same hits as torch float32 (rag/models/embedder_onnx.py).

The export takes about 90 s and 2 GB of memory, so it runs once for the module, into a temporary cache that
links the verified model folder; the exported 1.2 GB go when the module ends.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.chunking import split_sentences
from rag.corpus import load_corpus
from rag.errors import ModelUnavailable
from rag.ingest import ingest
from rag.models.embedder_files import EMBEDDINGGEMMA_300M, model_dir
from rag.models.embedder_onnx import GRAPH, RECORD, OnnxGemmaEmbeddings, check_onnx, export_onnx, onnx_dir
from rag.models.embeddings import GemmaEmbeddings
from rag.settings import Settings
from rag.store import ChunkStore
from tests.conftest import FIXTURES, ROOT, SEED_CORPUS, model_cache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder with the verified model (a link to the user's) and its float32 ONNX export."""
    cache = model_cache(tmp_path_factory)
    export_onnx(cache, "onnx", log=lambda _: None)
    yield cache
    shutil.rmtree(onnx_dir(cache, "onnx"), ignore_errors=True)


@pytest.fixture(scope="module")
def torch32(cache: Path) -> GemmaEmbeddings:
    return GemmaEmbeddings(model_dir(cache), "float32")


@pytest.fixture(scope="module")
def onnx32(cache: Path) -> OnnxGemmaEmbeddings:
    return OnnxGemmaEmbeddings(model_dir(cache), check_onnx(cache, "onnx"), "onnx")


def project_questions() -> list[str]:
    """The first dozen project questions, Italian and English, about the seed articles."""
    lines = (ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines[:12]]


@pytest.fixture(scope="module")
def query_vectors(torch32: GemmaEmbeddings, onnx32: OnnxGemmaEmbeddings) -> dict[str, list[list[float]]]:
    """The project questions embedded by each runtime (once: both tests below use them)."""
    return {name: [e.embed_query(q) for q in project_questions()] for name, e in (("torch", torch32), ("onnx", onnx32))}


def bilingual_texts() -> list[str]:
    """Ten Italian and ten English texts from the seed and fixture articles: sentences, and a long passage each."""
    articles = load_corpus([SEED_CORPUS, FIXTURES / "news"]).articles
    texts = []
    for language in ("it", "en"):
        ours = [a for a in articles if a.language == language]
        sentences = [a.text[s:e] for a in ours for s, e in split_sentences(a.text)]
        longest = max(ours, key=lambda a: len(a.text)).text[:1500]
        texts += [longest, *sentences[:: max(1, len(sentences) // 9)][:9]]
    return texts


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    x, y = np.asarray(a), np.asarray(b)
    return np.sum(x * y, axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def test_the_export_is_recorded_and_a_changed_file_fails_the_check(cache: Path, tmp_path: Path) -> None:
    folder = check_onnx(cache, "onnx", verify_hashes=True)
    assert folder == onnx_dir(cache, "onnx")
    record = json.loads((folder / RECORD).read_text())
    assert record["runtime"] == "onnx" and record["source_sha256"] == EMBEDDINGGEMMA_300M.safetensors_sha256
    assert set(record["files"]) == {GRAPH, f"{GRAPH}.data"}
    assert [p.name for p in (cache / "models").iterdir() if p.name.startswith(".")] == []  # no work folder left
    said: list[str] = []
    assert export_onnx(cache, "onnx", log=said.append) == folder and said == []  # ready: not exported again

    # a copy with the graph changed in one byte (the weights linked): same sizes, another sha256
    changed = onnx_dir(tmp_path, "onnx")
    changed.mkdir(parents=True)
    shutil.copy(folder / RECORD, changed / RECORD)
    (changed / f"{GRAPH}.data").symlink_to(folder / f"{GRAPH}.data")
    graph = bytearray((folder / GRAPH).read_bytes())
    graph[-1] ^= 0xFF
    (changed / GRAPH).write_bytes(graph)
    assert check_onnx(tmp_path, "onnx") == changed  # the quick check looks at sizes only
    with pytest.raises(ModelUnavailable, match=r"model\.onnx does not match the sha256.*`rag model`"):
        check_onnx(tmp_path, "onnx", verify_hashes=True)
    (changed / GRAPH).write_bytes(graph + b"\0")
    with pytest.raises(ModelUnavailable, match=r"changed since it was exported.*`rag model`"):
        check_onnx(tmp_path, "onnx")


def test_onnx_float32_gives_torch_float32_vectors(
    torch32: GemmaEmbeddings, onnx32: OnnxGemmaEmbeddings, query_vectors: dict[str, list[list[float]]]
) -> None:
    texts = bilingual_texts()
    assert len(texts) == 20 and max(map(len, texts)) > 1000  # more than one batch of 8, long and short
    documents = cosines(torch32.embed_documents(texts), onnx32.embed_documents(texts))
    assert documents.min() >= 0.9999, dict(zip(texts, documents.round(6), strict=True))
    queries = cosines(query_vectors["torch"], query_vectors["onnx"])
    assert queries.min() >= 0.9999, dict(zip(project_questions(), queries.round(6), strict=True))
    assert onnx32.name == torch32.name  # the same embedder: an index built by one answers the other's queries


def test_indexes_built_by_either_runtime_return_the_same_hits(
    settings: Settings,
    corpus_dir: Path,
    tmp_path: Path,
    torch32: GemmaEmbeddings,
    onnx32: OnnxGemmaEmbeddings,
    query_vectors: dict[str, list[list[float]]],
) -> None:
    for article in (FIXTURES / "news").glob("*.md"):
        shutil.copy(article, corpus_dir / article.name)
    stores = {}
    for runtime, embeddings in (("torch", torch32), ("onnx", onnx32)):
        run = settings.model_copy(update={"index": tmp_path / f"index-{runtime}"})
        stores[runtime] = ChunkStore(run, embeddings)
        report = ingest(run, stores[runtime])
        assert report.articles == 6 and report.chunks > 10
    # each index asked with its own runtime's vectors, and the torch index with ONNX's (one machine builds,
    # another queries)
    asked = [
        ("torch", stores["torch"], query_vectors["torch"]),
        ("onnx", stores["onnx"], query_vectors["onnx"]),
        ("torch index, ONNX queries", stores["torch"], query_vectors["onnx"]),
    ]
    for n, question in enumerate(project_questions()):
        hits = {name: [c.id for c, _ in store.dense_search(vectors[n], 5)] for name, store, vectors in asked}
        # the sentences in order; not which chunk's copy of a sentence two overlapping chunks share: the copies'
        # vectors are equal, and at the narrow sentence index's cut either may be the one it returns
        sentences = {name: [m.sentence for m in store.sentence_search(vectors[n], 5)] for name, store, vectors in asked}
        assert len(set(map(tuple, hits.values()))) == 1, (question, hits)
        assert len(set(map(tuple, sentences.values()))) == 1, (question, sentences)
