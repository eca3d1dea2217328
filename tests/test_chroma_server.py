"""The same store contract against persistent Chroma and a real `chroma run` server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import rag.retrieval
from rag.answer import ComposingPipeline as Pipeline
from rag.chunking import split_sentences
from rag.errors import EmbedderMismatch, StoreUnavailable
from rag.ingest import ingest
from rag.library import list_articles
from rag.models.embeddings import E5Embeddings
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Scope
from rag.verify import Verifier
from tests.conftest import free_port, stop_process
from tests.fakes import HashEmbeddings, scripted

pytestmark = pytest.mark.slow


def _chroma_bin() -> str:
    candidate = Path(sys.executable).parent / "chroma"
    return str(candidate) if candidate.exists() else (shutil.which("chroma") or "chroma")


def _start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    """`chroma run` on `data`, once it answers its heartbeat."""
    log = (data / "server.log").open("ab")
    proc = subprocess.Popen(
        [_chroma_bin(), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = _start_server(tmp_path_factory.mktemp("chroma-server"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture(params=["persistent", "server"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "server":
        url = request.getfixturevalue("chroma_server")
        collection = "c" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
        return settings.model_copy(update={"chroma_url": url, "collection": collection})
    return settings


class TestStoreContract:
    def test_ingest_is_idempotent(self, store_settings: Settings) -> None:
        embeddings = E5Embeddings()
        first = ingest(store_settings, ChunkStore(store_settings, embeddings))
        second = ingest(store_settings, ChunkStore(store_settings, embeddings))
        assert first.added == first.chunks > 0
        assert (second.added, second.removed, second.chunks) == (0, 0, first.chunks)

    def test_ingest_then_ask(self, store_settings: Settings) -> None:
        embeddings = E5Embeddings()
        store = ChunkStore(store_settings, embeddings)
        ingest(store_settings, store)
        chat = scripted("L'investimento è stato di 550 milioni di euro [1].")
        pipeline = Pipeline(
            store_settings,
            HybridRetriever(store_settings, store),
            chat,
            Verifier(embeddings, store_settings.min_support, stored=store.sentence_vectors),
        )
        answer = pipeline.ask("Quanto è costata la conversione dello stabilimento di Douai?")
        assert not answer.abstained
        assert "550 milioni" in answer.sources[0].text
        assert "550 milioni" in str(chat.prompts[-1][-1].content)
        # the vectors the verifier reuses are the sentences' own, in text order
        source = answer.sources[0]
        rows = store.sentence_vectors([source.chunk_id])[source.chunk_id]
        sentences = [source.text[a:b] for a, b in split_sentences(source.text)]
        assert np.allclose(rows, np.asarray(embeddings.embed_documents(sentences)), atol=1e-4)

    def test_a_scope_among_ids_finds_what_its_where_filter_finds(
        self, store_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = ChunkStore(store_settings, HashEmbeddings())
        ingest(store_settings, store)
        retriever = HybridRetriever(store_settings, store)
        september = Scope(20250901, 20250930)
        monkeypatch.setattr(rag.retrieval, "WIDE_SCOPE", 2.0)  # one article of two: never wide here
        among_ids = [h.chunk.id for h in retriever.search("Renault e Nissan a Douai", scope=september)]
        monkeypatch.setattr(rag.retrieval, "SCOPE_IDS_LIMIT", 0)
        by_where = [h.chunk.id for h in retriever.search("Renault e Nissan a Douai", scope=september)]
        assert among_ids == by_where and among_ids
        assert {c.date for c in store.all_chunks() if c.id in among_ids} == {"2025-09-17"}


def test_unreachable_server_names_the_problem_and_the_fix(settings: Settings) -> None:
    dead = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(StoreUnavailable, match="unset RAG_CHROMA_URL"):
        ChunkStore(dead, E5Embeddings()).dense_search("Douai", 3)


def test_two_indexes_on_one_server_keep_their_own_chunks(
    settings: Settings, chroma_server: str, tmp_path: Path
) -> None:
    other_corpus = tmp_path / "other"
    other_corpus.mkdir()
    first_article = sorted(settings.corpus[0].glob("*.md"))[0]
    shutil.copy(first_article, other_corpus / first_article.name)
    a = settings.model_copy(update={"chroma_url": chroma_server, "index": tmp_path / "index-a"})
    b = settings.model_copy(
        update={"chroma_url": chroma_server, "index": tmp_path / "index-b", "corpus": (other_corpus,)}
    )
    first = ingest(a, ChunkStore(a, HashEmbeddings()))
    second = ingest(b, ChunkStore(b, HashEmbeddings()))
    assert first.articles == 2 and second.articles == 1 and second.added == second.chunks  # nothing shared
    assert len(ChunkStore(a, HashEmbeddings()).stored_ids()) == first.chunks  # b did not remove a's chunks
    assert len(ChunkStore(b, HashEmbeddings()).stored_ids()) == second.chunks


class _KillsServer(HashEmbeddings):
    """Stops the Chroma server when asked for its `at`-th batch of embeddings."""

    def __init__(self, proc: subprocess.Popen[bytes], at: int) -> None:
        super().__init__()
        self.proc, self.at, self.batches = proc, at, 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.batches += 1
        if self.batches == self.at:
            stop_process(self.proc)
        return super().embed_documents(texts)


def test_a_server_lost_mid_ingest_is_named_and_the_next_ingest_finishes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rag.store._BATCH", 4)  # several batches from the two seed articles
    data = tmp_path / "server"
    data.mkdir()
    port = free_port()
    served = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{port}"})
    proc = _start_server(data, port)
    try:
        with pytest.raises(StoreUnavailable, match="run `rag ingest` again"):
            # one embedding call per batch: the server goes while the second batch is embedded
            ingest(served, ChunkStore(served, _KillsServer(proc, at=2)))
        proc = _start_server(data, port)
        store = ChunkStore(served, HashEmbeddings())
        assert len(store.stored_ids()) > 0  # what was written before the server went is there
        assert not store.problems().incomplete_chunks  # and every chunk in it is whole
        report = ingest(served, store)
        clean = settings.model_copy(update={"index": tmp_path / "clean"})
        expected = ingest(clean, ChunkStore(clean, HashEmbeddings()))
        assert report.chunks == expected.chunks and 0 < report.added < expected.chunks
        assert store.stored_ids() == ChunkStore(clean, HashEmbeddings()).stored_ids() and not store.problems()
    finally:
        stop_process(proc)


def test_machines_sharing_a_namespace_each_prune_only_their_own_articles(
    settings: Settings, chroma_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = sorted(settings.corpus[0].glob("*.md"))
    folders = []
    for n, article in enumerate(articles):
        folder = tmp_path / f"machine-{n}"
        folder.mkdir()
        shutil.copy(article, folder / article.name)
        folders.append(folder)
    shared = [
        settings.model_copy(
            update={"chroma_url": chroma_server, "collection": "newsroom", "corpus": (f,), "index": tmp_path / f"i{n}"}
        )
        for n, f in enumerate(folders)
    ]
    monkeypatch.setattr("rag.store._BATCH", 2)  # many small writes, interleaved between the two
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda s: ingest(s, ChunkStore(s, HashEmbeddings())), shared))
    store = ChunkStore(shared[0], HashEmbeddings())
    assert len(store.stored_ids()) == sum(r.chunks for r in reports) and not store.problems()
    assert {e.id for e in list_articles(store)} == {a.stem for a in articles}

    (folders[0] / articles[0].name).unlink()  # the first machine drops its article...
    (folders[0] / "nuovo.md").write_text("---\ntitle: Nuovo\n---\n\nUn articolo nuovo su Douai e Renault.\n")
    again = ingest(shared[0], store)
    assert again.removed == reports[0].chunks  # ...and only its own chunks go
    assert {e.id for e in list_articles(store)} == {"nuovo", articles[1].stem}


def test_a_shared_index_of_another_embedder_is_refused_not_wiped(settings: Settings, chroma_server: str) -> None:
    served = settings.model_copy(update={"chroma_url": chroma_server, "collection": "refuse-other-embedder"})
    first = ingest(served, ChunkStore(served, HashEmbeddings()))
    with pytest.raises(EmbedderMismatch, match="RAG_EMBEDDER"):
        ingest(served, ChunkStore(served, HashEmbeddings(name="fake/other")))  # other machines' articles stay
    kept = ChunkStore(served, HashEmbeddings())
    assert kept.built_with() == "fake/hash-256+sentences@128d" and len(kept.stored_ids()) == first.chunks
