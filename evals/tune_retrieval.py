"""Choose the fusion rule and weights on development splits; report the held-out splits.

`python -m evals.tune_retrieval --out evals/results/retrieval` (`make tune-retrieval`).

Each setup (a corpus and its questions) is ingested once, into its own index under the work folder,
and each question's candidates are gathered once through the real retriever
(`HybridRetriever.candidates`). Every setting of the grid then fuses those candidates with the
same code that ranks at question time (`rag.fusion.ranked`), so hundreds of settings cost seconds.
The setting with the best mean development MRR over the setups is chosen; its held-out figures are
what the report gives as results. Settings of the index itself (chunk size, embedder) need a new
ingest per value: they come from the environment (RAG_CHUNK_SIZE, RAG_EMBEDDER), and the work
folder is keyed by them, so a second run with another chunk size reuses nothing it should not. The
vectors are kept under the work folder per embedder (evals/vector_cache.py): a setting that only
stores them otherwise (RAG_SENTENCE_DIMS) ingests again without embedding again.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.fusion import Candidates, Fusion, ranked
from rag.ingest import ingest
from rag.models.embeddings import make_embeddings
from rag.models.matryoshka import FULL_DIMS
from rag.service import build_service
from rag.settings import Settings

from .runner import RECALL_DEPTH, evidence_text
from .scoring import EvalItem, holds_evidence, load_items, summarize
from .splits import split_of
from .vector_cache import CachedEmbeddings

FIXTURES = Path("tests/fixtures/distractors")
SQUAD = Path("evals/data/squad-it")


@dataclass(frozen=True)
class Setup:
    """A corpus (folders, plus distractor files copied into a folder of their own) and its questions."""

    name: str
    corpus: tuple[Path, ...]
    questions: tuple[Path, ...]
    extra: tuple[Path, ...] = ()  # single files added to the corpus


def default_setups() -> list[Setup]:
    """The project set alone and with distractors mixed in unbalanced proportions (English a small
    minority, one of each language, English a majority of the articles, all 16), and SQuAD-it over
    all 43 articles with its Italian questions and their English translations."""
    project = (Path("evals/questions.jsonl"),)
    fixtures = sorted(FIXTURES.glob("fixture_*.md"))
    english = [f for f in fixtures if "\nlanguage: en" in f.read_text(encoding="utf-8")]

    def pick(*numbers: str) -> tuple[Path, ...]:
        return tuple(f for f in fixtures if any(f.name.startswith(f"fixture_{n}_") for n in numbers))

    return [
        Setup("project", (Path("corpus"),), project),
        Setup("project+2en", (Path("corpus"),), project, pick("02", "08")),
        Setup("project+1en1it", (Path("corpus"),), project, pick("06", "01")),
        Setup("project+8en", (Path("corpus"),), project, tuple(english)),
        Setup("project+16", (Path("corpus"),), project, tuple(fixtures)),
        Setup("squad-it", (SQUAD / "articles",), (SQUAD / "questions.jsonl", SQUAD / "questions_en.jsonl")),
    ]


@dataclass(frozen=True)
class Gathered:
    setup: str
    items: list[EvalItem]
    candidates: list[Candidates]
    relevant: list[set[str]]  # per item: the candidate chunk ids that hold its evidence
    chunks: int
    search_ms: list[float]  # per item: one whole `search` (query embedding included), as at question time


def work_key(settings: Settings) -> str:
    """The indexes' and reports' key: what changes the vectors (the embedder, int8 among its runtimes, a width
    below 768, a narrower sentence index) and chunks."""
    # the others give the same vectors; int8's 7-bit weights are new vectors, and reports, beside the 8-bit ones'
    runtime = "-onnx-int8-7bit" if settings.embedder_runtime == "onnx-int8" else ""
    width = f"-{settings.embedder_dims}d" if settings.embedder_dims != FULL_DIMS else ""
    width += f"-sentences{settings.sentence_width}d" if settings.sentence_width else ""
    embedder = settings.embedder.replace(":", "_").replace("/", "_")
    return f"{embedder}{runtime}{width}-c{settings.chunk_size}-o{settings.chunk_overlap}"


def gather(
    settings: Settings, setup: Setup, work: Path, embeddings: Any, log: Callable[[str], None] = print
) -> Gathered:
    """Ingest the setup's corpus (incremental: a no-op the second time) and collect every question's candidates."""
    folder = work / work_key(settings) / setup.name
    corpus = list(setup.corpus)
    if setup.extra:
        extra = folder / "extra"
        extra.mkdir(parents=True, exist_ok=True)
        wanted = {f.name for f in setup.extra}
        for stale in extra.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        for f in setup.extra:
            shutil.copyfile(f, extra / f.name)
        corpus.append(extra)
    chosen = settings.model_copy(update={"corpus": tuple(corpus), "index": folder / "index"})
    service = build_service(chosen, embeddings=embeddings)
    report = ingest(chosen, service.store)
    log(f"{setup.name}: {report.articles} articles, {report.chunks} chunks")
    chunks = {c.id: c for c in service.store.all_chunks()}
    items = [item for path in setup.questions for item in load_items(path) if item.answerable]
    # the candidates depend only on the index, the questions and the depth: kept for the next run
    key = hashlib.sha256(
        json.dumps(
            [service.store.revision(), chosen.candidates, [p.read_text(encoding="utf-8") for p in setup.questions]]
        ).encode("utf-8")
    ).hexdigest()[:16]
    cached = folder / f"candidates-{key}.pickle"
    if cached.is_file():
        with cached.open("rb") as handle:
            gathered: Gathered = pickle.load(handle)
        return gathered
    candidates, relevant, search_ms = [], [], []
    service.retriever.search("warm-up")  # the first search builds the BM25 side
    for item in items:
        began = time.perf_counter()
        service.retriever.search(item.question)
        search_ms.append((time.perf_counter() - began) * 1000)
        found = service.retriever.candidates(item.question)
        candidates.append(found)
        relevant.append({cid for cid in found.ids if holds_evidence(evidence_text(chunks[cid]), item.evidence)})
    gathered = Gathered(setup.name, items, candidates, relevant, len(chunks), search_ms)
    with cached.open("wb") as handle:
        pickle.dump(gathered, handle)
    return gathered


def ranks_for(g: Gathered, fusion: Fusion, depth: int = RECALL_DEPTH) -> list[int | None]:
    """Each item's first rank (1-based, within depth) of a chunk holding its evidence, or None."""
    out: list[int | None] = []
    for found, relevant in zip(g.candidates, g.relevant, strict=True):
        order = [cid for cid, _ in ranked(found, fusion, depth)]
        out.append(next((r for r, cid in enumerate(order, start=1) if cid in relevant), None))
    return out


