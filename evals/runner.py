"""`rag eval`: run the question set through our pipeline and/or the baseline, write the reports.

The runner only orchestrates; every number comes from evals.scoring.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.abstain import top_sentence
from rag.ingest import ingest
from rag.language import detect_language
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer, Chunk

from .report import write_markdown, write_png
from .scoring import (
    EvalItem,
    answer_correct,
    answer_f1,
    claim_of,
    first_hit_rank,
    holds_evidence,
    load_items,
    markers_valid,
    report_block,
)
from .splits import split_of

DEFAULT_QUESTIONS = Path("evals/questions.jsonl")
RECALL_DEPTH = 5


@dataclass(frozen=True)
class EvalOptions:
    questions: Path | tuple[Path, ...] = DEFAULT_QUESTIONS  # one file or several, read in order
    out: Path = Path("evals/runs/latest")
    pipelines: tuple[str, ...] = ("ours",)
    retrieval_only: bool = False
    split: str = ""  # "dev" or "test": only that split's questions ("": all)
    limit: int = 0  # 0: every question; else this many, spread evenly over the files

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.questions,) if isinstance(self.questions, Path) else tuple(self.questions)


def select_items(options: EvalOptions) -> list[EvalItem]:
    """The questions of the run: every file's, then only the split asked for, then `limit` spread evenly
    (so a short run still has both languages and every file's kinds)."""
    items = [item for path in options.files for item in load_items(path)]
    if options.split:
        items = [item for item in items if split_of(item.id) == options.split]
    if options.limit and options.limit < len(items):
        step = len(items) / options.limit
        items = [items[int(i * step)] for i in range(options.limit)]
    return items


def evidence_text(chunk: Chunk) -> str:
    """A passage as the system presents it: its article's metadata (as the article file's front matter
    writes it, so evidence quoted from there matches) and its text."""
    meta = [f"title: {chunk.title}", f"date: '{chunk.date}'", f"publication: {chunk.publication}"]
    meta += [f"author: {chunk.author}"] if chunk.author else []
    return "\n".join([chunk.header(), *meta, f"language: {chunk.language}", chunk.text])


_QUOTED = re.compile(r"«[^»]*»|“[^”]*”")


def unquoted(text: str) -> str:
    """`text` without what it quotes: «…» and “…” (titles and sentences of the articles).

    Example: 'The article “Nasce l’alleanza” was written by X' -> 'The article  was written by X'
    """
    return _QUOTED.sub(" ", text)


def _record(item: EvalItem, retrieved: list[Chunk], answer: Answer | None) -> dict[str, Any]:
    rank = first_hit_rank([evidence_text(c) for c in retrieved], item.evidence) if item.answerable else None
    record: dict[str, Any] = {
        "id": item.id,
        "lang": item.lang,
        "kind": item.kind,
        "split": split_of(item.id),
        "answerable": item.answerable,
        "question": item.question,
        "retrieved_ids": [c.id for c in retrieved],
        "first_hit_rank": rank,
        "answer": None,
        "raw_answer": None,
        "second_look": None,
        "abstained": None,
        "correct": None,
        "f1": None,
        "citations": [],
        "citation_hit": None,
        "citation_valid": None,
        "language_ok": None,
        "total_ms": None,
        "ttft_ms": None,
    }
    if answer is None:
        return record
    by_id = {c.id: c for c in retrieved}
    given = answer.withheld or answer
    claim = claim_of(answer)
    record.update(
        {
            "answer": answer.answer,
            "raw_answer": answer.raw_answer,  # the model's own text ("" when it was not asked)
            "second_look": answer.second_look,
            "not_found_probability": answer.not_found_probability,
            "top_sentence_score": top_sentence(s.sentence_score for s in answer.sources) if answer.sources else None,
            "abstain_reason": answer.abstain_reason,
            # the verified answer before the abstention decision (the same as the answer when none withheld it)
            "outcome": answer.outcome or ("abstain" if answer.abstained else "answer"),
            "short_answer": answer.short_answer,
            "route": answer.route,
            "draft": claim_of(given) if given.outcome or not given.abstained else None,
            "draft_correct": answer_correct(item, claim_of(given), False)
            if given.outcome or not given.abstained
            else None,
            "draft_citations": [{"chunk_id": c.chunk_id, "sentence": c.sentence} for c in given.citations],
            "abstained": answer.abstained,
            "correct": answer_correct(item, claim, answer.abstained),
            "f1": answer_f1(item, claim, answer.abstained),
            "citations": [
                {"marker": c.marker, "chunk_id": c.chunk_id, "title": c.title, "sentence": c.sentence}
                for c in answer.citations
            ],
            "citation_hit": any(
                holds_evidence(evidence_text(by_id[c.chunk_id]), item.evidence)
                for c in answer.citations
                if c.chunk_id in by_id
            ),
            "citation_valid": markers_valid(answer.raw_answer, len(answer.context_ids)),
            # the extracting reader frames its answer in the question's language; only a short answer that
            # reads as the other language fails ("2028" reads as neither)
            # what is quoted («…», “…”: an article's words or title) is evidence, not the answer's own language
            "language_ok": detect_language(
                unquoted(claim if answer.outcome and not answer.abstained else answer.answer),
                default=item.lang if answer.outcome else "",
            )
            == item.lang,
            "evidence_ms": answer.timings.evidence_ms,
            "total_ms": answer.timings.total_ms,
            "ttft_ms": answer.timings.ttft_ms,
        }
    )
    return record


def _progress(items: list[EvalItem], desc: str) -> Iterable[EvalItem]:
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q", file=sys.stderr)


def run_eval(
    settings: Settings, options: EvalOptions, log: Callable[[str], None] = print, service: Service | None = None
) -> dict[str, Any]:
    """Score the pipelines on the question set and write report.json, report.md and report.png."""
    items = select_items(options)
    service = service or build_service(settings)
    report = ingest(settings, service.store)
    log(f"index: {report.articles} articles, {report.chunks} chunks ({service.store.location})")
    chunks_by_id = {c.id: c for c in service.store.all_chunks()}
    results: dict[str, Any] = {"pipelines": {}}

    for name in options.pipelines:
        records = []
        if name == "ours":
            for item in _progress(items, "ours"):
                if options.retrieval_only:
                    hits = service.retriever.search(item.question, k=max(RECALL_DEPTH, settings.k))
                    records.append(_record(item, [h.chunk for h in hits], None))
                else:
                    answer = service.pipeline.ask(item.question, k=max(RECALL_DEPTH, settings.k))
                    records.append(_record(item, [chunks_by_id[s.chunk_id] for s in answer.sources], answer))
        elif name == "baseline":
            from .baseline import BaselinePipeline

            chat = None if options.retrieval_only else service.pipeline.chat_model
            baseline = BaselinePipeline(settings, service.store.embeddings, chat)  # type: ignore[arg-type]
            baseline.index()
            for item in _progress(items, "baseline"):
                if options.retrieval_only:
                    retrieved = [c for c, _ in baseline.search(item.question, RECALL_DEPTH)]
                    records.append(_record(item, retrieved, None))
                else:
                    answer = baseline.ask(item.question, k=RECALL_DEPTH)
                    records.append(_record(item, [baseline.chunks[s.chunk_id] for s in answer.sources], answer))
        else:
            raise ValueError(f"unknown pipeline '{name}': use ours, baseline or both")
        block = report_block(records, options.retrieval_only)
        block["splits"] = {
            split: report_block([r for r in records if r["split"] == split], options.retrieval_only)["overall"]
            for split in ("dev", "test")
        }
        block["items"] = records
        results["pipelines"][name] = block

    results["config"] = {
        "questions": [str(p) for p in options.files],
        "split": options.split or "all",
        "limit": options.limit,
        "corpus": [str(p) for p in settings.corpus],
        "embedder": service.store.embedder,
        "llm": None if options.retrieval_only else settings.llm,
        "k": settings.k,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "retrieval_only": options.retrieval_only,
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(results, out / "report.md")
    write_png(results, out / "report.png")
    log(f"reports in {out}/ (report.json, report.md, report.png)")
    return results
