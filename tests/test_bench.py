"""The benchmark's arithmetic (pure functions over records) and its fixed corpus folder."""

from __future__ import annotations

from pathlib import Path

from evals.bench import bench_corpus, bench_markdown, summarize
from rag.settings import Settings


def record(total: int, ttft: int, prefill: int, decode: int, tokens: int = 100, out: int = 11) -> dict:
    return {
        "id": "q", "lang": "it", "correct": True, "total_ms": total, "ttft_ms": ttft, "llm_calls": 1,
        "prompt_tokens": tokens, "prefill_tokens": tokens, "completion_tokens": out, "prefill_ms": prefill,
        "decode_ms": decode, "other_ms": total - prefill - decode, "stages": {"retrieve": 50, "verify": 10},
    }  # fmt: skip


def test_rates_are_tokens_over_time_and_overhead_is_what_the_model_did_not_spend() -> None:
    summary = summarize(
        [record(3000, 1200, 1000, 1800), record(5000, 2000, 1000, 3800), record(4000, 1500, 1000, 2700)]
    )
    assert summary["p50_total_ms"] == 4000 and summary["p50_ttft_ms"] == 1500
    assert summary["prefill_tokens_per_s"] == 100.0  # 300 tokens in 3 s
    assert summary["decode_tokens_per_s"] == round(1000 * 30 / 8300, 1)  # the first token comes from prefill
    assert summary["p50_other_ms"] == 200 and summary["other_share_of_p50"] == 0.05
    assert summary["stages_p50_ms"] == {"retrieve": 50, "verify": 10} and summary["stages_runs"]["verify"] == 3


def test_the_report_names_the_floor_and_how_close_the_pipeline_comes() -> None:
    results = {
        "machine": {"cpu": "AMD EPYC", "cores": 2, "cpu_features": ["avx2"], "llama_cpp": "0.3.36",
                    "extra_buffers": True},
        "config": {"answers": 1, "questions": "q.jsonl", "llm": "local", "embedder": "e5", "model_load_ms": 900,
                   "threads": 2, "threads_batch": 0, "n_batch": 512, "n_ubatch": 512, "flash_attn": False,
                   "prefix_cache": 8, "lookup_tokens": 0, "llm_worker": True, "llm_extra_buffers": "auto",
                   "max_tokens": 160},
        "peak_rss_mb": 2000.0,
        "floor": {"prompt_tokens": 400, "prefill_tokens_per_s": 125.0, "decode_tokens": 32,
                  "decode_tokens_per_s": 12.0},
        "pipelines": {"ours": {"summary": summarize([record(3000, 1200, 1000, 1800)])}},
    }  # fmt: skip
    text = bench_markdown(results)
    assert "AMD EPYC" in text and "prefill 125.0 tokens/s" in text
    assert "runs at 80% of that floor" in text  # 100 tokens/s against 125
    assert "Paired floor" not in text  # no answer was paired with a bare eval


def test_the_paired_floor_weighs_each_answer_by_its_tokens() -> None:
    # answer 1: 100 tokens in 1000 ms, its bare eval 800 ms; answer 2: 300 tokens in 2000 ms, bare 2200 ms
    first = record(3000, 1200, 1000, 1800) | {"floor_prefill_tokens": 100, "floor_prefill_ms": 800}
    second = record(4000, 2500, 2000, 1800, tokens=300) | {"floor_prefill_tokens": 300, "floor_prefill_ms": 2200}
    summary = summarize([first, second, record(3000, 1200, 1000, 1800)])  # the third was not paired
    assert summary["paired_floor_prefill_tokens_per_s"] == round(1000 * 400 / 3000, 1)
    assert summary["prefill_share_of_paired_floor"] == round((400 / 3000) / (400 / 3000), 3)
    faster = summarize([first])  # our 100 tokens/s against the bare 125
    assert faster["prefill_share_of_paired_floor"] == 0.8


def test_the_bench_corpus_is_the_seed_articles_plus_the_listed_ones(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "seed.md").write_text("# Seme\n\nTesto.\n")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "wiki.md").write_text("# Wiki\n\nAltro testo.\n")
    listing = tmp_path / "list.txt"
    listing.write_text("extra/wiki.md\n\n")
    settings = Settings(index=tmp_path / "index")
    folder = bench_corpus(settings, listing, root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["seed.md", "wiki.md"]
    listing.write_text("")
    assert sorted(p.name for p in bench_corpus(settings, listing, root=tmp_path).iterdir()) == ["seed.md"]
