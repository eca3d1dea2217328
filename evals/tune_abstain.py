"""Choose the abstention policy (rag/abstain.py) on development splits; report it on held-out ones.

Reads eval reports (`rag eval ... --out DIR`, run with the policy off so every verified answer is
kept as the record's draft) and replays the decision over each record's signals, recomputed from
the record (question, the model's not-found probability, the best sentence score, the retrieved
passages and the cited sentences) with the pipeline's own functions. A policy is scored by balanced
accuracy: the mean of answer accuracy on answerable questions and abstention accuracy on
unanswerable ones. The choice is the best on the pooled development records among the policies that
withhold at most 0.05 of the answerable questions more than no policy (policies within 0.01 of the
best count as ties: fewer rules, looser thresholds); the best without that bound is reported beside
it. The held-out records then give their numbers and a coverage-accuracy curve over the not-found
threshold.

    python -m evals.tune_abstain --index INDEX_DIR REPORT_DIR [REPORT_DIR ...] [--out evals/results/abstain]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rag.abstain import ABSTAIN_RULES, Policy, Signals, signals_for, withhold
from rag.models.embeddings import make_embeddings
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Chunk

NOT_FOUND_GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
SENTENCE_GRID = (0.0, 0.3, 0.35, 0.4, 0.45)
# a policy may withhold at most this share of the answerable questions more than no policy does: the
# answers target is a false-abstention rate of 0.05, so a rule may not spend more than that on its own
MAX_ADDED_FALSE_ABSTENTION = 0.05
# policies this close to the best balanced accuracy count as equal (about one question of ~80 development
# records), and the one with the fewest, loosest rules is taken: a rule must earn its place by more than noise
TIE_MARGIN = 0.01


@dataclass(frozen=True)
class Case:
    """One eval record as the decision sees it."""

    id: str
    source: str  # the question set (the report's folder)
    split: str
    lang: str
    answerable: bool
    draft_correct: bool | None  # None: the pipeline abstained before the decision (no draft)
    signals: Signals | None


def load_cases(reports: Sequence[Path], chunks: dict[str, Chunk]) -> list[Case]:
    cases = []
    for folder in reports:
        data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        for r in data["pipelines"]["ours"]["items"]:
            # a record written before drafts were kept comes from a run with no policy: its answer is the draft
            draft = r.get("draft", None if r["abstained"] else r["answer"])
            cited = r.get("draft_citations", r["citations"])
            signals = None
            if draft is not None:
                passages = [chunks[cid] for cid in r["retrieved_ids"] if cid in chunks]
                pairs = [(chunks[c["chunk_id"]], c.get("sentence") or "") for c in cited if c["chunk_id"] in chunks]
                top = r.get("top_sentence_score") or 0.0
                signals = signals_for(r["question"], r.get("not_found_probability"), top, passages, pairs)
            correct = r.get("draft_correct", r["correct"] if draft is not None else None)
            source = folder.parent.name if folder.name in ("dev", "test") else folder.name
            cases.append(Case(r["id"], source, r["split"], r["lang"], r["answerable"], correct, signals))
    return cases


def score(cases: Sequence[Case], policy: Policy) -> dict[str, Any]:
    """Answer accuracy, false abstention, abstention accuracy and their balanced mean under `policy`."""
    answerable = [c for c in cases if c.answerable]
    unanswerable = [c for c in cases if not c.answerable]

    def gives(c: Case) -> bool:
        return c.signals is not None and not withhold(c.signals, policy)

    right = sum(bool(c.draft_correct) and gives(c) for c in answerable)
    abstained_wrongly = sum(not gives(c) for c in answerable)
    abstained_rightly = sum(not gives(c) for c in unanswerable)
    accuracy = right / len(answerable) if answerable else None
    abstention = abstained_rightly / len(unanswerable) if unanswerable else None
    parts = [x for x in (accuracy, abstention) if x is not None]
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "accuracy": accuracy,
        "false_abstention": abstained_wrongly / len(answerable) if answerable else None,
        "abstention_accuracy": abstention,
        "coverage": sum(gives(c) for c in cases) / len(cases) if cases else None,
        "balanced": sum(parts) / len(parts) if parts else None,
    }


def policies() -> list[Policy]:
    grid = []
    for not_found, sentence in itertools.product(NOT_FOUND_GRID, SENTENCE_GRID):
        for n in range(len(ABSTAIN_RULES) + 1):
            for rules in itertools.combinations(ABSTAIN_RULES, n):
                grid.append(Policy(not_found, sentence, **dict.fromkeys(rules, True)))
    return grid


def _strictness(policy: Policy) -> tuple[int, float, float]:
    rules = sum(getattr(policy, r) for r in ABSTAIN_RULES)
    return (rules, -policy.max_not_found, policy.min_top_sentence)


def choose(cases: Sequence[Case], max_added_false_abstention: float | None = MAX_ADDED_FALSE_ABSTENTION) -> Policy:
    """The best balanced accuracy on `cases` among the policies that withhold at most this share of
    answerable questions more than no policy does (None: any); among those within TIE_MARGIN of it, the
    fewest, loosest rules."""
    base = score(cases, Policy())["false_abstention"] or 0.0
    scored = []
    for policy in policies():
        metrics = score(cases, policy)
        added = (metrics["false_abstention"] or 0.0) - base
        if max_added_false_abstention is None or added <= max_added_false_abstention + 1e-9:
            scored.append((metrics["balanced"] or 0.0, policy))
    best = max(s for s, _ in scored)
    return min((p for s, p in scored if s >= best - TIE_MARGIN), key=_strictness)


def _groups(cases: Sequence[Case]) -> dict[str, list[Case]]:
    """All cases, then each question set's answerable questions by language and its unanswerable ones."""
    groups: dict[str, list[Case]] = {"all": list(cases)}
    for source in dict.fromkeys(c.source for c in cases):
        mine = [c for c in cases if c.source == source]
        for lang in ("it", "en"):
            if subset := [c for c in mine if c.answerable and c.lang == lang]:
                groups[f"{source}: answerable {lang}"] = subset
        if subset := [c for c in mine if not c.answerable]:
            groups[f"{source}: unanswerable"] = subset
    return groups


