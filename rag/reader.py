"""What the answering chain may ask of a chat model beyond its text, without knowing the backend.

The embedded llama.cpp model can tell, from the forward pass over the prompt that generation needs
anyway, how likely its reply is to open with a given token: the probability that it starts with the
not-found marker is the model's own confidence that the passages do not answer (rag/abstain.py).
Generation then reuses the evaluated prompt, so this costs about one token. Other backends
(OpenAI-compatible, Ollama, test fakes) cannot tell, and say so with None.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from langchain_core.messages import BaseMessage

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def as_chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as llama.cpp's chat format takes them: [{"role": "user", "content": ...}]."""
    return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


class ModelReader(Protocol):
    def opening(self, messages: list[BaseMessage], words: list[str]) -> dict[str, float] | None:
        """The probability that the reply to `messages` opens with each word's first token (None: unknown)."""
        ...

    def limit(self, max_tokens: int) -> dict[str, Any]:
        """The keyword arguments that cap a call's reply at `max_tokens` ({} when the backend has no such cap)."""
        ...

    @property
    def last_stats(self) -> dict[str, float]:
        """The figures of the last `opening` call (llama.cpp's counters; {} for other backends)."""
        ...


class LocalReader:
    """The embedded model (rag/llm.py LlamaCppChat): probabilities read from the logits after the prompt."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine  # LocalLlama or WorkerLlama
        self._stats: dict[str, float] = {}

    @property
    def last_stats(self) -> dict[str, float]:
        return self._stats

    def opening(self, messages: list[BaseMessage], words: list[str]) -> dict[str, float] | None:
        found = self.engine.opening(as_chat_messages(messages), words)
        self._stats = self.engine.last_stats.as_dict()
        return {word: math.exp(logprob) for word, logprob in found.items()}

    def limit(self, max_tokens: int) -> dict[str, Any]:
        return {"max_tokens": max_tokens}


class PlainReader:
    """Any other chat model: its probabilities are not known, and its reply length is its own setting."""

    @property
    def last_stats(self) -> dict[str, float]:
        return {}

    def opening(self, messages: list[BaseMessage], words: list[str]) -> dict[str, float] | None:
        return None

    def limit(self, max_tokens: int) -> dict[str, Any]:
        return {}
