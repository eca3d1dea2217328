"""Embeddings from an OpenAI-compatible server (rag/models/embedder_openai.py) against a real HTTP server in a thread,
and `rag embeddings-server`'s app (rag/models/embeddings_server.py) with a fake embedder: no model is loaded."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rag.store
from rag.errors import ModelUnavailable
from rag.ingest import ingest
from rag.models.embedder_openai import GEMMA_DOCUMENT_PROMPT, GEMMA_QUERY_PROMPT, OpenAIEmbeddings
from rag.models.embeddings import embedder_name, make_embeddings
from rag.settings import Settings, default_cache_dir
from rag.store import ChunkStore
from tests.conftest import free_port

DIM = 64
# Italian and English, accents, a dash, an emoji: the texts cross the wire as JSON
TEXTS = [
    f"{i}: " + ("La Ford arriverà a Douai nel 2028 — città più “elettrica” 🚗" if i % 2 else "Renault signs in Cologne")
    for i in range(100)
]


def vector(text: str, dim: int = DIM) -> np.ndarray:
    """A server's vector for a text: deterministic, unique to the text and deliberately not of unit length."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
    return np.random.default_rng(seed).normal(size=dim) * 3.0


def unit(text: str) -> np.ndarray:
    v = vector(text)
    return v / np.linalg.norm(v)


def reply(texts: list[str], dim: int = DIM) -> bytes:
    """An OpenAI answer for the texts, its items in reverse order (each with its `index`)."""
    data = [{"object": "embedding", "index": i, "embedding": vector(t, dim).tolist()} for i, t in enumerate(texts)]
    return json.dumps({"object": "list", "data": data[::-1], "model": "m"}).encode()


Answer = Callable[[int, list[str]], "tuple[int, bytes] | None"]