def _row(name: str, m: dict[str, Any]) -> str:
    def f(x: Any) -> str:
        return "–" if x is None else f"{x:.3f}"

    cells = [m["answerable"], m["unanswerable"], f(m["accuracy"]), f(m["false_abstention"])]
    cells += [f(m["abstention_accuracy"]), f(m["coverage"]), f(m["balanced"])]
    return f"| {name} | " + " | ".join(str(c) for c in cells) + " |"


HEADER = "| | answerable | unanswerable | accuracy | false abstention | abstention acc. | coverage | balanced |\n"
HEADER += "|---|---|---|---|---|---|---|---|"


def _rules(policy: Policy) -> str:
    rules = [r for r in ABSTAIN_RULES if getattr(policy, r)]
    return (
        f"not-found probability above {policy.max_not_found}, best sentence below {policy.min_top_sentence}, "
        f"rules: {', '.join(rules) or 'none'}"
    )


def report(
    cases: Sequence[Case], chosen: Policy, unbounded: Policy, reports: Sequence[Path]
) -> tuple[dict[str, Any], str]:
    dev = [c for c in cases if c.split == "dev"]
    test = [c for c in cases if c.split == "test"]
    off = Policy()
    result: dict[str, Any] = {
        "reports": [str(p) for p in reports],
        "chosen": asdict(chosen),
        "unbounded": asdict(unbounded),
        "splits": {},
    }
    lines = ["# Abstention policy", "", f"Reports: {', '.join(str(p) for p in reports)}", ""]
    lines += [f"**Chosen** on the development records (withholding at most {MAX_ADDED_FALSE_ABSTENTION} of the "]
    lines += [f"answerable questions more than no policy): {_rules(chosen)}.", ""]
    lines += [f"**Unbounded**, the best balanced accuracy without that bound: {_rules(unbounded)}.", ""]
    for split, group in (("dev", dev), ("test", test)):
        result["splits"][split] = {}
        lines += [f"## {split}", "", HEADER]
        for name, subset in _groups(group).items():
            for label, policy in (("off", off), ("chosen", chosen), ("unbounded", unbounded)):
                metrics = score(subset, policy)
                result["splits"][split][f"{name} ({label})"] = metrics
                lines.append(_row(f"{name} ({label})", metrics))
        lines.append("")
    curve = []
    lines += ["## Held-out coverage and accuracy as the not-found threshold moves (other rules as chosen)", ""]
    lines += [
        "| max not-found probability | coverage | accuracy of given answers | abstention acc. |",
        "|---|---|---|---|",
    ]
    for threshold in NOT_FOUND_GRID:
        policy = replace(chosen, max_not_found=threshold)
        given = [c for c in test if c.signals is not None and not withhold(c.signals, policy)]
        right = sum(bool(c.draft_correct) for c in given if c.answerable)
        point = {
            "max_not_found": threshold,
            "coverage": len(given) / len(test) if test else None,
            "accuracy_of_given": right / len(given) if given else None,
            "abstention_accuracy": score(test, policy)["abstention_accuracy"],
        }
        curve.append(point)
        cells = [point["coverage"], point["accuracy_of_given"], point["abstention_accuracy"]]
        lines.append(f"| {threshold} | " + " | ".join("–" if x is None else f"{x:.3f}" for x in cells) + " |")
    result["curve"] = curve
    return result, "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="eval output folders holding report.json")
    parser.add_argument("--index", type=Path, action="append", required=True, help="the index the runs used")
    parser.add_argument("--out", type=Path, default=Path("evals/results/abstain"))
    args = parser.parse_args(argv)
    chunks = _chunks(args.index)
    cases = load_cases(args.reports, chunks)
    dev = [c for c in cases if c.split == "dev"]
    chosen, unbounded = choose(dev), choose(dev, None)
    result, markdown = report(cases, chosen, unbounded, args.reports)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tuning.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "tuning.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return 0


def _chunks(indexes: Sequence[Path]) -> dict[str, Chunk]:
    """Every chunk of the given indexes, by id (the store's own paged read; the embedder is never loaded)."""
    settings = Settings()
    embeddings = make_embeddings(settings)
    found: dict[str, Chunk] = {}
    for index in indexes:
        store = ChunkStore(settings.model_copy(update={"index": index}), embeddings)
        found.update((chunk.id, chunk) for chunk in store.all_chunks())
    return found


if __name__ == "__main__":
    raise SystemExit(main())
