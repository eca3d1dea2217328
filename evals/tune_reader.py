"""Readers side by side on the same cached retrieval, and the extracting reader's decision chosen on dev.

    python -m evals.tune_reader cache                 # retrieve once per question set -> <out>/cache/*.json
    python -m evals.tune_reader run extract --split dev
    python -m evals.tune_reader run compose --split dev
    python -m evals.tune_reader table                 # every run in one table; the decision tuned on dev

Every variant reads the same hits (`ReplayRetriever`), so a variant on the dev split costs minutes: only
the model's reading differs. Records keep the decision's signals, so `table` replays the decision
(rag/answer/decision.py) over them for each candidate policy instead of asking the model again.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rag.abstain import Policy, ReaderPolicy, Signals
from rag.answer import ComposingPipeline, ExtractingPipeline
from rag.answer.decision import ANSWER, EVIDENCE, ReadSignals, decide
from rag.premise import Check
from rag.settings import Settings
from rag.types import Answer, Chunk, Hit

from .runner import EvalOptions, select_items
from .scoring import EvalItem, answer_correct, answer_f1, holds_evidence

OUT = Path("evals/results/reader")
SQUAD = Path("evals/data/squad-it")


@dataclass(frozen=True)
class QuestionSet:
    name: str
    corpus: Path
    index: Path
    questions: tuple[Path, ...]
    limits: dict[str, int]  # split -> questions taken (0: all), as `make eval-answers` takes them


SETS = (
    QuestionSet(
        "squad-it",
        SQUAD / "articles",
        Path("index/squad-it"),
        (SQUAD / "questions.jsonl", SQUAD / "questions_en.jsonl"),
        {"dev": 30, "test": 40},
    ),
    QuestionSet(
        "squad-it-unanswerable",
        SQUAD / "articles",
        Path("index/squad-it"),
        (SQUAD / "questions_unanswerable.jsonl",),
        {"dev": 0, "test": 0},
    ),
    QuestionSet("project", Path("corpus"), Path("index"), (Path("evals/questions.jsonl"),), {"dev": 0, "test": 30}),
)


def _settings(qs: QuestionSet, **overrides: Any) -> Settings:
    return Settings(corpus=(qs.corpus,), index=qs.index, **overrides)


# -- the cache ------------------------------------------------------------------------------------
def hit_to_dict(hit: Hit) -> dict[str, Any]:
    data = asdict(hit)
    data["chunk"] = {"text": hit.chunk.text, "meta": hit.chunk.metadata()}
    return data


def hit_from_dict(data: dict[str, Any]) -> Hit:
    chunk = Chunk.from_stored(data["chunk"]["text"], data["chunk"]["meta"])
    values = {f.name: data[f.name] for f in fields(Hit) if f.name != "chunk"}
    values["sentence_scores"] = tuple(values["sentence_scores"])
    values["spans"] = tuple(tuple(s) for s in values["spans"])
    return Hit(chunk=chunk, **values)


class ReplayRetriever:
    """The retriever's interface over cached hits: the same passages for every reader."""

    def __init__(self, hits: dict[str, list[Hit]]) -> None:
        self.hits = hits

    def search(self, question: str, k: int | None = None, scope: Any = None) -> list[Hit]:
        return self.hits[question][: k or 5]


def cache(out: Path) -> None:
    from rag.ingest import ingest
    from rag.service import build_service

    for qs in SETS:
        settings = _settings(qs)
        service = build_service(settings)
        ingest(settings, service.store)
        rows = []
        for split, limit in qs.limits.items():
            for item in select_items(EvalOptions(questions=qs.questions, split=split, limit=limit)):
                hits = service.retriever.search(item.question, k=5)
                rows.append({"item": asdict(item), "split": split, "hits": [hit_to_dict(h) for h in hits]})
        path = out / "cache" / f"{qs.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{qs.name}: {len(rows)} questions cached in {path}", file=sys.stderr)


