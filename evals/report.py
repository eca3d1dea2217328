"""report.md (metrics table, failed items) and report.png (metrics per language and pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .scoring import METRIC_KEYS

QUALITY = ["answer_accuracy", "abstention_accuracy", "recall@1", "recall@5", "mrr", "citation_hit_rate",
           "citation_validity", "language_match"]  # fmt: skip


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _failure(record: dict[str, Any]) -> str | None:
    """What went wrong with one item, or None when it passed."""
    problems = []
    if record["answerable"] and (record["first_hit_rank"] is None or record["first_hit_rank"] > 5):
        problems.append("evidence not in the top 5")
    if record["correct"] is False:
        if not record["answerable"]:
            problems.append("answered instead of abstaining")
        elif record["abstained"]:
            problems.append("abstained on an answerable question")
        else:
            problems.append("wrong or incomplete answer")
    if record["answerable"] and record["abstained"] is False and record["citation_hit"] is False:
        problems.append("no cited passage holds the evidence")
    if record["citation_valid"] is False:
        problems.append("a marker points at no prompt passage")
    if record["language_ok"] is False:
        problems.append("answer not in the question's language")
    return "; ".join(problems) or None


def _files(questions: Any) -> str:
    paths = questions if isinstance(questions, list) else [questions]
    return ", ".join(f"`{p}`" for p in paths)


def write_markdown(results: dict[str, Any], path: Path) -> None:
    pipelines = results["pipelines"]
    names = list(pipelines)
    config = results.get("config", {})
    lines = ["# Evaluation report", ""]
    corpus = ", ".join(f"`{c}`" for c in config.get("corpus", []))
    lines.append(
        f"Questions: {_files(config.get('questions'))} (split {config.get('split', 'all')}) · corpus: {corpus} · "
        f"embedder: `{config.get('embedder')}` · LLM: `{config.get('llm') or 'none (retrieval only)'}`"
    )
    lines.append("")
    header = ["metric"] + [f"{name} {scope}" for scope in ("all", "it", "en") for name in names]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for key in METRIC_KEYS:
        row = [key]
        for scope in ("all", "it", "en"):
            for name in names:
                block = pipelines[name]["overall"] if scope == "all" else pipelines[name]["by_lang"][scope]
                row.append(_fmt(block.get(key)))
        lines.append("| " + " | ".join(row) + " |")
    for name in names:
        splits = pipelines[name].get("splits", {})
        if splits:
            lines += ["", f"**{name}**, development split vs held-out rest:", ""]
            lines.append("| split | " + " | ".join(k for k in QUALITY) + " | n |")
            lines.append("|---|" + "---|" * (len(QUALITY) + 1))
            for split, block in splits.items():
                lines.append(
                    f"| {split} | " + " | ".join(_fmt(block.get(k)) for k in QUALITY) + f" | {block.get('n')} |"
                )
    for name in names:
        kinds = pipelines[name].get("by_kind", {})
        if kinds:
            lines += ["", f"**{name}**, by kind of question:", ""]
            lines.append("| kind | " + " | ".join(k for k in QUALITY) + " | n |")
            lines.append("|---|" + "---|" * (len(QUALITY) + 1))
            for kind, block in kinds.items():
                cells = " | ".join(_fmt(block.get(k)) for k in QUALITY)
                lines.append(f"| {kind} | {cells} | {block.get('n')} |")
    for name in names:
        failed = [(r, _failure(r)) for r in pipelines[name]["items"]]
        failed = [(r, why) for r, why in failed if why]
        lines += ["", f"## Failed items: {name} ({len(failed)})", ""]
        for record, why in failed:
            answer = (record["answer"] or "").replace("\n", " ")
            lines.append(f"- **{record['id']}** ({record['lang']}) {record['question']} — {why}")
            if record["answer"] is not None:
                lines.append(f"  - answer: {answer[:300]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_png(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipelines = results["pipelines"]
    metrics = [k for k in QUALITY if any(p["overall"].get(k) is not None for p in pipelines.values())]
    series = [(name, lang) for name in pipelines for lang in ("it", "en")]
    fig, ax = plt.subplots(figsize=(max(8, len(metrics) * 1.4), 4.5))
    width = 0.8 / max(1, len(series))
    for i, (name, lang) in enumerate(series):
        values = [pipelines[name]["by_lang"][lang].get(k) or 0.0 for k in metrics]
        positions = [m + i * width for m in range(len(metrics))]
        ax.bar(positions, values, width, label=f"{name} · {lang}")
    ax.set_xticks([m + width * (len(series) - 1) / 2 for m in range(len(metrics))])
    ax.set_xticklabels(metrics, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("Evaluation by question language" + (" and pipeline" if len(pipelines) > 1 else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
