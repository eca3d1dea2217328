"""What the answering chain may ask of a chat model beyond its text, without knowing the backend.

The embedded llama.cpp model can tell, from the forward pass over the prompt that generation needs
anyway, how likely its reply is to open with a given token: the probability that it starts with the
not-found marker is the model's own confidence that the passages do not answer (rag/abstain.py).
Generation then reuses the evaluated prompt, so this costs about one token. Other backends
(OpenAI-compatible, Ollama, test fakes) cannot tell, and say so with None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from langchain_core.messages import BaseMessage

from .copying import Decoded

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

    def read(
        self,
        messages: list[BaseMessage],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int = 1,
        choices: Sequence[str] = (),
    ) -> tuple[dict[str, float] | None, Decoded]:
        """The opening probabilities of `words` (None: unknown) and a short reply, copied from `source` (or one
        of `choices`, when given) where the backend can hold it to that (rag/models/copying.py), trying `starts`
        first tokens; other backends reply freely and the caller checks."""
        ...

    @property
    def last_stats(self) -> dict[str, float]:
        """The figures of the last `opening` or `read` call (llama.cpp's counters; {} for other backends)."""
        ...


class LocalReader:
    """The embedded model (rag/models/llm.py LlamaCppChat): probabilities read from the logits after the prompt."""

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

    def read(
        self,
        messages: list[BaseMessage],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int = 1,
        choices: Sequence[str] = (),
    ) -> tuple[dict[str, float] | None, Decoded]:
        opening, decoded = self.engine.read(as_chat_messages(messages), words, source, max_tokens, starts, choices)
        self._stats = self.engine.last_stats.as_dict()
        return {word: math.exp(logprob) for word, logprob in opening.items()}, decoded

    def limit(self, max_tokens: int) -> dict[str, Any]:
        return {"max_tokens": max_tokens}


class PlainReader:
    """Any other chat model: its probabilities are not known, and its reply length is its own setting."""

    def __init__(self, chat_model: Any = None) -> None:
        self.chat_model = chat_model

    def read(
        self,
        messages: list[BaseMessage],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int = 1,
        choices: Sequence[str] = (),
    ) -> tuple[dict[str, float] | None, Decoded]:
        reply = self.chat_model.invoke(messages)
        return None, Decoded(" ".join(str(reply.content).split()))

    @property
    def last_stats(self) -> dict[str, float]:
        return {}

    def opening(self, messages: list[BaseMessage], words: list[str]) -> dict[str, float] | None:
        return None

    def limit(self, max_tokens: int) -> dict[str, Any]:
        return {}