class FakeServer:
    """POST /v1/embeddings on 127.0.0.1 in a thread, answering `reply` after `delay` seconds; `answer(n, texts)`
    may replace the n-th answer (from 1) with (status, body)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.authorization: list[str | None] = []
        self.delay = 0.0
        self.answer: Answer | None = None
        self.active = self.most_active = 0
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.bodies.append(body)
                    fake.authorization.append(self.headers.get("Authorization"))
                    n = len(fake.bodies)
                    fake.active += 1
                    fake.most_active = max(fake.most_active, fake.active)
                try:
                    time.sleep(fake.delay)
                    status, answer = (fake.answer and fake.answer(n, body["input"])) or (200, b"")
                    if status == 200 and not answer:
                        answer = reply(body["input"])
                    if self.path != "/v1/embeddings":
                        status, answer = 404, b'{"error": {"message": "no route"}}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up waiting (the timeout case)
                    pass
                finally:
                    with fake.lock:
                        fake.active -= 1

        return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    thread = threading.Thread(target=fake.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.http.shutdown()
        fake.http.server_close()


def test_vectors_come_back_in_order_across_concurrent_batches_and_normalised(server: FakeServer) -> None:
    server.delay = 0.05
    client = OpenAIEmbeddings(server.url, "nomic-embed-text", batch=8, workers=4)
    vectors = np.asarray(client.embed_documents(TEXTS))
    assert len(server.bodies) == 13 and all(len(b["input"]) <= 8 for b in server.bodies)
    assert server.most_active >= 2  # batches were in flight together
    assert [t for b in sorted(server.bodies, key=lambda b: TEXTS.index(b["input"][0])) for t in b["input"]] == TEXTS
    np.testing.assert_allclose(vectors, [unit(t) for t in TEXTS], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert client.embed_documents([]) == [] and len(server.bodies) == 13


def test_embeddinggemma_gets_its_own_prompts_from_the_client_and_other_models_none(server: FakeServer) -> None:
    gemma = OpenAIEmbeddings(server.url, "embeddinggemma")
    assert gemma.name == "openai:embeddinggemma" and embedder_name(gemma) == "openai:embeddinggemma"
    query = gemma.embed_query("Chi guida Renault?")
    gemma.embed_documents(["Luca de Meo guida Renault.", "Ford arrives in 2028."])
    assert server.bodies[0] == {"model": "embeddinggemma", "input": ["task: search result | query: Chi guida Renault?"]}
    assert server.bodies[1]["input"] == [
        "title: none | text: Luca de Meo guida Renault.",
        "title: none | text: Ford arrives in 2028.",
    ]
    np.testing.assert_allclose(query, unit("task: search result | query: Chi guida Renault?"), atol=1e-6)
    other = OpenAIEmbeddings(server.url + "/", "text-embedding-3-small")  # a trailing slash is fine
    other.embed_query("Chi guida Renault?")
    other.embed_documents(["Luca de Meo guida Renault."])
    assert [b["input"] for b in server.bodies[2:]] == [["Chi guida Renault?"], ["Luca de Meo guida Renault."]]
    assert OpenAIEmbeddings(server.url, "google/EmbeddingGemma-300m").query_prompt == GEMMA_QUERY_PROMPT


def test_the_prompts_are_sentence_transformers_own_for_embeddinggemma() -> None:
    config = default_cache_dir() / "models" / "embeddinggemma-300m" / "config_sentence_transformers.json"
    if not config.exists():
        pytest.skip(f"EmbeddingGemma is not assembled here ({config} missing)")
    prompts = json.loads(config.read_text())["prompts"]
    assert (prompts["query"], prompts["document"]) == (GEMMA_QUERY_PROMPT, GEMMA_DOCUMENT_PROMPT)


def test_an_api_key_is_sent_as_a_bearer_token_only_when_set(server: FakeServer) -> None:
    OpenAIEmbeddings(server.url, "m", api_key="s3cret").embed_query("x")
    OpenAIEmbeddings(server.url, "m").embed_query("x")
    assert server.authorization == ["Bearer s3cret", None]


def _ok_then(status: int, body: bytes, after: int = 0) -> Answer:
    return lambda n, texts: (status, body) if n > after else None


def _bad_vectors(change: Callable[[list[dict[str, Any]]], Any]) -> Answer:
    def answer(n: int, texts: list[str]) -> tuple[int, bytes]:
        data = [{"index": i, "embedding": vector(t).tolist()} for i, t in enumerate(texts)]
        return 200, json.dumps({"data": change(data)}).encode()

    return answer


def _narrower_second(n: int, texts: list[str]) -> tuple[int, bytes] | None:
    return (200, reply(texts, dim=DIM // 2)) if n == 2 else None


ERRORS: dict[str, tuple[Answer, str]] = {
    "HTTP 500": (_ok_then(500, b'{"error": {"message": "CUDA out of memory"}}'), "HTTP 500.*CUDA out of memory"),
    "HTTP 500 midway": (_ok_then(500, b"boom", after=2), "HTTP 500"),
    "HTTP 401": (_ok_then(401, b'{"error": "bad key"}'), "RAG_EMBEDDINGS_API_KEY"),
    "HTTP 404": (_ok_then(404, b"Not Found"), "ends in /v1"),
    "HTTP 204": (_ok_then(204, b""), "HTTP 204 instead of 200"),
    "not JSON": (_ok_then(200, b"<html>proxy error</html>"), "not JSON.*proxy error"),
    "no data": (_ok_then(200, b'{"object": "list"}'), "without a `data` list"),
    "a vector short": (_bad_vectors(lambda d: d[:-1]), "answered 1 vectors for 2 texts"),
    "an index twice": (_bad_vectors(lambda d: [d[0], *d[:-1]]), "indexes"),
    "no index": (_bad_vectors(lambda d: [{"embedding": x["embedding"]} for x in d]), "integer `index`"),
    "base64": (_bad_vectors(lambda d: [{**x, "embedding": "AAAA"} for x in d]), "not lists of numbers"),
    "words": (_bad_vectors(lambda d: [{**x, "embedding": ["a"] * DIM} for x in d]), "not lists of numbers"),
    "widths in a batch": (_bad_vectors(lambda d: [*d[:-1], {**d[-1], "embedding": [1.0]}]), "different widths"),
    "widths across batches": (_narrower_second, "different widths \\(32, 64\\)"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_every_server_fault_is_model_unavailable_naming_the_url_and_the_fix(server: FakeServer, case: str) -> None:
    server.answer, message = ERRORS[case]
    client = OpenAIEmbeddings(server.url, "embeddinggemma", batch=2, workers=2)
    with pytest.raises(ModelUnavailable, match=message) as caught:
        client.embed_documents(TEXTS[:6])
    assert f"{server.url}/embeddings" in str(caught.value)
    assert "RAG_EMBEDDINGS" in str(caught.value)  # the fix names the setting


def test_a_server_that_is_down_or_slow_is_model_unavailable(server: FakeServer) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelUnavailable, match=re.escape(down) + ".*cannot be reached.*rag embeddings-server"):
        OpenAIEmbeddings(down, "embeddinggemma").embed_query("x")
    server.delay = 1.5
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=re.escape(server.url) + ".*did not answer within 0.3 s"):
        OpenAIEmbeddings(server.url, "embeddinggemma", timeout=0.3).embed_query("x")
    assert time.monotonic() - started < 1.4


def test_a_bad_url_or_no_model_is_a_settings_error() -> None:
    with pytest.raises(ModelUnavailable, match="not a URL like http://127.0.0.1:8090/v1"):
        OpenAIEmbeddings("127.0.0.1:8090/v1", "embeddinggemma")
    with pytest.raises(ModelUnavailable, match="names no model"):
        make_embeddings(Settings(embedder="openai:"))


def test_settings_come_from_the_environment_and_pick_the_embedder_and_its_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().embeddings_url == "http://127.0.0.1:8090/v1" and Settings().embeddings_api_key == ""
    monkeypatch.setenv("RAG_EMBEDDER", "openai:embeddinggemma")
    monkeypatch.setenv("RAG_EMBEDDINGS_URL", "http://gpu-box:8090/v1")
    monkeypatch.setenv("RAG_EMBEDDINGS_API_KEY", "k")
    settings = Settings()
    client = make_embeddings(settings)  # nothing is contacted until the first text
    assert isinstance(client, OpenAIEmbeddings)
    assert client.endpoint == "http://gpu-box:8090/v1/embeddings"
    assert (client.model, client.api_key) == ("embeddinggemma", "k")
    # EmbeddingGemma's similarity scale, whoever computes its vectors
    assert settings.profile == Settings(embedder="embeddinggemma").profile
    assert Settings(embedder="openai:google/embeddinggemma-300m").profile == settings.profile
    assert Settings(embedder="openai:text-embedding-3-small").profile == Settings(embedder="e5").profile
    monkeypatch.setenv("RAG_MIN_DENSE_SCORE", "0.3")
    assert Settings().profile.min_dense_score == 0.3  # still overridable


def test_an_unknown_embedder_names_every_choice() -> None:
    with pytest.raises(ModelUnavailable, match="'openai:<model>'.*RAG_EMBEDDINGS_URL"):
        make_embeddings(Settings(embedder="word2vec"))


# -- ingest through a server that fails ------------------------------------------------------------------------

NEW_ARTICLE = """---
title: Nuovo stabilimento
date: '2025-12-10'
language: it
---

