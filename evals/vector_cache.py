"""Vectors kept between eval runs: an embedder's documents, embedded once per text.

`make tune-retrieval` ingests every setup again for each index setting (chunk size, embedder width,
the sentence index's width). Settings that keep the embedder's vectors but store or search them
otherwise, RAG_SENTENCE_DIMS above all, need no new embedding: this wrapper answers from a file under
the work folder, keyed by the embedder's name, and asks the embedder only for texts it has not seen.
The vectors are the embedder's own (it is deterministic), so the figures are those of a fresh run.
Questions are embedded afresh every time, so the search times a run reports include their embedding.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.models.embeddings import embedder_name


class CachedEmbeddings(Embeddings):
    """`inner`'s document vectors, remembered per text and saved to `folder` by `save()`."""

    def __init__(self, inner: Embeddings, folder: Path) -> None:
        self.inner = inner
        self.name = embedder_name(inner)
        key = hashlib.sha256(self.name.encode("utf-8")).hexdigest()[:16]
        self.path = Path(folder) / f"vectors-{key}.pickle"
        self._vectors: dict[str, list[float]] = {}
        if self.path.is_file():
            with self.path.open("rb") as handle:
                self._vectors = pickle.load(handle)
        self._unsaved = False

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = self.inner.embed_documents(missing)
            self._vectors.update((t, list(v)) for t, v in zip(missing, fresh, strict=True))
            self._unsaved = True
        return [self._vectors[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def save(self) -> None:
        if self._unsaved:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staged = self.path.with_suffix(".partial")
            with staged.open("wb") as handle:
                pickle.dump(self._vectors, handle)
            staged.replace(self.path)
            self._unsaved = False

    def __getattr__(self, attribute: str) -> Any:  # runtime, dtype: the inner embedder's
        if attribute == "inner":
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)
