"""`rag bench --ingest`: how fast a real corpus ingests, and how retrieval holds as the index grows.

Ingest: the 43 SQuAD-it articles (evals/data/squad-it/articles) into a fresh index, timed end to
end, with the characters the embedder was given (each distinct sentence once) and its raw rate on
the same kind of text alone (one `embed_documents` call over 300 of those sentences), so the
pipeline's overhead shows.

Scale: the store holds N chunks (2k, 10k, 100k) and their sentences. The first chunks
are that real corpus; the rest are synthetic: each a random run of six real sentences, its
vector the normalized sum of theirs plus a little noise, its sentences' vectors the real ones.
So the vector space and the keyword statistics look like news text without embedding 100k chunks.
Retrieval (dense + sentences + BM25 + fusion) is timed over questions from the SQuAD-it set, whole and
within one month, in a fresh search process (evals/bench_search.py) that also reports its memory, as a
desk's process would hold it. Figures, never asserts.

Runtimes: EmbeddingGemma's runtimes side by side (evals/bench_runtimes.py), last, so their weights do not
raise the peak memory the scale rows report; `rag bench --ingest --runtimes-only` runs that part alone.
"""

from __future__ import annotations

import itertools
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunking import split_sentences
from rag.ingest import ingest
from rag.models.embeddings import is_gemma
from rag.models.runtime import cpu_info
from rag.service import build_service
from rag.settings import Settings
from rag.store import ChunkStore, sentence_metadata
from rag.types import Chunk

from .bench_runtimes import Runtimes, cpu_identity, gemma_runtimes, runtime_figures, runtime_sample, runtimes_markdown
from .bench_search import search_figures
from .scoring import load_items

