"""Shorter vectors from a Matryoshka-trained embedder: the first `dims` components, normalized again.

EmbeddingGemma is trained so that the start of its 768-dimension vector is an embedding in itself
(512, 256 and 128 dimensions). A shorter vector is a smaller index: at 100,000 chunks and their 600,000
sentences, a search process held 3.9 GB at 768 dimensions and 3.2 GB at 512. Neither 512 nor 256 kept
held-out retrieval within 0.01 of 768 (README, Ingest and scale), so 768 stays the vectors' default.

The width is part of the embedder's name ("google/embeddinggemma-300m@256d"), so the index records it
and an index of another width is re-embedded, as for another embedder.

The sentence collection alone may be narrower (RAG_SENTENCE_DIMS): its index holds each sentence's
vector cut to that width, and the whole vector rides beside it in the sentence's metadata, `packed`
as float16. A search takes the narrow index's nearest candidates, several times as many as asked,
and ranks them again by the whole vectors (`rescored`), so the similarities retrieval fuses are the
whole vectors' (to float16's precision) while memory holds only the narrow ones. At 128 dimensions
(the default for EmbeddingGemma) held-out retrieval matched 768's on every set and a search process at
100,000 chunks held 2.5 GB (evals/results/sentence_index.md).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ..settings import EMBEDDER_WIDTHS

FULL_DIMS = EMBEDDER_WIDTHS[0]


def shortened(vectors: Any, dims: int) -> list[list[float]]:
    """Each vector's first `dims` components, at unit length again (cosine and dot product then agree).

    Example: ([[3, 4, 12]], 2) -> [[0.6, 0.8]].
    """
    rows = np.asarray(vectors, dtype=np.float32)[:, :dims]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return [list(map(float, row)) for row in rows / np.maximum(norms, 1e-12)]


def packed(vector: Any) -> str:
    """A vector as text for a metadata field: its float16 bytes in base64 (768 components: 2,048 characters)."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def unpacked(text: str) -> np.ndarray:
    """The float32 vector `packed` wrote. Example: unpacked(packed([0.5, -1.0])) -> array([0.5, -1.0])."""
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def rescored(query: Any, vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of a query vector to each row (rows of any length are normalized here)."""
    q = np.asarray(query, dtype=np.float32)
    q = q / (np.linalg.norm(q) or 1.0)
    norms = np.linalg.norm(vectors, axis=1)
    return np.asarray(vectors @ q / np.where(norms == 0, 1.0, norms))


class ShortEmbeddings(Embeddings):
    """Another embedder's vectors cut to `dims`; its other attributes (runtime, dtype) are its own."""

    def __init__(self, inner: Embeddings, dims: int) -> None:
        self.inner = inner
        self.dims = dims
        self.name = f"{getattr(inner, 'name', type(inner).__name__)}@{dims}d"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return shortened(self.inner.embed_documents(texts), self.dims) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return shortened([self.inner.embed_query(text)], self.dims)[0]

    def __getattr__(self, attribute: str) -> Any:  # runtime, dtype, embed_raw: the inner embedder's
        if attribute == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)
