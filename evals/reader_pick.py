"""A design measured and not adopted: the model chooses the sentence that answers by its labels' probabilities.

    python -m evals.reader_pick --split dev      # -> evals/results/reader/runs/pick-dev.json, and a summary

On the cached retrieval of `make tune-reader` (the same four closest sentences the extracting reader is
shown), the model is asked for the number of the sentence that answers, and the probability of each label
is read at the reply's first position (one forward pass, no decoding). Compared with the sentence the
retrieval ranks first and the one the extracting reader cites, and whether the best label's probability
separates false premises from answerable questions. The prompts live here, not in rag/prompts/: they are
part of this measurement, not of the product.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from rag.answer.evidence import gather
from rag.settings import Settings

from .scoring import EvalItem, holds_evidence
from .tune_reader import OUT, SETS, hit_from_dict

SYSTEM = {
    "en": "You are shown numbered sentences and a question. Reply with only the number of the sentence that "
    "answers the question.",
    "it": "Ti vengono mostrate frasi numerate e una domanda. Rispondi solo con il numero della frase che risponde "
    "alla domanda.",
}
USER = {
    "en": "Sentences:\n{sentences}\n\nQuestion: {question}\nThe sentence that answers is number:",
    "it": "Frasi:\n{sentences}\n\nDomanda: {question}\nLa frase che risponde è la numero:",
}
SENTENCES = 4  # as the extracting reader is shown


def run(split: str, out: Path) -> list[dict[str, Any]]:
    from rag.models.llm import make_chat_model, make_reader

    reader = make_reader(make_chat_model(Settings()))
    extracted = out / "runs" / f"whole-4-{split}.json"
    cited = {r["id"]: r.get("citation_hit") for r in json.loads(extracted.read_text())} if extracted.exists() else {}
    records = []
    for qs in SETS:
        for row in (r for r in json.loads((out / "cache" / f"{qs.name}.json").read_text()) if r["split"] == split):
            item = EvalItem(**row["item"])
            evidence = gather([hit_from_dict(h) for h in row["hits"]], SENTENCES)
            lang = "it" if item.lang == "it" else "en"
            numbered = "\n".join(f"[{e.number}] {e.sentence}" for e in evidence)
            messages = [
                SystemMessage(content=SYSTEM[lang]),
                HumanMessage(content=USER[lang].format(sentences=numbered, question=item.question)),
            ]
            probs = reader.opening(messages, [str(e.number) for e in evidence]) or {}
            gold = [holds_evidence(e.sentence, item.evidence) for e in evidence] if item.answerable else []
            pick = int(max(probs, key=lambda k: probs[k])) if probs else 0
            records.append(
                {
                    "id": item.id,
                    "set": qs.name,
                    "answerable": item.answerable,
                    "probs": probs,
                    "holds": gold,
                    "picked_holds": bool(gold and pick and gold[pick - 1]),
                    "first_holds": bool(gold and gold[0]),
                    "extractor_cited_holds": cited.get(item.id),
                    "prompt_tokens": reader.last_stats.get("prompt_tokens"),
                }
            )
    path = out / "runs" / f"pick-{split}.json"
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return records


def summary(records: Sequence[dict[str, Any]]) -> list[str]:
    head = "| questions | answerable | gold among the 4 | chosen holds it | first holds it | extractor cites it |"
    lines = [head, "|---|---|---|---|---|---|"]
    for name in ("all", *sorted({r["set"] for r in records})):
        rs = [r for r in records if r["answerable"] and name in ("all", r["set"])]
        if not rs:
            continue
        count = [sum(1 for r in rs if any(r["holds"])), sum(1 for r in rs if r["picked_holds"])]
        count += [sum(1 for r in rs if r["first_holds"]), sum(1 for r in rs if r["extractor_cited_holds"])]
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(map(str, count)) + " |")

    def best(answerable: bool) -> float:
        values = [max(r["probs"].values()) for r in records if r["answerable"] is answerable and r["probs"]]
        return round(statistics.median(values), 3) if values else float("nan")

    lines += ["", f"Best label's probability, median: answerable {best(True)}, false premises {best(False)}"]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.reader_pick", description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--summary-only", action="store_true", help="summarize an earlier run")
    args = parser.parse_args(argv)
    path = args.out / "runs" / f"pick-{args.split}.json"
    records = json.loads(path.read_text()) if args.summary_only else run(args.split, args.out)
    print("\n".join(summary(records)), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
