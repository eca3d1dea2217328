"""A design measured for the decision: the model asked yes or no whether the cited sentence gives the answer.

    python -m evals.reader_check --run compose --split dev    # -> evals/results/reader/runs/check-compose-dev.json
    python -m evals.reader_check --run compose --summary-only # the table from the dev and test probes
    python -m evals.reader_check --run checked-4 --veto compose     # compose, vetoed by the span's check
    python -m evals.reader_check --run checked-4 --cascade compose  # the checked span, else compose

The extracting reader checks its own span (`RAG_READER_CHECK`, rag/answer/chain.py): a second, short
forward pass shows the model only the question, the cited sentence and the span, and reads the probability
of "yes" against "no" at the reply's first position (no decoding, ~160 prompt tokens). This module asks
the same of any reader's recorded run (`python -m evals.tune_reader run`, so the answer and its sentence
are the ones that reader gave), and replays two ways of combining readers with it: the composing reader's
answers withheld when the extracting reader's check doubts its own span (a veto), and the checked span
when the check is sure, else the composing reader (a cascade). Thresholds are chosen on dev (best mean of
answer accuracy and false-premise abstention) and the held-out split is reported under them. The prompt is
the product's (rag/prompts/check_*.txt).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.answer.evidence import gather, locate
from rag.answer.formats import CHECK_NO, CHECK_YES, check_prompt, read_check
from rag.settings import Settings

from .tune_reader import OUT, SETS, hit_from_dict

SENTENCES = 4  # as the extracting reader is shown


def _cited(row: dict[str, Any], draft: str) -> str | None:
    evidence = gather([hit_from_dict(h) for h in row["hits"]], SENTENCES)
    found = locate(draft, evidence)
    return found.sentence if found else None


def run(variant: str, split: str, out: Path) -> list[dict[str, Any]]:
    from rag.models.llm import make_chat_model, make_reader

    reader = make_reader(make_chat_model(Settings()))
    recorded = {r["id"]: r for r in json.loads((out / "runs" / f"{variant}-{split}.json").read_text())}
    records = []
    for qs in SETS:
        for row in (r for r in json.loads((out / "cache" / f"{qs.name}.json").read_text()) if r["split"] == split):
            rec = recorded.get(row["item"]["id"])
            if rec is None:
                continue
            draft = rec.get("draft") or ""
            recorded_sentences = rec.get("cited_sentences") or []
            sentence = (recorded_sentences[0] if recorded_sentences else _cited(row, draft)) if draft else None
            p_yes, tokens = None, 0
            if sentence:
                messages = check_prompt(rec["question"], rec["lang"], sentence, draft)
                p_yes = read_check(reader.opening(messages, [*CHECK_YES, *CHECK_NO]))
                tokens = int(reader.last_stats.get("prompt_tokens", 0))
            records.append({**rec, "cited_sentence": sentence, "p_yes": p_yes, "check_tokens": tokens})
    path = out / "runs" / f"check-{variant}-{split}.json"
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return records


def _auc(pos: list[float], neg: list[float]) -> float | None:
    """The chance that a random positive scores above a random negative (ties count half)."""
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 3)


def given(r: dict[str, Any], threshold: float) -> bool:
    """Is the reader's proposal given under the check at `threshold`? An extracting run's records carry its
    signals (decision off: every located span); a composing run's carry none (its own decision as shipped)."""
    proposed = r["signals"].get("located", False) if r["signals"] else r["outcome"] == "answer"
    return bool(r["draft"]) and proposed and (_p_yes(r) or 0.0) >= threshold


def _p_yes(r: dict[str, Any]) -> float | None:
    """This probe's P(yes), or the one a `checked` reader run recorded among its signals."""
    return r["p_yes"] if "p_yes" in r else (r["signals"] or {}).get("supported")


