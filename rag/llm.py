"""Chat-model backends behind LangChain's BaseChatModel: embedded llama.cpp, OpenAI-compatible, Ollama.

No backend downloads weights: the local one runs the packaged GGUF (or a path you give).
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

from .errors import ModelUnavailable
from .model_files import PACKAGED_MODELS, ensure_model
from .settings import Settings

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class LlamaCppChat(BaseChatModel):
    """A local GGUF model run in-process by llama-cpp-python.

    One `Llama` object is not thread-safe, so every call holds a lock for its whole duration.
    llama.cpp keeps the evaluated prompt, so a fixed system prompt is a cached prefix.
    """

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    max_tokens: int = 200
    temperature: float = 0.0
    seed: int = 0

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _client(self) -> Any:
        if self._llama is None:
            if not Path(self.model_path).is_file():
                raise ModelUnavailable(f"No model file at {self.model_path}. Run `rag model` or set RAG_LLM.")
            try:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_batch=512,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as e:
                raise ModelUnavailable(f"llama.cpp could not load {self.model_path}: {e}") from e
        return self._llama

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        with self._lock:
            self._client()

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        return {
            "messages": [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages],
            "temperature": self.temperature,
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "seed": self.seed,
            "stop": stop or [],
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(chunk.message.content for chunk in self._stream(messages, stop, run_manager, **kwargs))  # type: ignore[misc]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            llama = self._client()
            for part in llama.create_chat_completion(stream=True, **self._request(messages, stop, **kwargs)):
                delta = part["choices"][0]["delta"].get("content") or ""
                if not delta:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk


def describe_llm(settings: Settings) -> str:
    """A human-readable name of the configured LLM (for doctor and the UI)."""
    if settings.llm in PACKAGED_MODELS:
        return PACKAGED_MODELS[settings.llm].name + " (embedded, llama.cpp)"
    return settings.llm


def make_chat_model(settings: Settings) -> BaseChatModel:
    """Build the chat model the settings name. The packaged model is assembled on first use."""
    backend, _, name = settings.llm.partition(":")
    if settings.llm in PACKAGED_MODELS or (backend == "gguf" and name):
        packaged = PACKAGED_MODELS.get(settings.llm)
        path = ensure_model(packaged, settings.cache_dir) if packaged else Path(name)
        return LlamaCppChat(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_threads=settings.threads,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            temperature=settings.temperature,
        )
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
