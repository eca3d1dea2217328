"""Chat-model backends behind LangChain's BaseChatModel: embedded llama.cpp, OpenAI-compatible, Ollama.

No backend downloads weights: the local one runs the packaged GGUF (or a path you give), by default
in a worker process (rag/models/llm_worker.py) so that a crash of the native library is reported, not fatal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ..errors import ModelUnavailable
from ..settings import Settings
from .llm_worker import WorkerLlama
from .local_llama import LlamaOptions, LocalLlama
from .model_files import PACKAGED_MODELS, ensure_model
from .reader import LocalReader, ModelReader, PlainReader, as_chat_messages
from .runtime import HealthReport, check_model, crash_hint


class LlamaCppChat(BaseChatModel):
    """A local GGUF model run by llama.cpp, in a worker process (default) or in this one.

    One model serves one call at a time. The figures of each call (prompt and completion tokens,
    prefill and decode time) come back in the last streamed chunk's `response_metadata["llm_stats"]`.
    """

    options: LlamaOptions
    in_process: bool = False  # True: load into this process (a native crash ends it)

    _engine: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def engine(self) -> LocalLlama | WorkerLlama:
        with self._lock:
            if self._engine is None:
                self._engine = LocalLlama(self.options) if self.in_process else WorkerLlama(self.options)
            return self._engine

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        self.engine.load()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = list(self._stream(messages, stop, run_manager, **kwargs))
        text = "".join(str(chunk.message.content) for chunk in chunks)
        last = chunks[-1].message
        usage = getattr(last, "usage_metadata", None)
        message = AIMessage(content=text, response_metadata=last.response_metadata, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        engine = self.engine
        for delta in engine.stream(as_chat_messages(messages), kwargs.get("max_tokens"), stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
            if run_manager:
                run_manager.on_llm_new_token(delta, chunk=chunk)
            yield chunk
        stats = engine.last_stats
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                response_metadata={"llm_stats": stats.as_dict()},
                usage_metadata={
                    "input_tokens": stats.prompt_tokens,
                    "output_tokens": stats.completion_tokens,
                    "total_tokens": stats.prompt_tokens + stats.completion_tokens,
                },
            )
        )


def make_reader(chat_model: BaseChatModel) -> ModelReader:
    """What the chain may ask of this chat model beyond its text (rag/models/reader.py)."""
    if isinstance(chat_model, LlamaCppChat):
        return LocalReader(chat_model.engine)
    return PlainReader(chat_model)


def llama_options(settings: Settings, model_path: Path) -> LlamaOptions:
    """The local model's load and speed settings."""
    return LlamaOptions(
        model_path=str(model_path),
        n_ctx=settings.n_ctx,
        threads=settings.threads,
        threads_batch=settings.threads_batch,
        n_batch=settings.n_batch,
        n_ubatch=settings.n_ubatch,
        flash_attn=settings.flash_attn,
        extra_buffers=settings.llm_extra_buffers,
        prefix_cache=settings.prefix_cache,
        lookup_tokens=settings.lookup_tokens,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def local_model_path(settings: Settings) -> Path | None:
    """The GGUF file the settings name (assembled and verified first for a packaged one), or None."""
    backend, _, name = settings.llm.partition(":")
    if settings.llm in PACKAGED_MODELS:
        return ensure_model(PACKAGED_MODELS[settings.llm], settings.cache_dir)
    if backend == "gguf" and name:
        return Path(name)
    return None


def check_local_model(settings: Settings, path: Path, fresh: bool = False) -> HealthReport:
    """Load + one token in a child process, cached per build, model and CPU; raises when it cannot run."""
    if not path.is_file():
        raise ModelUnavailable(f"No model file at {path}. Run `rag model` or set RAG_LLM.")
    report = check_model(path, settings.cache_dir, settings.llm_extra_buffers, settings.threads, fresh=fresh)
    if not report.ok:
        raise ModelUnavailable(crash_hint(report))
    return report


def describe_llm(settings: Settings) -> str:
    """A human-readable name of the configured LLM (for doctor and the UI)."""
    if settings.llm in PACKAGED_MODELS:
        return PACKAGED_MODELS[settings.llm].name + " (embedded, llama.cpp)"
    return settings.llm


def make_chat_model(settings: Settings) -> BaseChatModel:
    """Build the chat model the settings name. The packaged model is assembled on first use, and a
    local model is first checked on this CPU (once per build, model and CPU: rag/models/runtime.py)."""
    backend, _, name = settings.llm.partition(":")
    path = local_model_path(settings)
    if path is not None:
        if settings.llm_check and path.is_file():
            check_local_model(settings, path)
        return LlamaCppChat(options=llama_options(settings, path), in_process=not settings.llm_worker)
    if backend == "openai" and name:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=name,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,  # type: ignore[arg-type]
            max_completion_tokens=settings.max_tokens,
            seed=settings.seed,
            timeout=120,
            max_retries=0,
            temperature=settings.temperature,
        )
    if backend == "ollama" and name:
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=name,
            base_url=settings.ollama_url,
            num_predict=settings.max_tokens,
            num_ctx=settings.n_ctx,
            seed=settings.seed,
            temperature=settings.temperature,
        )
    raise ModelUnavailable(
        f"Unknown RAG_LLM '{settings.llm}'. Use 'local', 'local-0.5b', 'gguf:/path/model.gguf', "
        "'openai:<model>' (with RAG_OPENAI_BASE_URL) or 'ollama:<model>' (with RAG_OLLAMA_URL)."
    )