def metrics(ranks: Sequence[int | None]) -> dict[str, float | int]:
    """recall@1, recall@5, MRR and n of first-hit ranks, by the eval scorer's own rules."""
    summary = summarize([{"answerable": True, "first_hit_rank": r} for r in ranks], retrieval_only=True)
    return {key: summary[key] for key in ("recall@1", "recall@5", "mrr", "n") if summary[key] is not None}


def groups(g: Gathered) -> dict[str, list[int]]:
    """Item positions per reporting group: the setup, split by question language for SQuAD-it."""
    # SQuAD-it's Italian questions and their English translations are two question sets
    keys = [f"{g.setup}/{item.lang}" if g.setup.startswith("squad") else g.setup for item in g.items]
    out: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return out


def evaluate(gathered: Sequence[Gathered], fusion: Fusion) -> dict[str, dict[str, dict[str, float | int]]]:
    """{group: {"dev"|"test": metrics}} for one setting."""
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for g in gathered:
        ranks = ranks_for(g, fusion)
        for key, positions in groups(g).items():
            out[key] = {
                split: metrics([ranks[i] for i in positions if split_of(g.items[i].id) == split])
                for split in ("dev", "test")
            }
    return out


def latency(ms: Sequence[float]) -> dict[str, float]:
    if len(ms) < 2:
        return {}
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"search_p50_ms": round(cuts[49], 1), "search_p95_ms": round(cuts[94], 1)}


def family(group: str) -> str:
    """The question set behind a group: "project+8en" -> "project" (one set over several corpora)."""
    return group.split("+")[0]


def objective(result: dict[str, dict[str, dict[str, float | int]]]) -> float:
    """Development MRR over every development question once: a question set asked over several corpora
    (the project set with and without distractors) counts by its mean over them. Pooling the questions,
    not averaging the sets, keeps a small set's noise from choosing the weights: 23 project questions
    against 202 SQuAD-it ones."""
    per_set: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for group, r in result.items():
        per_set.setdefault(family(group), []).append(float(r["dev"]["mrr"]))
        sizes[family(group)] = int(r["dev"]["n"])
    total = sum(sizes.values()) or 1
    return sum(sizes[f] * sum(v) / len(v) for f, v in per_set.items()) / total


def grid() -> Iterable[Fusion]:
    """The settings compared: a capped grid of each rule."""
    for rrf_k, chunk, article, keyword in itertools.product(
        (5, 10, 30, 60), (0.0, 0.25, 0.5, 1.0), (0.0, 0.25, 0.5), (0.0, 0.1, 0.25, 0.5)
    ):
        yield Fusion("rrf", chunk, article, keyword, rrf_k=rrf_k)
    for chunk, article, keyword, balance in itertools.product(
        (0.0, 0.1, 0.25, 0.5, 1.0), (0.0, 0.5, 1.0, 1.5), (0.0, 0.1, 0.2, 0.3, 0.5), (False, True)
    ):
        yield Fusion("score", chunk, article, keyword, balance_languages=balance)


