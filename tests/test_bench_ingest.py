"""The ingest and scale benchmark end to end at a small scale, with the fake embedder (no asserts on speed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.bench_ingest import run_ingest_bench
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings

pytestmark = pytest.mark.slow


def test_the_ingest_bench_reports_its_figures_and_grows_the_store(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    results = run_ingest_bench(
        settings, tmp_path / "out", log=lambda _: None, sizes=(2500,), embeddings=HashEmbeddings()
    )
    ingest = results["ingest"]
    assert ingest["articles"] == 43 and ingest["chunks"] > 1000 and ingest["embedded_chars_per_s"] > 0
    (row,) = results["scale"]
    assert row["chunks"] == 2500 and row["sentences"] > 2500 and row["search_p50_ms"] > 0
    scaled = ChunkStore(
        settings.model_copy(update={"index": settings.index_dir / "bench-scale-2500"}), HashEmbeddings()
    )
    assert not scaled.problems()  # the synthetic chunks have their sentences, as an ingest would leave them
    text = (tmp_path / "out" / "bench_ingest.md").read_text(encoding="utf-8")
    assert "| 2,500 |" in text and "43 articles" in text
