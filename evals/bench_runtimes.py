"""EmbeddingGemma's runtimes side by side (`rag bench --ingest`, `--runtimes-only` alone): one fixed
sample (48 sentences spread over the SQuAD-it articles, 8 of its questions), torch float32, the runtime
`auto` picks on this CPU and every other one installed or exported here, taking turns in each repetition so
a busy host slows them alike. Characters per second for documents, the median single query, and the
cosine of each runtime's vectors to torch float32's. Figures, never asserts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.chunking import split_sentences
from rag.corpus import load_corpus
from rag.errors import ModelUnavailable
from rag.models.embedder_files import check_embedder
from rag.models.embedder_gguf import RUNTIMES as GGUF_RUNTIMES
from rag.models.embedder_gguf import LlamaGemmaEmbeddings, check_gguf
from rag.models.embedder_onnx import RUNTIMES, OnnxGemmaEmbeddings, check_onnx
from rag.models.embeddings import GemmaEmbeddings, gemma_dtype, gemma_query_runtime, gemma_runtime
from rag.models.runtime import CpuInfo, cpu_info
from rag.settings import Settings

from .scoring import load_items

ARTICLES = Path("evals/data/squad-it/articles")
QUESTIONS = Path("evals/data/squad-it/questions.jsonl")
REFERENCE = "torch float32"  # the runtime the others are measured against
SAMPLE_TEXTS, SAMPLE_QUERIES, REPEATS = 48, 8, 3


@dataclass(frozen=True)
class Runtimes:
    """The runtimes to compare, by label with REFERENCE among them; the labels `auto` picks for documents and for
    questions; the ones left out."""

    embedders: dict[str, Embeddings]
    auto: str
    missing: dict[str, str] = field(default_factory=dict)  # label -> why it is not measured here
    auto_queries: str = ""


def gemma_runtimes(settings: Settings, cpu: CpuInfo) -> Runtimes:
    """torch float32, the runtime `auto` picks on this CPU, and every other one this machine can run:
    torch bfloat16 where the CPU computes it natively, each ONNX export and GGUF conversion found in the cache."""
    folder = check_embedder(settings.cache_dir)
    dtype, runtime = gemma_dtype("auto", cpu), gemma_runtime("auto", cpu)
    embedders: dict[str, Embeddings] = {REFERENCE: GemmaEmbeddings(folder, "float32")}
    missing = {}
    if dtype == "bfloat16":
        embedders["torch bfloat16"] = GemmaEmbeddings(folder, "bfloat16")
    else:
        missing["torch bfloat16"] = "no native bfloat16 on this CPU (AVX-512 BF16 or AMX)"
    for name in RUNTIMES:
        try:
            embedders[name] = OnnxGemmaEmbeddings(folder, check_onnx(settings.cache_dir, name), name)
        except ModelUnavailable:
            missing[name] = f"not exported; `RAG_EMBEDDER_RUNTIME={name} rag model` exports it"
    for name in GGUF_RUNTIMES:
        try:
            embedders[name] = LlamaGemmaEmbeddings(folder, check_gguf(settings.cache_dir, name), name)
        except ModelUnavailable:
            missing[name] = f"not converted; `RAG_EMBEDDER_RUNTIME={name} rag model` converts it"
    label = f"torch {dtype}" if runtime == "torch" else runtime
    queries = gemma_query_runtime("auto", runtime)
    return Runtimes(embedders, label, missing, label if queries == runtime else queries)


def cpu_identity(cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU's name, family and model (x86 /proc/cpuinfo) and the flags that decide `auto`."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())  # the first processor's
    info = cpu_info(cpuinfo)
    return {
        "name": info.model,
        "family": fields.get("cpu family", ""),
        "model": fields.get("model", ""),
        "avx2": "avx2" in info.features,
        "avx512_bf16": "avx512_bf16" in info.features,
        "amx": info.has_amx,
        "features": list(info.features),
    }


def runtime_sample(texts: int = SAMPLE_TEXTS, queries: int = SAMPLE_QUERIES) -> tuple[list[str], list[str]]:
    """Sentences spread evenly over the SQuAD-it articles (ingest embeds sentences) and questions of its set."""
    sentences = [a.text[s:e] for a in load_corpus([ARTICLES]).articles for s, e in split_sentences(a.text)]
    questions = [item.question for item in load_items(QUESTIONS)]
    return (
        sentences[:: max(1, len(sentences) // texts)][:texts],
        questions[:: max(1, len(questions) // queries)][:queries],
    )


def _cosines(vectors: list[list[float]], reference: list[list[float]]) -> np.ndarray:
    a, b = np.asarray(vectors, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def runtime_figures(
    runtimes: Runtimes,
    texts: list[str],
    queries: list[str],
    log: Callable[[str], None] = print,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """Each runtime on the same texts and queries, in turns: repetition r starts with the r-th runtime."""
    if REFERENCE not in runtimes.embedders:
        raise ValueError(f"the runtimes to compare must include {REFERENCE}")
    labels = list(runtimes.embedders)
    for label in labels:  # loaded and warmed before any timing
        runtimes.embedders[label].embed_documents(texts[:2])
        runtimes.embedders[label].embed_query(queries[0])
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    query_ms: dict[str, list[float]] = {label: [] for label in labels}
    documents: dict[str, list[list[float]]] = {}
    asked: dict[str, list[list[float]]] = {}
    for r in range(repeats):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            embeddings = runtimes.embedders[label]
            started = time.perf_counter()
            documents[label] = embeddings.embed_documents(texts)
            seconds[label].append(time.perf_counter() - started)
            asked[label] = []
            for query in queries:
                started = time.perf_counter()
                asked[label].append(embeddings.embed_query(query))
                query_ms[label].append((time.perf_counter() - started) * 1000)
        log(f"runtimes: repetition {r + 1} of {repeats} done")
    chars = sum(map(len, texts))
    reference_rate = chars / statistics.median(seconds[REFERENCE])
    rows = []
    for label in labels:
        rates = [chars / s for s in seconds[label]]
        doc_cos, query_cos = _cosines(documents[label], documents[REFERENCE]), _cosines(asked[label], asked[REFERENCE])
        rows.append(
            {
                "runtime": label,
                "embedder": str(getattr(runtimes.embedders[label], "name", label)),
                "docs_chars_per_s": round(chars / statistics.median(seconds[label])),
                "docs_chars_per_s_range": [round(min(rates)), round(max(rates))],
                "vs_reference": round(chars / statistics.median(seconds[label]) / reference_rate, 2),
                "query_p50_ms": round(statistics.median(query_ms[label]), 1),
                "doc_cosine_mean": round(float(doc_cos.mean()), 5),
                "doc_cosine_min": round(float(doc_cos.min()), 5),
                "query_cosine_mean": round(float(query_cos.mean()), 5),
                "query_cosine_min": round(float(query_cos.min()), 5),
            }
        )
    return {
        "auto": runtimes.auto,
        "auto_queries": runtimes.auto_queries or runtimes.auto,
        "reference": REFERENCE,
        "texts": len(texts),
        "text_chars": chars,
        "queries": len(queries),
        "repeats": repeats,
        "rows": rows,
        "missing": dict(runtimes.missing),
    }


def _auto(label: str, section: dict[str, Any]) -> str:
    """ " (auto)", " (auto, questions)" or "": what `auto` uses this runtime for."""
    roles = [role for role, key in (("documents", "auto"), ("questions", "auto_queries")) if section.get(key) == label]
    return "" if not roles else " (auto)" if len(roles) == 2 else f" (auto, {roles[0]})"


def runtimes_markdown(section: dict[str, Any]) -> list[str]:
    cpu = section["cpu"]
    flags = ", ".join(f"{flag} {'yes' if cpu[flag] else 'no'}" for flag in ("avx2", "avx512_bf16", "amx"))
    lines = [
        "## EmbeddingGemma runtimes on the same texts",
        "",
        f"- CPU: {cpu['name']}, family {cpu['family'] or '?'} model {cpu['model'] or '?'}; {flags}. "
        f"`auto` picks **{section['auto']}** here for documents and "
        f"**{section.get('auto_queries', section['auto'])}** for questions.",
        f"- {section['texts']} sentences of the SQuAD-it articles ({section['text_chars']:,} characters) in one "
        f"call, and {section['queries']} of its questions one at a time; {section['repeats']} repetitions, the "
        "runtimes taking turns in a rotating order. Rates are medians, their range in brackets.",
        "",
        f"| runtime | documents (characters/s) | vs {section['reference']} | query p50 (ms) "
        f"| cosine to {section['reference']}, documents: mean (min) | queries: mean (min) |",
        "|---|---|---|---|---|---|",
    ]
    for row in section["rows"]:
        low, high = row["docs_chars_per_s_range"]
        lines.append(
            f"| {row['runtime']}{_auto(row['runtime'], section)} "
            f"| {row['docs_chars_per_s']:,} ({low:,}–{high:,}) | {row['vs_reference']:.2f}x | {row['query_p50_ms']} "
            f"| {row['doc_cosine_mean']:.4f} ({row['doc_cosine_min']:.4f}) "
            f"| {row['query_cosine_mean']:.4f} ({row['query_cosine_min']:.4f}) |"
        )
    if section["missing"]:
        lines += ["", "Not measured here: " + "; ".join(f"{k}: {v}" for k, v in section["missing"].items()) + "."]
    return lines
