"""A real ingest (e5, persistent Chroma) killed with SIGKILL at several points, then finished by the next one.

The child process is killed after a batch's sentences were written but before its chunks were, and
while embedding the third batch (two written). The rerun must give what a clean ingest gives: the same chunk
ids, every chunk with all its sentence vectors, the same counts and the same top-5 passages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.ingest import ingest
from rag.library import list_articles
from rag.models.embeddings import E5Embeddings
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals/questions.jsonl").open(encoding="utf-8")][:20]

# the ingest as `rag ingest` runs it, in small batches, killing itself at `at`: "embed:N", its N-th embedding
# call (N-1 batches written), or "chunks", the first batch's chunk vectors (its sentences are written)
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import rag.store
    from rag.models.embeddings import E5Embeddings
    from rag.ingest import ingest
    from rag.settings import Settings
    from rag.store import ChunkStore

    rag.store._BATCH = 4
    corpus, index, at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    class Killed(E5Embeddings):
        calls = 0

        def embed_documents(self, texts):
            Killed.calls += 1
            if at == f"embed:{Killed.calls}":
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed_documents(texts)

    if at == "chunks":
        rag.store._mean = lambda vectors: os.kill(os.getpid(), signal.SIGKILL)

    settings = Settings(corpus=(corpus,), index=index)
    ingest(settings, ChunkStore(settings, Killed()))
    """
)


def _settings(corpus: Path, index: Path) -> Settings:
    return Settings(corpus=(corpus,), index=index)


def _top5(settings: Settings, embeddings: E5Embeddings) -> list[list[str]]:
    retriever = HybridRetriever(settings, ChunkStore(settings, embeddings))
    return [[hit.chunk.id for hit in retriever.search(q, k=5)] for q in QUESTIONS]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings, list[list[str]]]:
    corpus = tmp_path_factory.mktemp("corpus")
    for path in (ROOT / "corpus").glob("*.md"):
        (corpus / path.name).write_bytes(path.read_bytes())
    settings = _settings(corpus, tmp_path_factory.mktemp("clean") / "index")
    embeddings = E5Embeddings()
    ingest(settings, ChunkStore(settings, embeddings))
    return corpus, settings, _top5(settings, embeddings)


@pytest.mark.parametrize("at", ["chunks", "embed:3"])
def test_a_killed_ingest_is_finished_by_the_next_one(
    clean: tuple[Path, Settings, list[list[str]]], tmp_path: Path, at: str
) -> None:
    corpus, clean_settings, clean_top5 = clean
    index = tmp_path / "index"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(corpus), str(index), str(at)], cwd=ROOT, capture_output=True, text=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    settings = _settings(corpus, index)
    embeddings = E5Embeddings()
    store = ChunkStore(settings, embeddings)
    interrupted = store.problems()
    assert not interrupted.incomplete_chunks  # a chunk in the index always has its sentences
    assert bool(interrupted.orphan_sentences) == (at == "chunks")  # sentences written, their chunks not yet
    assert sum(e.chunks for e in list_articles(store)) == interrupted.chunks  # the list is what the index holds
    if interrupted:
        env = {**os.environ, "RAG_CORPUS": str(corpus), "RAG_INDEX": str(index), "RAG_LLM_CHECK": "false"}
        doctor = subprocess.run(
            [str(Path(sys.executable).parent / "rag"), "doctor"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert doctor.returncode == 1 and "interrupted ingest): run rag ingest" in doctor.stdout, doctor.stdout

    report = ingest(settings, store)
    expected = ChunkStore(clean_settings, embeddings)
    assert store.stored_ids() == expected.stored_ids() and report.chunks == len(expected.stored_ids())
    assert not store.problems()
    assert len(store._sentences().get(include=[])["ids"]) == len(expected._sentences().get(include=[])["ids"])
    same = sum(a == b for a, b in zip(_top5(settings, embeddings), clean_top5, strict=True))
    assert same >= 0.95 * len(QUESTIONS)
