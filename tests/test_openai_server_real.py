"""The extracting reader through an OpenAI-compatible server: llama.cpp's own server (llama-cpp-python's
`llama_cpp.server`) serving the packaged GGUF on 127.0.0.1, reached with RAG_LLM=openai:<model>."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer import ExtractingPipeline
from rag.answer.evidence import gather
from rag.answer.formats import extract_prompt
from rag.ingest import ingest
from rag.models.llm import make_chat_model
from rag.models.local_llama import LlamaOptions, LocalLlama
from rag.models.model_files import QWEN_1_5B, ensure_model
from rag.models.reader import as_chat_messages
from rag.service import build_service
from rag.settings import Settings, default_cache_dir
from tests.conftest import free_port, running_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How much money was invested to convert the Douai plant?"


@pytest.fixture(scope="module")
def model_path() -> Path:
    return ensure_model(QWEN_1_5B, default_cache_dir())


@pytest.fixture(scope="module")
def server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--seed", "0"]  # fmt: skip
    folder = tmp_path_factory.mktemp("server")
    with running_server(command, f"http://127.0.0.1:{port}/v1", folder, "llama.cpp's server", 180) as url:
        yield url


@pytest.fixture(scope="module")
def settings(server: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    corpus = tmp_path_factory.mktemp("corpus")
    for path in (ROOT / "corpus").glob("*.md"):
        shutil.copy(path, corpus / path.name)
    return Settings(
        corpus=(corpus,), index=tmp_path_factory.mktemp("index"), llm="openai:qwen", openai_base_url=server,
        reader="extract",
    )  # fmt: skip


def test_the_server_gives_the_embedded_models_answer_to_the_same_prompt(settings: Settings, model_path: Path) -> None:
    service = build_service(settings)
    ingest(settings, service.store)
    hits = service.retriever.search(QUESTION)
    messages = extract_prompt(QUESTION, "en", gather(hits, settings.reader_sentences))
    served = str(make_chat_model(settings).invoke(messages).content).strip()
    embedded = LocalLlama(LlamaOptions(model_path=str(model_path), n_ctx=2048, threads=2))
    _, free = embedded.read(as_chat_messages(messages), ["NOT_FOUND"], None, 64)  # greedy, temperature 0
    assert served and served == free.text


def test_the_extracting_reader_answers_through_the_server_without_its_probabilities(settings: Settings) -> None:
    service = build_service(settings)
    ingest(settings, service.store)
    pipeline = service.pipeline
    assert isinstance(pipeline.reader, ExtractingPipeline)  # a question of the text passes to the reader
    answer = pipeline.ask(QUESTION)
    # the server is not asked for logprobs (llama.cpp's server gives them only with logits_all, which costs a
    # score row per prompt token): the not-found and span probabilities are unknown, and the decision falls back
    # to the reply being found in a shown sentence, adding to the question, and the premise rules (the check,
    # on by default, is asked but its P(yes) is unknown too)
    assert answer.signals["not_found"] is None and answer.signals["span_logprob"] is None
    assert answer.signals["supported"] is None  # the check's yes/no probability is missing as well: not used
    assert answer.outcome == "answer" and "550" in answer.short_answer
    assert answer.citations and "550 milioni" in (answer.citations[0].sentence or "")