Ford e Renault hanno annunciato un nuovo stabilimento a Douai. La produzione partirà nel 2028.
I lavoratori saranno 1.200. L'investimento vale 550 milioni di euro. Il sindaco ha accolto la notizia.
The plant will build two electric cars. Exports to Germany start in 2029. Unions welcomed the deal.
"""


def _index_state(store: ChunkStore) -> tuple[set[str], int, str]:
    """What the index holds: its chunk ids, its sentence vectors, and the revision every write changes."""
    ids = store.stored_ids()
    return ids, sum(len(rows) for rows in store.sentence_vectors(ids).values()), store.revision()


def test_a_server_failing_midway_leaves_the_index_as_it_was(
    server: FakeServer, settings: Settings, corpus_dir: Path
) -> None:
    client = OpenAIEmbeddings(server.url, "embeddinggemma", batch=4, workers=2)
    store = ChunkStore(settings, client)
    first = ingest(settings, store)
    before = _index_state(store)
    assert first.added == len(before[0]) > 0
    (corpus_dir / "nuovo.md").write_text(NEW_ARTICLE, encoding="utf-8")
    sent = len(server.bodies)
    server.answer = _ok_then(503, b"overloaded", after=sent + 1)  # the new article's second batch fails
    with pytest.raises(ModelUnavailable, match=re.escape(server.url)):
        ingest(settings, ChunkStore(settings, client))
    assert len(server.bodies) > sent + 1  # it failed midway, after a batch was answered
    after = ChunkStore(settings, client)
    assert _index_state(after) == before and not after.problems()
    server.answer = None
    report = ingest(settings, after)  # with the server back, the ingest finishes
    assert report.added >= 1 and report.unchanged == first.chunks and not after.problems()


def test_a_changed_article_keeps_its_old_passages_when_the_server_fails(
    server: FakeServer, settings: Settings, corpus_dir: Path
) -> None:
    client = OpenAIEmbeddings(server.url, "embeddinggemma", batch=4, workers=2)
    (corpus_dir / "nuovo.md").write_text(NEW_ARTICLE, encoding="utf-8")
    ingest(settings, ChunkStore(settings, client))
    before = _index_state(ChunkStore(settings, client))
    (corpus_dir / "nuovo.md").write_text(NEW_ARTICLE.replace("1.200", "1.500"), encoding="utf-8")
    server.answer = _ok_then(503, b"overloaded", after=len(server.bodies))  # the changed passage's vectors fail
    with pytest.raises(ModelUnavailable):
        ingest(settings, ChunkStore(settings, client))
    after = ChunkStore(settings, client)
    assert _index_state(after)[:2] == before[:2] and not after.problems()  # nothing deleted before it was replaced
    server.answer = None
    ingest(settings, after)
    texts = " ".join(c.text for c in after.all_chunks())
    assert "1.500" in texts and "1.200" not in texts and not after.problems()


def test_a_failure_after_some_writes_leaves_only_whole_chunks_and_a_rerun_finishes(
    server: FakeServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rag.store, "_BATCH", 2)  # writes of 2 chunks, each embedded in one request of <= 64 texts
    client = OpenAIEmbeddings(server.url, "embeddinggemma", batch=64)
    server.answer = _ok_then(500, b"boom", after=2)  # the third write's vectors fail
    with pytest.raises(ModelUnavailable):
        ingest(settings, ChunkStore(settings, client))
    store = ChunkStore(settings, client)
    partial = store.stored_ids()
    assert len(partial) == 4 and not store.problems()  # two writes made, every chunk with all its sentences
    server.answer = None
    report = ingest(settings, store)
    assert partial < store.stored_ids() and report.unchanged == len(partial) and not store.problems()


# -- `rag embeddings-server`'s app, with a fake embedder ----------------------------------------------------------


class RawFake:
    """An embedder with `embed_raw`, as the server needs; records the texts it was given."""

    def __init__(self, name: str = "google/embeddinggemma-300m") -> None:
        self.name = name
        self.seen: list[str] = []

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [unit(t).tolist() for t in texts]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_server_embeds_texts_as_given_and_the_client_reads_it() -> None:
    from rag.models.embeddings_server import build_app

    fake = RawFake()
    with serving(build_app(fake)) as url:
        assert _get(url.removesuffix("/v1") + "/health")["status"] == "ok"
        assert [m["id"] for m in _get(url + "/models")["data"]] == [
            "embeddinggemma", "embeddinggemma-300m", "google/embeddinggemma-300m",
        ]  # fmt: skip
        client = OpenAIEmbeddings(url, "embeddinggemma", batch=8)
        vectors = client.embed_documents(TEXTS[:20])
        assert sorted(fake.seen) == sorted(GEMMA_DOCUMENT_PROMPT + t for t in TEXTS[:20])  # the client's prompts only
        np.testing.assert_allclose(vectors, [unit(GEMMA_DOCUMENT_PROMPT + t) for t in TEXTS[:20]], atol=1e-6)
        # OpenAI's own client asks for base64 by default: little-endian float32
        body = {"model": "embeddinggemma", "input": "ciao", "encoding_format": "base64"}
        request = urllib.request.Request(
            url + "/embeddings", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            encoded = json.loads(response.read())["data"][0]["embedding"]
        np.testing.assert_allclose(np.frombuffer(base64.b64decode(encoded), dtype="<f4"), unit("ciao"), atol=1e-6)
        with pytest.raises(ModelUnavailable, match="HTTP 404.*'text-embedding-3-small' is not served here"):
            OpenAIEmbeddings(url, "text-embedding-3-small").embed_query("x")


def test_the_server_with_a_key_refuses_requests_without_it() -> None:
    from rag.models.embeddings_server import build_app

    with serving(build_app(RawFake(), api_key="s3cret")) as url:
        with pytest.raises(ModelUnavailable, match="HTTP 401.*Set RAG_EMBEDDINGS_API_KEY"):
            OpenAIEmbeddings(url, "embeddinggemma").embed_query("x")
        with pytest.raises(ModelUnavailable, match="HTTP 401"):
            OpenAIEmbeddings(url, "embeddinggemma", api_key="wrong").embed_query("x")
        assert len(OpenAIEmbeddings(url, "embeddinggemma", api_key="s3cret").embed_query("x")) == DIM


def test_the_server_names_int8_vectors_apart_and_runs_only_an_embedder_with_raw_texts(tmp_path: Path) -> None:
    from rag.models.embeddings_server import local_embedder, served_names

    assert served_names(RawFake("google/embeddinggemma-300m@onnx-int8")) == ("google/embeddinggemma-300m@onnx-int8",)
    with pytest.raises(ModelUnavailable, match="serves EmbeddingGemma only, not 'e5'"):
        local_embedder(Settings(embedder="e5"))
    with pytest.raises(ModelUnavailable, match="serves EmbeddingGemma only, not 'e5'"):
        local_embedder(Settings(embedder="openai:e5"))  # a desk's settings: the server runs <model> itself
    with pytest.raises(ModelUnavailable, match="rag model"):  # EmbeddingGemma, locally, not assembled here
        local_embedder(Settings(embedder="openai:embeddinggemma", cache_dir=tmp_path))


def test_the_cli_command_binds_this_machine_only_by_default() -> None:
    from rag.cli import build_parser, make_settings

    args = build_parser().parse_args(["embeddings-server"])
    assert (args.server_host, args.server_port) == ("127.0.0.1", 8090)
    args = build_parser().parse_args(["embeddings-server", "--host", "0.0.0.0", "--port", "9001"])
    assert (args.server_host, args.server_port) == ("0.0.0.0", 9001)
    assert make_settings(args).port == 7860  # the chat UI's port is another setting