def tune(
    settings: Settings,
    setups: Sequence[Setup],
    work: Path,
    log: Callable[[str], None] = print,
    embeddings: Any = None,
) -> dict[str, Any]:
    cache = CachedEmbeddings(embeddings or make_embeddings(settings), work)
    try:
        gathered = [gather(settings, s, work, cache, log) for s in setups]
    finally:
        cache.save()
    current = settings.fusion_params
    in_force = evaluate(gathered, current)
    tried = [(f, evaluate(gathered, f)) for f in grid()]
    tried.sort(key=lambda fr: -objective(fr[1]))
    best = {rule: next(fr for fr in tried if fr[0].rule == rule) for rule in ("rrf", "score")}
    return {
        "embedder": settings.embedder
        + (" on ONNX Runtime int8 (7-bit weights)" if settings.embedder_runtime == "onnx-int8" else "")
        + (f", {settings.embedder_dims} dimensions" if settings.embedder_dims != FULL_DIMS else "")
        + (f", sentence index {settings.sentence_width} dimensions" if settings.sentence_width else ""),
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "candidates": settings.candidates,
        "setups": [
            {"name": g.setup, "chunks": g.chunks, "questions": len(g.items), **latency(g.search_ms)} for g in gathered
        ],
        "chosen": {"fusion": asdict(tried[0][0]), "objective": round(objective(tried[0][1]), 4), "result": tried[0][1]},
        "best_per_rule": {
            rule: {"fusion": asdict(f), "objective": round(objective(r), 4), "result": r}
            for rule, (f, r) in best.items()
        },
        "in_force": {
            "fusion": asdict(current),
            "objective": round(objective(in_force), 4),
            "result": in_force,
        },  # fmt: skip
        "top": [{"fusion": asdict(f), "objective": round(objective(r), 4)} for f, r in tried[:15]],
    }


def _describe(fusion: dict[str, Any]) -> str:
    if fusion["rule"] == "rrf":
        return (
            f"rrf k={fusion['rrf_k']}, chunk {fusion['chunk_weight']}, article {fusion['article_weight']}, "
            f"keyword {fusion['keyword_weight']}"
        )
    centring = ", centred per language" if fusion["balance_languages"] else ""
    return (
        f"score, chunk {fusion['chunk_weight']}, article {fusion['article_weight']}, "
        f"keyword {fusion['keyword_weight']}{centring}"
    )


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Retrieval tuning: fusion chosen on development splits, held-out splits reported",
        "",
        f"Embedder `{results['embedder']}`, chunks {results['chunk_size']}/{results['chunk_overlap']} characters, "
        f"{results['candidates']} candidates per retriever. Objective: development MRR over every "
        "development question once (the project set's MRR is its mean over its five corpora); recall and MRR "
        "at depth 5, answerable questions. Search times: one whole search per question (query embedding "
        "included), from the run that gathered the candidates.",
        "",
        "| setup | chunks | answerable questions | search p50 / p95 (ms) |",
        "|---|---|---|---|",
        *[
            f"| {s['name']} | {s['chunks']} | {s['questions']} | {s.get('search_p50_ms')} / {s.get('search_p95_ms')} |"
            for s in results["setups"]
        ],
        "",
    ]
    for title, entry in (
        ("Chosen", results["chosen"]),
        *[(f"Best {rule}", e) for rule, e in results["best_per_rule"].items()],
        ("In force when run", results["in_force"]),
    ):
        lines += [
            f"## {title}: {_describe(entry['fusion'])} (objective {entry['objective']})",
            "",
            "| group | dev R@1 | dev R@5 | dev MRR | **test R@1** | **test R@5** | **test MRR** | test n |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for group, r in entry["result"].items():
            d, t = r["dev"], r["test"]
            lines.append(
                f"| {group} | {d.get('recall@1')} | {d.get('recall@5')} | {d.get('mrr')} | "
                f"{t.get('recall@1')} | {t.get('recall@5')} | {t.get('mrr')} | {t.get('n')} |"
            )
        alone = entry["result"].get("project", {}).get("test", {}).get("recall@1")
        if alone:
            ratios = [
                f"{group} {round(float(r['test']['recall@1']) / float(alone), 3)}"
                for group, r in entry["result"].items()
                if group.startswith("project+")
            ]
            lines += ["", "Held-out recall@1 with distractors / without: " + ", ".join(ratios)]
        lines.append("")
    lines += ["## Top settings by objective", "", "| setting | objective |", "|---|---|"]
    lines += [f"| {_describe(t['fusion'])} | {t['objective']} |" for t in results["top"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.tune_retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("evals/results/retrieval"))
    parser.add_argument("--work", type=Path, default=Path("index/tune"), help="indexes of the setups (reused)")
    parser.add_argument("--setups", default="", help="comma-separated setup names (default: all)")
    args = parser.parse_args(argv)
    settings = Settings()
    setups = default_setups()
    if args.setups:
        wanted = set(args.setups.split(","))
        unknown = wanted - {s.name for s in setups}
        if unknown:
            parser.error(f"unknown setup(s) {sorted(unknown)}: choose from {[s.name for s in setups]}")
        setups = [s for s in setups if s.name in wanted]
    results = tune(settings, setups, args.work, log=lambda line: print(line, file=sys.stderr))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"tuning-{work_key(settings)}"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(markdown(results), encoding="utf-8")
    print(f"{args.out}/{stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