# -- the variants -----------------------------------------------------------------------------------
class _FreeReader:
    """The local reader without the copy constraint: the model replies freely (the short-answer design)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def read(
        self, messages: Any, words: list[str], source: str | None, max_tokens: int, starts: int = 1, choices: Any = ()
    ) -> Any:
        return self.inner.read(messages, words, None, max_tokens)

    def limit(self, max_tokens: int) -> dict[str, Any]:
        return dict(self.inner.limit(max_tokens))

    @property
    def last_stats(self) -> dict[str, float]:
        return dict(self.inner.last_stats)

    def opening(self, messages: Any, words: list[str]) -> Any:
        return self.inner.opening(messages, words)


def _pipeline(variant: str, qs: QuestionSet, retriever: ReplayRetriever, chat: Any, embeddings: Any) -> Any:
    from rag.models.llm import make_reader
    from rag.store import ChunkStore
    from rag.verify import Verifier

    off = {"reader_not_found": 1.0, "reader_min_span_logprob": -100.0, "reader_min_supported": 0.0, "abstain_rules": ""}
    if variant == "compose":
        settings = _settings(qs, reader="compose")
        store = ChunkStore(settings, embeddings)
        profile = settings.profile
        verifier = Verifier(
            embeddings, profile.min_support, profile.citation_lexical_weight, stored=store.sentence_vectors
        )
        return ComposingPipeline(settings, retriever, chat, verifier)  # type: ignore[arg-type]
    name, _, count = variant.partition("-")
    starts = 3 if name == "beam" else 1  # "beam": three first tokens, the likeliest whole span
    whole = name != "extract"  # "extract": the span as copied; "whole": widened to a whole date or number
    kinds = name == "kinds"  # "kinds": a date, amount or person chosen among the evidence's spans of that kind
    each = name == "each"  # "each": every sentence read alone, the span from the one least likely not found
    check = name == "checked"  # "checked": as "whole", then the model asked yes/no whether the cited sentence
    # gives the span as the answer (its P(yes) a signal of the decision)
    settings = _settings(
        qs,
        reader_sentences=int(count or 4),
        reader_starts=starts,
        reader_whole=whole,
        reader_kinds=kinds,
        reader_each=each,
        reader_check=check,
        **off,
    )
    reader = make_reader(chat)
    if name == "free":
        reader = _FreeReader(reader)  # type: ignore[assignment]
    elif name not in ("extract", "whole", "beam", "kinds", "each", "checked"):
        raise SystemExit(
            f"unknown variant {variant!r}: compose, extract[-N], whole[-N], beam[-N], kinds[-N], each[-N], "
            "checked[-N], free[-N]"
        )
    return ExtractingPipeline(settings, retriever, chat, reader=reader)  # type: ignore[arg-type]


def _record(item: EvalItem, qs: str, split: str, answer: Answer) -> dict[str, Any]:
    short = answer.short_answer if answer.outcome else answer.answer
    given = answer.withheld or answer
    draft = given.short_answer if given.outcome else (None if given.abstained else given.answer)
    cited = [c.text for c in answer.citations]
    return {
        "id": item.id,
        "set": qs,
        "split": split,
        "lang": item.lang,
        "answerable": item.answerable,
        "question": item.question,
        "outcome": answer.outcome or ("abstain" if answer.abstained else "answer"),
        "short": short,
        "draft": draft,
        "draft_correct": bool(draft) and answer_correct(item, draft or "", False) if item.answerable else None,
        "correct": answer_correct(item, short, answer.abstained),
        "f1": answer_f1(item, short, answer.abstained),
        "evidence_holds": any(holds_evidence(t, item.evidence) for t in cited) if item.answerable else None,
        "citation_hit": (any(holds_evidence(t, item.evidence) for t in cited) if cited else None),
        "cited_sentences": [c.sentence for c in (given.citations or answer.citations) if c.sentence],
        "signals": answer.signals,
        "reason": answer.abstain_reason,
        "prompt_tokens": answer.timings.prompt_tokens,
        "prefill_tokens": answer.timings.prefill_tokens,
        "total_ms": answer.timings.total_ms,
        "evidence_ms": answer.timings.evidence_ms,
        "ttft_ms": answer.timings.ttft_ms,
    }


def run(variant: str, split: str, out: Path, limit: int = 0) -> Path:
    from tqdm import tqdm

    from rag.models.embeddings import make_embeddings
    from rag.models.llm import make_chat_model

    chat = make_chat_model(Settings())
    records = []
    embeddings = None
    for qs in SETS:
        rows = [r for r in json.loads((out / "cache" / f"{qs.name}.json").read_text()) if r["split"] == split]
        if limit:
            rows = rows[:limit]
        hits = {r["item"]["question"]: [hit_from_dict(h) for h in r["hits"]] for r in rows}
        if variant == "compose" and embeddings is None:
            embeddings = make_embeddings(_settings(qs))
        pipeline = _pipeline(variant, qs, ReplayRetriever(hits), chat, embeddings)
        for row in tqdm(rows, desc=f"{variant} {qs.name}", file=sys.stderr):
            item = EvalItem(**row["item"])
            records.append(_record(item, qs.name, split, pipeline.ask(item.question, k=5)))
    path = out / "runs" / f"{variant}-{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# -- the decision, replayed ----------------------------------------------------------------------------
def signals_from(data: dict[str, Any]) -> ReadSignals:
    premise = data.get("premise")
    return ReadSignals(
        not_found=data.get("not_found"),
        span_logprob=data.get("span_logprob"),
        top_sentence=data.get("top_sentence", 0.0),
        located=data.get("located", False),
        adds=data.get("adds", False),
        kind=data.get("kind", "any"),
        choices=data.get("choices", 0),
        not_found_each=tuple(data.get("not_found_each", ())),
        supported=data.get("supported"),
        premise=None
        if premise is None
        else Signals(
            premise["not_found"],
            premise["top_sentence"],
            Check(**{k: tuple(v) for k, v in premise["cited"].items()}),
            Check(**{k: tuple(v) for k, v in premise["passages"].items()}),
        ),
    )


def replay(records: Sequence[dict[str, Any]], policy: ReaderPolicy) -> list[dict[str, Any]]:
    """Each record as the decision under `policy` would have ended it (extracting records only)."""
    out = []
    for r in records:
        outcome = decide(signals_from(r["signals"]), policy).outcome if r["signals"] else r["outcome"]
        answered = outcome == ANSWER
        correct = (r["draft_correct"] and answered) if r["answerable"] else not answered
        out.append({**r, "outcome": outcome, "correct": bool(correct)})
    return out


def metrics(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in records if r["answerable"]]
    false_premise = [r for r in records if not r["answerable"]]
    answered = [r for r in answerable if r["outcome"] == ANSWER]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None

    def p50(values: list[float]) -> float | None:
        return sorted(values)[len(values) // 2] if values else None

    return {
        "accuracy": mean([1.0 if r["correct"] else 0.0 for r in answerable]),
        "f1": mean([float(r["f1"] or 0.0) if r["outcome"] == ANSWER else 0.0 for r in answerable]),
        "false_abstention": mean([0.0 if r["outcome"] == ANSWER else 1.0 for r in answerable]),
        "evidence_holds": mean(
            [1.0 if r["outcome"] == EVIDENCE and r["evidence_holds"] else 0.0 for r in answerable if not r["correct"]]
        ),
        "premise_abstention": mean([1.0 if r["correct"] else 0.0 for r in false_premise]),
        "citation_hit": mean([1.0 if r["citation_hit"] else 0.0 for r in answered]),
        "prompt_tokens_p50": p50([r["prompt_tokens"] for r in records]),
        "evaluated_tokens_p50": p50([r.get("prefill_tokens", r["prompt_tokens"]) for r in records]),
        "p50_s": (lambda v: round(v / 1000, 1) if v is not None else None)(p50([r["total_ms"] for r in records])),
        "n": len(records),
    }


def candidate_policies(checked: bool = False) -> list[ReaderPolicy]:
    """The policies tried; with `checked` (records holding the check's P(yes)), its threshold too."""
    rules = [
        Policy(),
        Policy(names_in_passages=True, qualifiers=True),
        Policy(names_in_passages=True, near_names=True, qualifiers=True),
    ]
    return [
        ReaderPolicy(max_not_found=nf, min_span_logprob=lp, min_supported=sup, premise=premise)
        for nf in (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4)
        for lp in (-math.inf, -3.0, -2.0, -1.5, -1.0, -0.75, -0.5)
        for sup in ((0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7) if checked else (0.0,))
        for premise in rules
    ]


def balanced(records: Sequence[dict[str, Any]]) -> float:
    m = metrics(records)
    return ((m["accuracy"] or 0.0) + (m["premise_abstention"] or 0.0)) / 2


def choose(records: Sequence[dict[str, Any]]) -> ReaderPolicy:
    """The policy with the best balanced accuracy on these records; ties (within 0.01) go to the loosest."""
    checked = any((r["signals"] or {}).get("supported") is not None for r in records)
    scored = [(balanced(replay(records, p)), p) for p in candidate_policies(checked)]
    best = max(s for s, _ in scored)
    ties = [p for s, p in scored if s >= best - 0.01]
    return max(ties, key=lambda p: (p.max_not_found, p.min_span_logprob, -p.min_supported))


def table(out: Path, print_: Callable[[str], None] = print) -> None:
    runs = sorted((out / "runs").glob("*.json"))
    columns = ["accuracy", "token F1", "false abstention", "evidence holds the answer (of the rest)",
               "false-premise abstention", "citation hit", "prompt tokens p50", "evaluated p50", "p50 s",
               "n"]  # fmt: skip
    print_("| variant | split | set | " + " | ".join(columns) + " |")
    print_("|" + "---|" * (len(columns) + 3))
    dev: dict[str, list[dict[str, Any]]] = {}
    for path in runs:
        variant, _, split = path.stem.rpartition("-")
        records = json.loads(path.read_text())
        if not records or "outcome" not in records[0] or path.name.startswith("check-"):
            continue  # not a reader's run (evals/reader_pick.py and evals/reader_check.py keep probes here too)
        if split == "dev":
            dev[variant] = records
        for name in ("all", *sorted({r["set"] for r in records})):
            chosen = [r for r in records if name in ("all", r["set"])]
            m = metrics(chosen)
            label = "policy off" if records[0]["signals"] else "as shipped"
            print_(f"| {variant} ({label}) | {split} | {name} | " + " | ".join(str(m[k]) for k in list(m)) + " |")
    for variant, records in dev.items():
        if not records[0]["signals"]:
            continue
        policy = choose(records)
        print_(f"\n{variant}: chosen on dev: {policy}")
        for split in ("dev", "test"):
            path = out / "runs" / f"{variant}-{split}.json"
            if not path.exists():
                continue
            replayed = replay(json.loads(path.read_text()), policy)
            for name in ("all", *sorted({r["set"] for r in replayed})):
                m = metrics([r for r in replayed if name in ("all", r["set"])])
                print_(f"| {variant} (chosen) | {split} | {name} | " + " | ".join(str(m[k]) for k in list(m)) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.tune_reader", description=__doc__)
    parser.add_argument("command", choices=["cache", "run", "table"])
    parser.add_argument("variant", nargs="?", default="extract")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.command == "cache":
        cache(args.out)
    elif args.command == "run":
        print(run(args.variant, args.split, args.out, args.limit))
    else:
        table(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
