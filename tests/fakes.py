"""Deterministic stand-ins for fast unit tests: a hashing embedder and a scripted chat model."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from rag.keyword import analyze

DIM = 256


class HashEmbeddings(Embeddings):
    """Bag of stemmed terms hashed into a unit vector: similar wording -> similar vectors."""

    def __init__(self, name: str = "fake/hash-256") -> None:
        self.name = name
        self.calls = 0

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * DIM
        for term in analyze(text, ("it", "en")):
            slot = int(hashlib.md5(term.encode()).hexdigest(), 16) % DIM
            vec[slot] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class ScriptedChat(BaseChatModel):
    """Answers with `reply(messages)`; records every prompt it was sent."""

    reply: Callable[[list[BaseMessage]], str]
    prompts: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.prompts.append(messages)
        text = self.reply(messages)
        for i in range(0, len(text), 7):
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[i : i + 7]))


def scripted(text_or_fn: str | Callable[[list[BaseMessage]], str]) -> ScriptedChat:
    fn = text_or_fn if callable(text_or_fn) else (lambda _m, t=text_or_fn: t)
    return ScriptedChat(reply=fn, prompts=[])


def walk_with_unreadable(name: str):  # noqa: ANN201 - a generator function standing in for os.walk
    """os.walk as it behaves when a folder called `name` cannot be listed (root ignores chmod, so tests fake it)."""
    import os

    real_walk = os.walk

    def walk(top, onerror=None):  # noqa: ANN001, ANN202
        for root, dirs, files in real_walk(top, onerror=onerror):
            if os.path.basename(root) == name:
                onerror(PermissionError(13, "Permission denied", root))
                continue
            yield root, dirs, files

    return walk
