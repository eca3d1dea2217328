"""The same store contract against persistent Chroma and a real `chroma run` server."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer import Pipeline
from rag.embeddings import E5Embeddings
from rag.errors import StoreUnavailable
from rag.ingest import ingest
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from rag.verify import Verifier
from tests.conftest import free_port
from tests.fakes import scripted

pytestmark = pytest.mark.slow


def _chroma_bin() -> str:
    candidate = Path(sys.executable).parent / "chroma"
    return str(candidate) if candidate.exists() else (shutil.which("chroma") or "chroma")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [_chroma_bin(), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
            Verifier(embeddings, store_settings.min_support),
        )
        answer = pipeline.ask("Quanto è costata la conversione dello stabilimento di Douai?")
        assert not answer.abstained
        assert "550 milioni" in answer.sources[0].text
        assert "550 milioni" in str(chat.prompts[-1][-1].content)


def test_unreachable_server_names_the_problem_and_the_fix(settings: Settings) -> None:
    dead = settings.model_copy(update={"chroma_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(StoreUnavailable, match="unset RAG_CHROMA_URL"):
        ChunkStore(dead, E5Embeddings()).dense_search("Douai", 3)
