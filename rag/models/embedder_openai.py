"""Embeddings from an OpenAI-compatible server (RAG_EMBEDDER=openai:<model>, RAG_EMBEDDINGS_URL).

One machine with the model serves `POST <url>/embeddings` (`rag embeddings-server`, or llama.cpp's server, TEI,
infinity, vLLM); every other machine ingests and asks through it. Only the plain API is used: `{"model",
"input"}` in, `data[i].embedding` ordered by `data[i].index` out. For EmbeddingGemma the client adds the
model's own prompts, as sentence-transformers does locally, and every vector is normalised here in float32,
whatever the server does.
"""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import ModelUnavailable

# EmbeddingGemma's prompts (its config_sentence_transformers.json: "query" and "document")
GEMMA_QUERY_PROMPT = "task: search result | query: "
GEMMA_DOCUMENT_PROMPT = "title: none | text: "
BATCH = 32  # texts per request
WORKERS = 4  # requests in flight at once
TIMEOUT = 120.0  # seconds a request may wait for its answer (a CPU server embeds 32 chunks in seconds)
FIX = "Start the server (`rag embeddings-server` on the machine with the model) or set RAG_EMBEDDINGS_URL to it."
FIX_BUSY = "Check its log: it may be overloaded or stuck; restart it or set RAG_EMBEDDINGS_URL to another server."
FIX_API = (
    "RAG_EMBEDDINGS_URL must be an OpenAI-compatible embeddings API (<url>/embeddings), e.g. `rag embeddings-server`."
)


class OpenAIEmbeddings(Embeddings):
    """A model behind an OpenAI-compatible `/embeddings` endpoint; batches go out concurrently, answers in order."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str = "",
        batch: int = BATCH,
        workers: int = WORKERS,
        timeout: float = TIMEOUT,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ModelUnavailable(f"RAG_EMBEDDINGS_URL '{url}' is not a URL like http://127.0.0.1:8090/v1.")
        if not model.strip():
            raise ModelUnavailable(
                "RAG_EMBEDDER 'openai:' names no model. Use openai:<model>, e.g. openai:embeddinggemma."
            )
        self.endpoint = url.rstrip("/") + "/embeddings"
        self.model = model.strip()
        self.name = f"openai:{self.model}"
        self.runtime = "server"
        self.api_key = api_key
        self.batch, self.workers, self.timeout = max(1, batch), max(1, workers), timeout
        gemma = "embeddinggemma" in self.model.lower()
        self.query_prompt = GEMMA_QUERY_PROMPT if gemma else ""
        self.document_prompt = GEMMA_DOCUMENT_PROMPT if gemma else ""
        self._width = 0  # the width of the first vectors answered: every later one must match it

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed([self.document_prompt + t for t in texts]) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._embed([self.query_prompt + text])[0]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        batches = [texts[i : i + self.batch] for i in range(0, len(texts), self.batch)]
        if len(batches) == 1:
            parts = [self._request(batches[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(batches))) as pool:
                futures = [pool.submit(self._request, b) for b in batches]
                try:
                    parts = [f.result() for f in futures]
                except BaseException:
                    for f in futures:  # one failed batch fails the call: send no more
                        f.cancel()
                    raise
        widths = sorted({p.shape[1] for p in parts} | ({self._width} if self._width else set()))
        if len(widths) > 1:
            raise self._fail(f"answered vectors of different widths ({', '.join(map(str, widths))})", FIX_API)
        self._width = widths[0]
        rows = np.concatenate(parts)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return (rows / np.maximum(norms, 1e-12)).tolist()  # type: ignore[no-any-return]

    def _fail(self, what: str, fix: str = FIX) -> ModelUnavailable:
        return ModelUnavailable(f"The embeddings server at {self.endpoint} {what}. {fix}")

    def _request(self, texts: list[str]) -> np.ndarray:
        """One batch's vectors, float32, one row per text in order; any fault is ModelUnavailable naming the URL."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = json.dumps({"model": self.model, "input": texts}, ensure_ascii=False).encode("utf-8")
        request = Request(self.endpoint, data=body, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except HTTPError as e:
            raise self._http_error(e) from e
        except (URLError, OSError, http.client.HTTPException) as e:  # urllib wraps most socket errors in URLError
            reason = getattr(e, "reason", None) or e
            if isinstance(reason, TimeoutError):
                raise self._fail(f"did not answer within {self.timeout:g} s", FIX_BUSY) from e
            raise self._fail(f"cannot be reached or gave no answer ({reason})") from e
        if status != 200:
            raise self._fail(f"answered HTTP {status} instead of 200", FIX_API)
        try:
            payload = json.loads(raw)
        except ValueError as e:
            raise self._fail(f"answered something that is not JSON ({_excerpt(raw)})", FIX_API) from e
        return self._vectors(payload, len(texts))

    def _http_error(self, e: HTTPError) -> ModelUnavailable:
        detail = _excerpt(e.read() if e.fp else b"")
        if e.code in (401, 403):
            return self._fail(
                f"refused the request (HTTP {e.code}: {detail})", "Set RAG_EMBEDDINGS_API_KEY to its key."
            )
        if e.code == 404:
            return self._fail(
                f"has no such endpoint or model (HTTP 404: {detail})",
                f"Check that RAG_EMBEDDINGS_URL ends in /v1 and that the server serves model '{self.model}'.",
            )
        return self._fail(f"answered HTTP {e.code} ({detail})", FIX_BUSY)

    def _vectors(self, payload: Any, expected: int) -> np.ndarray:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._fail(f"answered JSON without a `data` list ({_excerpt(json.dumps(payload).encode())})", FIX_API)
        if len(data) != expected:
            raise self._fail(f"answered {len(data)} vectors for {expected} texts", FIX_API)
        try:
            ordered = sorted(data, key=lambda item: int(item["index"]))
            indexes = [int(item["index"]) for item in ordered]
            rows = [item["embedding"] for item in ordered]
        except (KeyError, TypeError, ValueError) as e:
            raise self._fail("answered items without an integer `index` and an `embedding`", FIX_API) from e
        if indexes != list(range(expected)):
            raise self._fail(f"answered the indexes {indexes[:8]} for texts 0..{expected - 1}", FIX_API)
        if not all(isinstance(row, list) and row for row in rows):
            raise self._fail(
                "answered embeddings that are not lists of numbers (only encoding_format float is read)", FIX_API
            )
        widths = sorted({len(row) for row in rows})
        if len(widths) > 1:
            raise self._fail(f"answered vectors of different widths ({', '.join(map(str, widths))})", FIX_API)
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise self._fail("answered embeddings that are not lists of numbers", FIX_API) from e
        if not np.isfinite(vectors).all():
            raise self._fail("answered vectors holding NaN or infinity", FIX_API)
        return vectors


def _excerpt(raw: bytes, limit: int = 200) -> str:
    """The start of an answer body, on one line, for an error message."""
    text = " ".join(raw.decode("utf-8", "replace").split())
    return (text[:limit] + "…" if len(text) > limit else text) or "an empty body"