def _rates(decided: Sequence[tuple[dict[str, Any], bool, bool]]) -> dict[str, float | None]:
    """Accuracy, false abstention and false-premise abstention of (record, answered, answered correctly)."""
    answerable = [(answered, right) for r, answered, right in decided if r["answerable"]]
    premises = [answered for r, answered, _ in decided if not r["answerable"]]

    def mean(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None

    return {
        "accuracy": mean([answered and right for answered, right in answerable]),
        "false_abstention": mean([not answered for answered, _ in answerable]),
        "premise_abstention": mean([not answered for answered in premises]),
    }


def _balanced(m: dict[str, Any]) -> float:
    return ((m["accuracy"] or 0.0) + (m["premise_abstention"] or 0.0)) / 2


def outcomes(records: Sequence[dict[str, Any]], threshold: float) -> dict[str, float | None]:
    """The rates when a proposal is given only with P(yes) >= threshold (on top of the reader's own
    located/adds checks, its decision otherwise off)."""
    return _rates([(r, given(r, threshold), bool(r["draft_correct"])) for r in records])


THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.7, 0.8, 0.9)


def choose(records: Sequence[dict[str, Any]]) -> float:
    """The threshold with the best mean of accuracy and false-premise abstention; ties to the lowest."""

    scores = {t: _balanced(outcomes(records, t)) for t in THRESHOLDS}
    best = max(scores.values())
    return min(t for t, score in scores.items() if score >= best - 0.01)


