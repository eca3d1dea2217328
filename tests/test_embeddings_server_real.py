"""`rag embeddings-server` as a real process serving EmbeddingGemma on 127.0.0.1, reached with
RAG_EMBEDDER=openai:embeddinggemma: the same vectors and the same passages as the local runtime.

The seed articles and the distractors (which share their entities: Ford, Renault, Nissan, Ampere) are ingested
twice, through the server and locally, and the project's questions retrieved over both indexes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.ingest import ingest
from rag.models.embeddings import make_embeddings
from rag.retrieval import HybridRetriever
from rag.settings import Settings, default_cache_dir
from rag.store import ChunkStore
from tests.conftest import free_port, stop_process, wait_until_answers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals/questions.jsonl").open(encoding="utf-8")][:12]
TEXTS = [
    "L’intesa, siglata il 9 dicembre 2025 tra Parigi e Colonia, prevede due nuovi modelli Ford 100% elettrici.",
    "Who is the chief executive of Mitsubishi?",
    "Douai produce dal maggio 2023 solo veicoli elettrici; la conversione è costata 550 milioni di euro.",
    "Takao Kato 🚗 — ceo di Mitsubishi Motors.",
]


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    from rag.models.embedder_files import embedder_status

    ok, why = embedder_status(default_cache_dir())
    if not ok:
        pytest.skip(f"EmbeddingGemma is not assembled here ({why})")
    return default_cache_dir()


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("embeddings-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "rag.cli", "embeddings-server", "--port", str(port)]
    output = log.open("w")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_answers(process, f"http://127.0.0.1:{port}/health", log, "rag embeddings-server", 240)
        yield url
    finally:
        stop_process(process)
        output.close()


@pytest.fixture(scope="module")
def indexes(server: str, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """One index through the server, one with the local runtime, over the same articles."""
    corpus = tmp_path_factory.mktemp("corpus")
    for path in [*(ROOT / "corpus").glob("*.md"), *(ROOT / "tests/fixtures/distractors").glob("*.md")]:
        shutil.copy(path, corpus / path.name)
    built = {}
    for name, embedder in (("server", "openai:embeddinggemma"), ("local", "embeddinggemma")):
        settings = Settings(
            corpus=(corpus,), index=tmp_path_factory.mktemp(name), embedder=embedder, embeddings_url=server,
            cache_dir=cache_dir,
        )  # fmt: skip
        started = time.perf_counter()
        report = ingest(settings, ChunkStore(settings, make_embeddings(settings)))
        seconds = time.perf_counter() - started
        print(f"\n{name}: {report.chunks} chunks, {report.embedded_chars} characters embedded in {seconds:.1f} s "
              f"({report.embedded_chars / seconds:.0f} characters/s, ingest included)")  # fmt: skip
        built[name] = settings
    return built


def test_server_vectors_are_the_local_runtimes(server: str, cache_dir: Path) -> None:
    remote = make_embeddings(Settings(embedder="openai:embeddinggemma", embeddings_url=server))
    local = make_embeddings(Settings(embedder="embeddinggemma", cache_dir=cache_dir))
    pairs = [
        *zip(remote.embed_documents(TEXTS), local.embed_documents(TEXTS), strict=True),
        *((remote.embed_query(t), local.embed_query(t)) for t in TEXTS[1:3]),
    ]
    cosines = [float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))) for a, b in pairs]
    print(f"\ncosine server/local: min {min(cosines):.6f}, {', '.join(f'{c:.6f}' for c in cosines)}")
    assert min(cosines) >= 0.999
    assert all(len(a) == 768 and abs(np.linalg.norm(a) - 1) < 1e-5 for a, _ in pairs)


def test_both_indexes_give_the_same_passages_for_the_projects_questions(indexes: dict[str, Settings]) -> None:
    stores = {name: ChunkStore(s, make_embeddings(s)) for name, s in indexes.items()}
    assert stores["server"].built_with() == "openai:embeddinggemma+sentences@128d"
    assert stores["local"].built_with() == "google/embeddinggemma-300m+sentences@128d"
    assert stores["server"].stored_ids() == stores["local"].stored_ids()  # ids come from content
    assert indexes["server"].profile == indexes["local"].profile  # EmbeddingGemma's calibrated scale
    retrievers = {name: HybridRetriever(indexes[name], store) for name, store in stores.items()}
    differences = []
    for question in QUESTIONS:
        for kind in ("dense", "hybrid"):
            if kind == "dense":
                top = {name: [c.id for c, _ in store.dense_search(question, 5)] for name, store in stores.items()}
            else:
                top = {name: [h.chunk.id for h in r.search(question, k=5)] for name, r in retrievers.items()}
            shared = len(set(top["server"]) & set(top["local"]))
            if top["server"] != top["local"]:
                differences.append(f"{kind} {question!r}: server {top['server']} local {top['local']}")
            assert top["server"][0] == top["local"][0] and shared >= 4, (kind, question, top)
    print(f"\n{len(differences)} of {2 * len(QUESTIONS)} top-5 lists differ" + "".join(f"\n  {d}" for d in differences))
