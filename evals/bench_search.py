"""A search process alone, as a desk runs one: its memory and latency over an index `rag bench --ingest` built.

`python -m evals.bench_search --index DIR` opens the index, loads the embedder, searches the SQuAD-it
questions (everything, one month of publication, and its first year: about half the synthetic articles)
and prints its figures as JSON. The scale rows of `rag bench --ingest` run it in a fresh process, so their
memory is a search process's and not the writer's that built the store. Memory is read from /proc at each
step (resident now, and the peak so far), so the report says what holds it: the embedder, the vectors
Chroma loads, the keyword side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from rag.periods import day_number
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Scope

from .scoring import load_items

QUESTIONS = Path("evals/data/squad-it/questions.jsonl")
MONTH_FIRST_DAY = date(2024, 1, 1)  # the synthetic articles' first month (evals/bench_ingest.py)


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak so far, in MB (0, 0 where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:
        return 0.0, 0.0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def mb(name: str) -> float:
        return round(int(fields.get(name, "0 kB").split()[0]) / 1024, 1)

    return mb("VmRSS"), mb("VmHWM")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def search_figures(settings: Settings, embeddings: Embeddings, questions: Sequence[str]) -> dict[str, Any]:
    """Open the store the settings name, then time searches; memory after each step."""
    steps: dict[str, float] = {"start_mb": memory_mb()[0]}
    store = ChunkStore(settings, embeddings)
    store.embed_query("warm-up")  # loads the embedder
    steps["embedder_loaded_mb"] = memory_mb()[0]
    retriever = HybridRetriever(settings, store)
    started = time.perf_counter()
    retriever.search(questions[0])  # loads Chroma's vectors and builds the keyword side
    first_ms = (time.perf_counter() - started) * 1000
    steps["first_search_mb"] = memory_mb()[0]
    month = Scope(day_number(MONTH_FIRST_DAY), day_number(MONTH_FIRST_DAY + timedelta(days=30)))
    year = Scope(day_number(MONTH_FIRST_DAY), day_number(MONTH_FIRST_DAY + timedelta(days=365)))
    whole: list[float] = []
    scoped: list[float] = []
    yearly: list[float] = []
    for question in questions:  # taking turns, so a drifting host moves all alike
        for times, scope in ((whole, None), (scoped, month), (yearly, year)):
            started = time.perf_counter()
            retriever.search(question, scope=scope)
            times.append((time.perf_counter() - started) * 1000)
    now, peak = memory_mb()
    return {
        "first_search_ms": round(first_ms),
        "search_p50_ms": round(statistics.median(whole), 1),
        "search_p95_ms": _pct(whole, 0.95),
        "month_search_p50_ms": round(statistics.median(scoped), 1),
        "month_search_p95_ms": _pct(scoped, 0.95),
        "month_minus_whole_p50_ms": round(statistics.median(s - w for s, w in zip(scoped, whole, strict=True)), 1),
        "year_search_p50_ms": round(statistics.median(yearly), 1),
        "year_minus_whole_p50_ms": round(statistics.median(y - w for y, w in zip(yearly, whole, strict=True)), 1),
        **steps,
        "searching_mb": now,
        "search_peak_rss_mb": peak,
        "embedder": store.embedder,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_search", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index folder (bench-scale-N)")
    parser.add_argument("--questions", type=int, default=40, help="how many SQuAD-it questions to search")
    args = parser.parse_args(argv)
    from rag.models.embeddings import make_embeddings

    settings = Settings(index=args.index)
    questions = [item.question for item in load_items(QUESTIONS)][: args.questions]
    print(json.dumps(search_figures(settings, make_embeddings(settings), questions)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