def summary(variant: str, out: Path) -> list[str]:
    lines = []
    runs = {s: out / "runs" / f"check-{variant}-{s}.json" for s in ("dev", "test")}
    loaded = {s: json.loads(p.read_text()) for s, p in runs.items() if p.exists()}
    lines.append(
        "| split | set | AUC right vs false premise | AUC right vs wrong | p_yes median: right / wrong / premise |"
    )
    lines.append("|---|---|---|---|---|")
    for split, records in loaded.items():
        for name in ("all", *sorted({r["set"] for r in records})):
            rs = [r for r in records if name in ("all", r["set"]) and r["p_yes"] is not None]
            right = [r["p_yes"] for r in rs if r["answerable"] and r["draft_correct"]]
            wrong = [r["p_yes"] for r in rs if r["answerable"] and not r["draft_correct"]]
            premise = [r["p_yes"] for r in rs if not r["answerable"]]

            def med(v: list[float]) -> str:
                return f"{sorted(v)[len(v) // 2]:.3f}" if v else "–"

            lines.append(
                f"| {split} | {name} | {_auc(right, premise)} | {_auc(right, wrong)} | "
                f"{med(right)} / {med(wrong)} / {med(premise)} |"
            )
    if "dev" in loaded:
        t = choose(loaded["dev"])
        lines += ["", f"threshold chosen on dev: {t}", "", "| split | set | threshold | accuracy | false abstention | "
                  "false-premise abstention | check tokens p50 |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for split, records in loaded.items():
            for name in ("all", *sorted({r["set"] for r in records})):
                rs = [r for r in records if name in ("all", r["set"])]
                tokens = sorted(r["check_tokens"] for r in rs)
                for threshold in (0.0, t):
                    m = outcomes(rs, threshold)
                    lines.append(
                        f"| {split} | {name} | {threshold} | {m['accuracy']} | {m['false_abstention']} | "
                        f"{m['premise_abstention']} | {tokens[len(tokens) // 2]} |"
                    )
    return lines


def cascade(
    fast: Sequence[dict[str, Any]], slow: Sequence[dict[str, Any]], t_fast: float, t_slow: float
) -> dict[str, Any]:
    """The fast reader's checked span when P(yes) >= t_fast, else the slow reader's answer when its own check
    gives P(yes) >= t_slow, else no answer: accuracy, false abstention, false-premise abstention, the share
    answered by the fast reader, and prompt tokens per question (p50) of every call made."""
    by_id = {r["id"]: r for r in slow}
    decided, tokens, fast_used = [], [], 0
    for r in fast:
        other = by_id.get(r["id"])
        if other is None:
            continue
        spent = r["prompt_tokens"] + r.get("check_tokens", 0)
        if given(r, t_fast):
            answered, correct = True, bool(r["draft_correct"])
            fast_used += 1
        else:
            spent += other["prompt_tokens"] + other.get("check_tokens", 0)
            answered = given(other, t_slow)
            correct = answered and bool(other["draft_correct"])
        decided.append((r, answered, correct))
        tokens.append(spent)
    return {
        **_rates(decided),
        "fast_share": round(fast_used / len(decided), 3) if decided else None,
        "tokens_p50": sorted(tokens)[len(tokens) // 2] if tokens else None,
    }


def _records(out: Path, variant: str, split: str) -> list[dict[str, Any]]:
    """A probe's records (check-<run>) when there is one, else the run's own (a `checked` run holds its P(yes));
    [] when neither was made."""
    for path in (out / "runs" / f"check-{variant}-{split}.json", out / "runs" / f"{variant}-{split}.json"):
        if path.exists():
            return list(json.loads(path.read_text()))
    return []


def cascade_summary(fast: str, slow: str, out: Path) -> list[str]:
    """The cascade's two thresholds chosen on dev (best mean of accuracy and false-premise abstention), and
    the held-out split under them."""
    load = {(v, s): _records(out, v, s) for v in (fast, slow) for s in ("dev", "test") if _records(out, v, s)}
    grid = [(a, b) for a in THRESHOLDS for b in THRESHOLDS]
    dev = {(a, b): cascade(load[fast, "dev"], load[slow, "dev"], a, b) for a, b in grid}
    best = max(_balanced(m) for m in dev.values())
    chosen = max((ab for ab, m in dev.items() if _balanced(m) >= best - 0.01), key=lambda ab: (-ab[1], -ab[0]))
    lines = [f"cascade {fast} -> {slow}, thresholds chosen on dev: {chosen}", "",
             "| split | set | thresholds | accuracy | false abstention | false-premise abstention | "
             "answered fast | prompt tokens p50 |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for split in ("dev", "test"):
        if (fast, split) not in load or (slow, split) not in load:
            continue
        sets = sorted({r["set"] for r in load[fast, split]})
        for name in ("all", *sets):
            rows = [r for r in load[fast, split] if name in ("all", r["set"])]
            for ab in ((1.01, 0.0), (0.0, 0.0), chosen):
                m = cascade(rows, load[slow, split], *ab)
                lines.append(f"| {split} | {name} | {ab} | " + " | ".join(str(v) for v in m.values()) + " |")
    return lines


def veto(slow: Sequence[dict[str, Any]], fast: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The slow reader's answers, withheld when the fast reader's check of its own span gives P(yes) below
    `threshold` (both readers run on every question): accuracy, false abstention, false-premise abstention."""
    by_id = {r["id"]: r for r in fast}
    decided = []
    for r in slow:
        p_yes = _p_yes(by_id[r["id"]]) if r["id"] in by_id else None
        answered = r["outcome"] == "answer" and not (p_yes is not None and p_yes < threshold)
        decided.append((r, answered, bool(r["draft_correct"])))
    return _rates(decided)


def veto_summary(fast: str, slow: str, out: Path) -> list[str]:
    """The veto's threshold chosen on dev (best mean of accuracy and false-premise abstention, ties to the
    lowest), and the held-out split under it."""
    load = {(v, s): _records(out, v, s) for v in (fast, slow) for s in ("dev", "test")}
    scores = {t: _balanced(veto(load[slow, "dev"], load[fast, "dev"], t)) for t in THRESHOLDS}
    best = max(scores.values())
    chosen = min(t for t, score in scores.items() if score >= best - 0.01)
    lines = [f"{slow}, withheld when {fast}'s check doubts its own span; threshold chosen on dev: {chosen}", ""]
    lines += ["| split | threshold | accuracy | false abstention | false-premise abstention |", "|---|---|---|---|---|"]
    for split in ("dev", "test"):
        for t in sorted({0.0, chosen, 0.45, 0.5}):
            m = veto(load[slow, split], load[fast, split], t)
            lines.append(f"| {split} | {t} | " + " | ".join(str(v) for v in m.values()) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.reader_check", description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="whole-4", help="the reader's recorded run (variant) to check")
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--summary-only", action="store_true", help="summarize earlier probes")
    parser.add_argument("--cascade", metavar="SLOW", help="replay `--run` checked, falling back to this checked run")
    parser.add_argument("--veto", metavar="SLOW", help="replay this run's answers, vetoed by `--run`'s check")
    args = parser.parse_args(argv)
    if args.veto:
        print("\n".join(veto_summary(args.run, args.veto, args.out)))
        return 0
    if args.cascade:
        print("\n".join(cascade_summary(args.run, args.cascade, args.out)))
        return 0
    if not args.summary_only:
        run(args.run, args.split, args.out)
    print("\n".join(summary(args.run, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
