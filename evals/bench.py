"""`rag bench`: where an answer's time goes, ours beside the tutorial baseline, and the floor of this CPU.

A fixed question file (evals/bench_questions.jsonl: project and SQuAD-it questions, both languages)
runs over a fixed corpus (the seed articles plus the SQuAD-it articles in evals/bench_corpus.txt).
For each answer: every named step of the pipeline, prompt and completion tokens, prefill and decode
time (llama.cpp's counters), time to first token and total. The floor is the same model and build
doing nothing but `eval` on the median prompt length and single-token decodes, in the same worker.
Figures, never asserts: the report says what this machine did.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.ingest import ingest
from rag.models.runtime import build_info, cpu_info
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer

from .scoring import EvalItem, answer_correct, claim_of, load_items

DEFAULT_QUESTIONS = Path("evals/bench_questions.jsonl")
DEFAULT_CORPUS_LIST = Path("evals/bench_corpus.txt")
WARM_UP = "Di che cosa parlano gli articoli?"  # asked once before timing; not one of the questions
FLOOR_PROMPT_TOKENS = 600  # the first floor measurement's length, before our prompts' median is known
FLOOR_DECODE_TOKENS = 32
SPEED_SETTINGS = ("threads", "threads_batch", "n_batch", "n_ubatch", "flash_attn", "prefix_cache", "lookup_tokens",
                  "llm_worker", "llm_extra_buffers", "max_tokens")  # fmt: skip


@dataclass(frozen=True)
class BenchOptions:
    questions: Path = DEFAULT_QUESTIONS
    corpus_list: Path = DEFAULT_CORPUS_LIST
    out: Path = Path("evals/results")
    pipelines: tuple[str, ...] = ("ours", "baseline")
    limit: int = 0  # 0: every question; else this many, spread evenly over the file


def bench_corpus(settings: Settings, corpus_list: Path, root: Path = Path(".")) -> Path:
    """One folder holding the seed articles and the listed ones (copied only when changed)."""
    folder = settings.index_dir / "bench-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = sorted(Path(root, "corpus").glob("*.md"))
    if corpus_list.is_file():
        wanted += [Path(root, line.strip()) for line in corpus_list.read_text().splitlines() if line.strip()]
    names = set()
    for path in wanted:
        target = folder / path.name
        names.add(path.name)
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
    for stale in folder.iterdir():
        if stale.name not in names:
            stale.unlink()
    return folder


def peak_rss_mb(pids: list[int | None]) -> float:
    """The highest resident memory this process and the given live processes reached (MB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for pid in pids:
        if pid is None:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak += int(line.split()[1]) / 1024
    return round(peak, 1)


def combine_floors(floors: list[dict[str, float]]) -> dict[str, Any] | None:
    """The median of the floor measurements, with their range (the host's drift during the run)."""
    if not floors:
        return None
    prefill = [f["prefill_tokens_per_s"] for f in floors]
    decode = [f["decode_tokens_per_s"] for f in floors]
    return {
        "prompt_tokens": floors[-1]["prompt_tokens"],
        "decode_tokens": floors[-1]["decode_tokens"],
        "prefill_tokens_per_s": round(statistics.median(prefill), 1),
        "decode_tokens_per_s": round(statistics.median(decode), 1),
        "prefill_range": [min(prefill), max(prefill)],
        "decode_range": [min(decode), max(decode)],
        "measurements": len(floors),
    }


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def ours_record(item: EvalItem, answer: Answer) -> dict[str, Any]:
    t = answer.timings
    other = t.total_ms - t.prefill_ms - t.decode_ms
    return {
        "id": item.id,
        "lang": item.lang,
        "correct": answer_correct(item, claim_of(answer), answer.abstained),
        "abstained": answer.abstained,
        "total_ms": t.total_ms,
        "evidence_ms": t.evidence_ms,
        "ttft_ms": t.ttft_ms,
        "llm_calls": t.llm_calls,
        "prompt_tokens": t.prompt_tokens,
        "prefill_tokens": t.prefill_tokens,
        "completion_tokens": t.completion_tokens,
        "prefill_ms": t.prefill_ms,
        "decode_ms": t.decode_ms,
        "other_ms": other,
        "stages": t.stages,
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and rates over one pipeline's answers."""
    totals = [r["total_ms"] for r in records]
    prefill_tokens = sum(r.get("prefill_tokens", 0) for r in records)
    prefill_ms = sum(r.get("prefill_ms", 0) for r in records)
    decode_tokens = sum(max(r.get("completion_tokens", 0) - r.get("llm_calls", 1), 0) for r in records)
    decode_ms = sum(r.get("decode_ms", 0) for r in records)
    stages: dict[str, list[float]] = {}
    for r in records:
        for name, ms in r.get("stages", {}).items():
            stages.setdefault(name, []).append(ms)
    median_total = _median(totals)
    paired = [r for r in records if r.get("floor_prefill_ms") and r.get("prefill_ms")]
    floor_rate = (
        1000 * sum(r["floor_prefill_tokens"] for r in paired) / sum(r["floor_prefill_ms"] for r in paired)
        if paired
        else None
    )
    paired_rate = (
        1000 * sum(r["prefill_tokens"] for r in paired) / sum(r["prefill_ms"] for r in paired) if paired else None
    )
    return {
        "answers": len(records),
        "correct": sum(bool(r.get("correct")) for r in records),
        "p50_total_ms": median_total,
        "p95_total_ms": _p(totals, 0.95),
        "p50_evidence_ms": _median([r["evidence_ms"] for r in records if r.get("evidence_ms")]),
        "p50_ttft_ms": _median([r["ttft_ms"] for r in records if r["ttft_ms"]]),
        "p50_prompt_tokens": _median([r.get("prompt_tokens", 0) for r in records]),
        "p50_prefill_tokens": _median([r.get("prefill_tokens", 0) for r in records]),
        "p50_completion_tokens": _median([r.get("completion_tokens", 0) for r in records]),
        "prefill_tokens_per_s": round(1000 * prefill_tokens / prefill_ms, 1) if prefill_ms else None,
        "decode_tokens_per_s": round(1000 * decode_tokens / decode_ms, 1) if decode_ms else None,
        "p50_other_ms": _median([r["other_ms"] for r in records if "other_ms" in r]),
        "other_share_of_p50": (
            round(_median([r["other_ms"] for r in records if "other_ms" in r]) / median_total, 3)
            if median_total and any("other_ms" in r for r in records)
            else None
        ),
        # the same answers' prefill against a bare eval of their token count right after each
        "paired_floor_prefill_tokens_per_s": round(floor_rate, 1) if floor_rate else None,
        "prefill_share_of_paired_floor": round(paired_rate / floor_rate, 3) if floor_rate and paired_rate else None,
        # each step's median over the answers that ran it, and how many did
        "stages_p50_ms": {name: _median(values) for name, values in stages.items()},
        "stages_runs": {name: len(values) for name, values in stages.items()},
    }


def run_bench(
    settings: Settings, options: BenchOptions, log: Callable[[str], None] = print, service: Service | None = None
) -> dict[str, Any]:
    items = load_items(options.questions)
    if options.limit and options.limit < len(items):  # spread over the file: both sets, both languages
        step = len(items) / options.limit
        items = [items[int(i * step)] for i in range(options.limit)]
    corpus = bench_corpus(settings, options.corpus_list)
    settings = settings.model_copy(update={"corpus": (corpus,), "index": settings.index_dir / "bench-index"})
    service = service or build_service(settings)
    started = time.perf_counter()
    report = ingest(settings, service.store)
    log(f"bench index: {report.articles} articles, {report.chunks} chunks ({time.perf_counter() - started:.0f} s)")
    chat = service.pipeline.chat_model
    engine = getattr(chat, "engine", None)
    started = time.perf_counter()
    service.warm_up()
    load_ms = int((time.perf_counter() - started) * 1000)
    service.pipeline.ask(WARM_UP)  # first-call costs (lazy imports, the verifier's caches) are not an answer's

    # the floor is measured between the pipelines' runs too: a shared host's speed drifts over minutes
    floors: list[dict[str, float]] = []
    floor_tokens = FLOOR_PROMPT_TOKENS

    def measure_floor() -> None:
        if engine is not None and hasattr(engine, "floor"):
            floors.append(engine.floor(floor_tokens, FLOOR_DECODE_TOKENS))
            log(f"floor: {floors[-1]}")

    measure_floor()
    results: dict[str, Any] = {"pipelines": {}}
    for name in options.pipelines:
        records: list[dict[str, Any]] = []
        if name == "ours":
            for item in items:
                answer = service.pipeline.ask(item.question)
                record = ours_record(item, answer)
                if engine is not None and hasattr(engine, "floor") and record["prefill_tokens"]:
                    # the floor at this answer's own token count, right after it: the host's drift over
                    # minutes cancels out of the comparison
                    paired = engine.floor(record["prefill_tokens"], 0)
                    record["floor_prefill_ms"] = round(
                        1000 * paired["prompt_tokens"] / paired["prefill_tokens_per_s"], 1
                    )
                    record["floor_prefill_tokens"] = paired["prompt_tokens"]
                records.append(record)
                log(f"ours {item.id}: {answer.timings.total_ms} ms, first token {answer.timings.ttft_ms} ms")
        elif name == "baseline":
            from .baseline import BaselinePipeline

            baseline = BaselinePipeline(settings, service.store.embeddings, chat)
            baseline.index()
            for item in items:
                answer = baseline.ask(item.question)
                stats = engine.last_stats.as_dict() if engine is not None else {}
                record = {
                    "id": item.id,
                    "lang": item.lang,
                    "correct": answer_correct(item, answer.answer, answer.abstained),
                    "total_ms": answer.timings.total_ms,
                    "ttft_ms": answer.timings.ttft_ms,
                    "llm_calls": 1,
                    **{k: int(v) for k, v in stats.items() if k != "total_ms"},
                }
                records.append(record)
                log(f"baseline {item.id}: {answer.timings.total_ms} ms")
        results["pipelines"][name] = {"summary": summarize(records), "items": records}
        if name == "ours":  # from now on, at the length our prompts were evaluated at
            floor_tokens = int(results["pipelines"]["ours"]["summary"]["p50_prefill_tokens"]) or floor_tokens
        measure_floor()

    floor = combine_floors(floors)
    cpu = cpu_info()
    try:
        build = build_info()
        build_line = f"llama-cpp-python {build.version}: {' '.join(build.compiled_features())}; {build.flags}"
    except Exception as e:  # an external backend: no local build to name
        build_line = f"unavailable ({e.__class__.__name__})"
    results["floor"] = floor
    results["machine"] = {
        "cpu": cpu.model,
        "cpu_features": list(cpu.features),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "llama_cpp": build_line,
        "extra_buffers": getattr(engine, "extra_buffers", None),
    }
    results["config"] = {
        "questions": str(options.questions),
        "answers": len(items),
        "llm": settings.llm,
        "embedder": service.store.embedder,
        "model_load_ms": load_ms,
        **{name: getattr(settings, name) for name in SPEED_SETTINGS},
    }
    results["peak_rss_mb"] = peak_rss_mb([getattr(engine, "pid", None)])
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(bench_markdown(results), encoding="utf-8")
    log(f"bench in {out}/ (bench.json, bench.md)")
    return results


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"
    return str(value)


def bench_markdown(results: dict[str, Any]) -> str:
    machine, config, floor = results["machine"], results["config"], results.get("floor") or {}
    lines = [
        "# Speed benchmark (`rag bench`)",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; features: {' '.join(machine['cpu_features'])}",
        f"- llama.cpp: {machine['llama_cpp']}; weight-repacking buffers: {machine['extra_buffers']}",
        f"- {config['answers']} questions ({config['questions']}), LLM `{config['llm']}`, embedder "
        f"`{config['embedder']}`; model load {config['model_load_ms']} ms; peak memory {results['peak_rss_mb']} MB",
        "- settings: " + ", ".join(f"{k}={config[k]}" for k in SPEED_SETTINGS),
        "",
        "| | " + " | ".join(results["pipelines"]) + " |",
        "|---|" + "---|" * len(results["pipelines"]),
    ]
    rows = [
        ("correct answers", "correct"),
        ("p50 total (ms)", "p50_total_ms"),
        ("p95 total (ms)", "p95_total_ms"),
        ("p50 time to evidence (ms)", "p50_evidence_ms"),
        ("p50 time to first token (ms)", "p50_ttft_ms"),
        ("p50 prompt tokens", "p50_prompt_tokens"),
        ("p50 prompt tokens evaluated", "p50_prefill_tokens"),
        ("p50 answer tokens", "p50_completion_tokens"),
        ("prefill tokens/s", "prefill_tokens_per_s"),
        ("decode tokens/s", "decode_tokens_per_s"),
        ("p50 not prefill or decode (ms)", "p50_other_ms"),
        ("… as a share of p50 total", "other_share_of_p50"),
    ]
    blocks = [p["summary"] for p in results["pipelines"].values()]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(b.get(key)) for b in blocks) + " |")
    ours = results["pipelines"].get("ours")
    if ours:
        lines += ["", "Steps of our pipeline (median ms over the answers that ran the step, and how many did):", ""]
        lines += ["| step | p50 ms | answers |", "|---|---|---|"]
        summary = ours["summary"]
        for name, ms in summary["stages_p50_ms"].items():
            lines.append(f"| {name} | {_fmt(ms)} | {summary['stages_runs'][name]} |")
    if floor:
        lines += [
            "",
            f"Floor on this CPU, same build and model, in the same worker: prefill "
            f"{_fmt(floor['prefill_tokens_per_s'])} tokens/s ({floor['prompt_tokens']} tokens in one eval), decode "
            f"{_fmt(floor['decode_tokens_per_s'])} tokens/s ({floor['decode_tokens']} single-token evals); the median "
            f"of {floor.get('measurements', 1)} measurements taken before, between and after the pipelines "
            f"(prefill {floor.get('prefill_range', ['?'])[0]}–{floor.get('prefill_range', ['?'])[-1]} tokens/s).",
        ]
        if ours and ours["summary"]["prefill_tokens_per_s"]:
            share = ours["summary"]["prefill_tokens_per_s"] / floor["prefill_tokens_per_s"]
            lines.append(f"Our pipeline's prefill runs at {share:.0%} of that floor.")
    paired = ours["summary"].get("paired_floor_prefill_tokens_per_s") if ours else None
    if ours and paired:
        lines += [
            "",
            f"Paired floor: after each of our answers, a bare eval of as many tokens as the answer's calls evaluated "
            f"ran at {_fmt(paired)} tokens/s over the run; against it our prefill runs at "
            f"{ours['summary']['prefill_share_of_paired_floor']:.0%} (drift over minutes cancels out in this pairing).",
        ]
    return "\n".join(lines) + "\n"
