"""The tuning harness ranks exactly as the retriever does, and picks its setting on the dev split only."""

from __future__ import annotations

from pathlib import Path

from evals.runner import EvalOptions, run_eval
from evals.tune_retrieval import Setup, evaluate, markdown, ranks_for, tune
from rag.service import build_service
from rag.settings import Settings
from tests.conftest import ROOT
from tests.fakes import HashEmbeddings

QUESTIONS = ROOT / "evals" / "questions.jsonl"


def test_the_harness_reproduces_the_retrievers_ranks_and_reports_both_splits(
    settings: Settings, corpus_dir: Path, tmp_path: Path
) -> None:
    setup = Setup("project", (corpus_dir,), (QUESTIONS,))
    results = tune(settings, [setup], tmp_path / "work", log=lambda _l: None, embeddings=HashEmbeddings())
    # the setting in force, fused from the gathered candidates, gives the same first-hit ranks as the eval
    # runner's real searches over an index of the same corpus
    service = build_service(settings, embeddings=HashEmbeddings())
    report = run_eval(settings, EvalOptions(QUESTIONS, tmp_path / "out", ("ours",), True), log=lambda _l: None,
                      service=service)  # fmt: skip
    expected = {r["id"]: r["first_hit_rank"] for r in report["pipelines"]["ours"]["items"] if r["answerable"]}
    in_force = results["in_force"]["result"]["project"]
    runner = report["pipelines"]["ours"]["splits"]
    for split in ("dev", "test"):
        assert in_force[split]["recall@5"] == runner[split]["recall@5"]
        assert in_force[split]["mrr"] == runner[split]["mrr"]
    assert len(expected) == in_force["dev"]["n"] + in_force["test"]["n"]
    # the chosen setting is the best on the development split, whatever it does on the held-out one
    chosen = results["chosen"]["objective"]
    assert all(chosen >= t["objective"] for t in results["top"])
    assert chosen == results["chosen"]["result"]["project"]["dev"]["mrr"]
    assert "| project |" in markdown(results)


def test_ranks_for_counts_the_first_relevant_chunk_within_depth(settings: Settings, corpus_dir: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    from evals.tune_retrieval import gather

    gathered = gather(settings, Setup("p", (corpus_dir,), (QUESTIONS,)), tmp_path, HashEmbeddings(), lambda _l: None)
    ranks = ranks_for(gathered, settings.fusion_params)
    assert len(ranks) == len(gathered.items)
    assert all(r is None or 1 <= r <= 5 for r in ranks)
    # an item whose relevant set is emptied can no longer be found
    emptied = type(gathered)(gathered.setup, gathered.items, gathered.candidates,
                             [set() for _ in gathered.relevant], gathered.chunks, gathered.search_ms)  # fmt: skip
    assert all(r is None for r in ranks_for(emptied, settings.fusion_params))
    assert set(evaluate([gathered], settings.fusion_params)) == {"p"}
