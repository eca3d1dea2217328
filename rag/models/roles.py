"""The roles a text is embedded in (document, question, as given), and one embedder on two runtimes:
documents through one, questions through another.

A search process embeds only questions, one short text at a time, where llama.cpp is the quickest runtime
and the lightest in memory (a 312 MB file against torch bfloat16's 1.4 GB or ONNX float32's 0.8 GB), while
ingest embeds thousands of sentences, where torch bfloat16 (AMX) or ONNX Runtime float32 is the quickest.
Both give the same embedder's vectors (cosine to torch float32: 0.9997 for llama.cpp's Q8_0, 0.9999 or
more for the others; evals/results/embedder_runtimes_gguf.md), so the index holds one embedder's vectors
whichever runtime wrote them. Each runtime loads on its first use: a process that only searches never
loads the documents' runtime.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from ..errors import ModelUnavailable


class PromptedEmbeddings(Embeddings):
    """A runtime of a model with a prompt per role: it implements `_encode(texts, role)` for "document",
    "query" and "raw" (the texts as given), and the three calls follow."""

    def _encode(self, texts: list[str], role: str) -> list[list[float]]:
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts), "document") if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], "query")[0]

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        """Vectors of the texts as given, without the model's prompts (what `rag embeddings-server` serves)."""
        return self._encode(list(texts), "raw") if texts else []


class RoleEmbeddings(Embeddings):
    """`documents` embeds documents (and raw texts, what `rag embeddings-server` serves); `queries` embeds
    questions. Both must name the same embedder."""

    def __init__(self, documents: Embeddings, queries: Embeddings) -> None:
        names = (getattr(documents, "name", ""), getattr(queries, "name", ""))
        if names[0] != names[1]:
            raise ModelUnavailable(
                f"The question runtime gives {names[1]}'s vectors, the documents' runtime {names[0]}'s: an index "
                "would compare the two. Set RAG_EMBEDDER_QUERY_RUNTIME=documents (or a runtime of the same vectors)."
            )
        self.documents, self.queries = documents, queries
        self.name = names[0]
        self.runtime = str(getattr(documents, "runtime", ""))  # what the index records: its vectors' runtime
        self.query_runtime = str(getattr(queries, "runtime", ""))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.documents.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.queries.embed_query(text)

    def __getattr__(self, attribute: str) -> Any:  # dtype, embed_raw: the documents' runtime's
        if attribute in ("documents", "queries"):  # not set yet (a copy being made): no recursion
            raise AttributeError(attribute)
        return getattr(self.documents, attribute)