ARTICLES = Path("evals/data/squad-it/articles")
QUESTIONS = Path("evals/data/squad-it/questions.jsonl")
SIZES = (2_000, 10_000, 100_000)
SENTENCES_PER_CHUNK = 6
SYNTHETIC_FIRST_DAY = date(2024, 1, 1)
SYNTHETIC_DAYS = 730  # synthetic articles are dated over two years, so a month's search filters ~1/24 of them
_WRITE_BATCH = 500  # chunks per write; their ~3,000 sentences stay under Chroma's batch limit


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def ingest_figures(settings: Settings, log: Callable[[str], None], embeddings: Any = None) -> dict[str, Any]:
    """A clean ingest of the SQuAD-it articles, and the embedder's raw rate on a sample of its texts."""
    run = settings.model_copy(update={"corpus": (ARTICLES,), "index": settings.index_dir / "bench-ingest"})
    service = build_service(run, embeddings)
    started = time.perf_counter()
    report = ingest(run, service.store, rebuild=True)
    seconds = time.perf_counter() - started
    chunks = service.store.all_chunks()
    sentences = list(dict.fromkeys(c.text[a:b] for c in chunks for a, b in split_sentences(c.text)))
    # the raw rate on what ingest embeds, sentences, in one call the size of an ingest batch
    sample = sentences[:: max(1, len(sentences) // 300)][:300]
    embeddings = service.store.embeddings
    embeddings.embed_documents(sample[:8])  # loaded before timing
    started = time.perf_counter()
    embeddings.embed_documents(sample)
    raw_rate = sum(map(len, sample)) / (time.perf_counter() - started)
    rate = report.embedded_chars / seconds
    log(f"ingest: {report.articles} articles, {report.chunks} chunks in {seconds:.0f} s")
    return {
        "articles": report.articles,
        "chunks": report.chunks,
        "sentences": sum(len(split_sentences(c.text)) for c in chunks),
        "seconds": round(seconds, 1),
        "corpus_chars": sum(len(c.text) for c in chunks),
        "embedded_chars": report.embedded_chars,
        "embedded_chars_per_s": round(rate),
        "embedder_raw_chars_per_s": round(raw_rate),
        "share_of_raw_rate": round(rate / raw_rate, 2),
        "embedder": service.store.embedder,
        "peak_rss_mb": _rss_mb(),
    }


Row = tuple[Chunk, np.ndarray, list[tuple[str, np.ndarray]]]  # a chunk, its vector, its sentences and theirs


def _synthetic(sentences: list[tuple[str, np.ndarray]], n: int, seed: int) -> Iterator[Row]:
    """n chunks beyond the real ones: runs of real sentences, vectors from theirs (see the module doc)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    i = 0
    while i < n:
        start = rng.randrange(0, len(sentences) - SENTENCES_PER_CHUNK)
        run = sentences[start : start + SENTENCES_PER_CHUNK]
        text = "\n".join(s for s, _ in run)  # a line break ends a sentence: the chunk splits into these six
        if len(split_sentences(text)) != len(run):
            continue
        vector = np.sum([v for _, v in run], axis=0) + noise.normal(0, 0.01, len(run[0][1]))
        vector /= np.linalg.norm(vector)
        day = SYNTHETIC_FIRST_DAY + timedelta(days=(i // 10) % SYNTHETIC_DAYS)  # articles spread over two years
        chunk = Chunk(
            f"syn{i:06d}", f"syn-{i // 10:05d}", f"Articolo sintetico {i // 10}", day.isoformat(), "it", "unknown",
            text, 0, len(text), i % 10, source="synthetic", origin="synthetic",
        )  # fmt: skip
        i += 1
        yield chunk, vector, run


def _write_rows(store: ChunkStore, batch: list[Row]) -> None:
    """Precomputed vectors straight into the store's two collections, sentences first as ingest does."""
    sentence_rows = [(c, n, s, v) for c, _, run in batch for n, (s, v) in enumerate(run)]
    vectors, metadatas = store.sentence_payload(  # narrowed, whole vectors packed, with RAG_SENTENCE_DIMS
        np.asarray([v for _, _, _, v in sentence_rows]), [sentence_metadata(c) for c, _, _, _ in sentence_rows]
    )
    store._sentences().upsert(
        ids=[f"{c.id}:{n}" for c, n, _, _ in sentence_rows],
        documents=[s for _, _, s, _ in sentence_rows],
        embeddings=vectors,
        metadatas=metadatas,
    )
    store._collection().upsert(
        ids=[c.id for c, _, _ in batch],
        documents=[c.text for c, _, _ in batch],
        embeddings=np.asarray([v for _, v, _ in batch]),
        metadatas=[c.metadata() for c, _, _ in batch],
    )


def scale_figures(
    settings: Settings,
    log: Callable[[str], None],
    sizes: tuple[int, ...] = SIZES,
    embeddings: Any = None,
    base: Settings | None = None,
) -> list[dict[str, Any]]:
    """Retrieval latency and memory with N chunks in the store (after `ingest_figures` built the real part,
    or from the index `base` names), searching everything and then only one month of publication."""
    base = base or settings.model_copy(update={"corpus": (ARTICLES,), "index": settings.index_dir / "bench-ingest"})
    service = build_service(base, embeddings)
    store = service.store
    real = store.all_chunks()
    data = store._collection().get(ids=[c.id for c in real], include=["embeddings"])
    by_id = dict(zip(data["ids"], data["embeddings"], strict=True))
    vectors = np.asarray([by_id[c.id] for c in real], dtype=np.float32)
    stored = store.sentence_vectors([c.id for c in real])
    sentences = [
        (c.text[a:b], stored[c.id][n])
        for c in real
        if c.id in stored
        for n, (a, b) in enumerate(split_sentences(c.text))
        if n < len(stored[c.id])
    ]
    questions = [item.question for item in load_items(QUESTIONS)][:40]
    results = []
    for size in sizes:
        run = settings.model_copy(update={"corpus": (ARTICLES,), "index": settings.index_dir / f"bench-scale-{size}"})
        scaled = ChunkStore(run, store.embeddings)
        scaled.open_for_writing(rebuild=True)
        started = time.perf_counter()
        real_rows: list[Row] = [
            (c, v, [(c.text[a:b], stored[c.id][n]) for n, (a, b) in enumerate(split_sentences(c.text))])
            for c, v in zip(real, vectors, strict=True)
            if c.id in stored
        ]
        pending: list[Row] = []
        for item in itertools.chain(real_rows, _synthetic(sentences, max(0, size - len(real)), seed=size)):
            pending.append(item)
            if len(pending) >= _WRITE_BATCH:
                _write_rows(scaled, pending)
                pending = []
        if pending:
            _write_rows(scaled, pending)
        scaled._bump_revision()
        write_s = time.perf_counter() - started
        searched = search_figures(run, store.embeddings, questions) if embeddings is not None else _search_process(run)
        figures = {
            "chunks": scaled._collection().count(),
            "sentences": scaled._sentences().count(),
            "write_s": round(write_s, 1),
            **searched,
            "search_process": embeddings is None,
            "peak_rss_mb": _rss_mb(),
        }
        log(f"scale {size}: {figures}")
        results.append(figures)
    return results


def _search_process(settings: Settings) -> dict[str, Any]:
    """The search figures of a fresh process over the index (evals/bench_search.py): a desk's memory, not this
    writer's, which has held every batch it wrote."""
    command = [sys.executable, "-m", "evals.bench_search", "--index", str(settings.index_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the search process failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def ingest_markdown(results: dict[str, Any]) -> str:
    """The report: whichever of its sections the results hold (a `--runtimes-only` run may hold one)."""
    ing = results.get("ingest")
    lines = [
        "# Ingest and scale benchmark (`rag bench --ingest`)",
        "",
        f"- CPU: {results['cpu']}" + (f"; embedder `{ing['embedder']}`" if ing else ""),
        "",
    ]
    if ing:
        lines += [
            f"Ingest of the SQuAD-it articles: {ing['articles']} articles, {ing['chunks']} chunks, {ing['sentences']} "
            f"sentences ({ing.get('corpus_chars', 0):,} characters of chunks) in {ing['seconds']} s. The embedder "
            f"was given {ing['embedded_chars']:,} characters (each distinct sentence once): "
            f"{ing['embedded_chars_per_s']:,} per second against its raw {ing['embedder_raw_chars_per_s']:,} on "
            f"the same kind of text ({ing['share_of_raw_rate']:.0%}).",
            "",
        ]
    if "scale" in results:
        lines += [
            "| chunks in the store | sentences | write (s) | first search (ms) | search p50 (ms) | p95 (ms) "
            "| one month's search p50 (ms) | p95 (ms) | month minus whole, paired p50 (ms) | one year's, paired (ms) "
            "| search process peak RSS (MB) | of which: embedder loaded | after the first search |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in results["scale"]:
            lines.append(
                f"| {row['chunks']:,} | {row['sentences']:,} | {row['write_s']} | {row['first_search_ms']:,} | "
                f"{row['search_p50_ms']} | {row['search_p95_ms']} | {row.get('month_search_p50_ms', '–')} | "
                f"{row.get('month_search_p95_ms', '–')} | {row.get('month_minus_whole_p50_ms', '–')} | "
                f"{row.get('year_minus_whole_p50_ms', '–')} | "
                f"{row.get('search_peak_rss_mb', row['peak_rss_mb']):,} | {row.get('embedder_loaded_mb', '–')} | "
                f"{row.get('first_search_mb', '–')} |"
            )
        lines += [
            "",
            "Chunks beyond the real corpus are synthetic (see evals/bench_ingest.py): runs of real sentences. "
            "Each row's searches and memory are a fresh search process's (evals/bench_search.py), not the "
            "writer's; memory is resident MB, the first search loads Chroma's vectors and builds the keyword side.",
            "",
        ]
    if "runtimes" in results:
        lines += [*runtimes_markdown(results["runtimes"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ingest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "bench_ingest.md").write_text(ingest_markdown(results), encoding="utf-8")


def run_ingest_bench(
    settings: Settings,
    out: Path,
    log: Callable[[str], None] = print,
    sizes: tuple[int, ...] = SIZES,
    embeddings: Any = None,
    runtimes: Runtimes | None = None,
    runtimes_only: bool = False,
) -> dict[str, Any]:
    """The whole bench, or with `runtimes_only` its runtimes section alone, written into the report in `out`
    (the report's other sections, when it has them, stay). Runtimes are EmbeddingGemma's: a whole run with
    another embedder leaves that section out."""
    cpu = cpu_info()
    report = out / "bench_ingest.json"
    results: dict[str, Any] = {"cpu": f"{cpu.model} ({' '.join(cpu.features)})"}
    if runtimes_only and report.exists():
        results = {**results, **json.loads(report.read_text(encoding="utf-8"))}  # its CPU line is its sections'
    if not runtimes_only:
        results["ingest"] = ingest_figures(settings, log, embeddings)
        results["scale"] = scale_figures(settings, log, sizes, embeddings)
        _write(out, results)  # kept should the runtimes fail
        if runtimes is None and not is_gemma(settings):
            log(f"runtimes: the embedder is {settings.embedder}, not EmbeddingGemma: left out")
            return results
    # last: every runtime's weights in memory would raise the peak RSS the scale rows report
    texts, queries = runtime_sample()
    section = runtime_figures(runtimes or gemma_runtimes(settings, cpu), texts, queries, log)
    results["runtimes"] = {"cpu": cpu_identity(), **section}
    _write(out, results)
    return results
