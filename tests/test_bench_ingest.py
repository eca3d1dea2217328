"""The ingest and scale benchmark end to end at a small scale, and its runtimes section, with fake embedders
(no asserts on speed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from evals.bench_ingest import run_ingest_bench
from evals.bench_runtimes import REFERENCE, Runtimes, cpu_identity, runtime_figures, runtime_sample
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse avx avx2 fma f16c avx512f avx512_bf16 avx512_vnni
processor\t: 1
cpu family\t: 25
model\t\t: 17
"""


class Tilted(HashEmbeddings):
    """The hashing embedder with every vector pulled toward one axis: close to its vectors, not equal."""

    def _vector(self, text: str) -> list[float]:
        vector = super()._vector(text)
        vector[0] += 0.3
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector]


def fake_runtimes() -> Runtimes:
    embedders = {REFERENCE: HashEmbeddings(), "onnx": HashEmbeddings("fake/onnx"), "onnx-int8": Tilted("fake/int8")}
    return Runtimes(embedders, auto="onnx", missing={"torch bfloat16": "no native bfloat16 on this CPU"})


@pytest.mark.slow
def test_the_ingest_bench_reports_its_figures_and_grows_the_store(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    results = run_ingest_bench(
        settings, tmp_path / "out", log=lambda _: None, sizes=(2500,), embeddings=HashEmbeddings(),
        runtimes=fake_runtimes(),
    )  # fmt: skip
    ingest = results["ingest"]
    assert ingest["articles"] == 43 and ingest["chunks"] > 1000 and ingest["embedded_chars_per_s"] > 0
    (row,) = results["scale"]
    assert row["chunks"] == 2500 and row["sentences"] > 2500 and row["search_p50_ms"] > 0
    scaled = ChunkStore(
        settings.model_copy(update={"index": settings.index_dir / "bench-scale-2500"}), HashEmbeddings()
    )
    assert not scaled.problems()  # the synthetic chunks have their sentences, as an ingest would leave them
    text = (tmp_path / "out" / "bench_ingest.md").read_text(encoding="utf-8")
    assert "| 2,500 |" in text and "43 articles" in text and "| onnx (auto) |" in text


def test_each_runtime_runs_the_same_texts_and_is_compared_to_torch_float32() -> None:
    texts, queries = runtime_sample()
    assert (len(texts), len(queries)) == (48, 8) and runtime_sample() == (texts, queries)  # one fixed sample
    runtimes = fake_runtimes()
    section = runtime_figures(runtimes, texts, queries, log=lambda _: None, repeats=2)
    rows = {row["runtime"]: row for row in section["rows"]}
    assert list(rows) == [REFERENCE, "onnx", "onnx-int8"] and section["auto"] == "onnx"
    for embeddings in runtimes.embedders.values():
        assert isinstance(embeddings, HashEmbeddings) and embeddings.calls == 2 + 2 * len(texts)  # warm-up, then 2
    assert rows[REFERENCE]["vs_reference"] == 1.0 and rows[REFERENCE]["doc_cosine_min"] == 1.0
    assert rows["onnx"]["doc_cosine_min"] == 1.0 and rows["onnx"]["query_cosine_min"] == 1.0  # the same vectors
    tilted = rows["onnx-int8"]
    assert 0.5 < tilted["doc_cosine_min"] <= tilted["doc_cosine_mean"] < 1.0
    assert 0.5 < tilted["query_cosine_min"] <= tilted["query_cosine_mean"] < 1.0
    low, high = tilted["docs_chars_per_s_range"]
    assert 0 < low <= tilted["docs_chars_per_s"] <= high and tilted["query_p50_ms"] >= 0
    assert section["text_chars"] == sum(map(len, texts)) and section["missing"] == runtimes.missing


def test_the_cpu_is_named_by_family_and_model_with_the_flags_that_pick_a_runtime() -> None:
    cpu = cpu_identity(CPUINFO)
    assert (cpu["name"], cpu["family"], cpu["model"]) == ("AMD EPYC 9R14", "25", "17")
    assert cpu["avx2"] and cpu["avx512_bf16"] and not cpu["amx"]


def test_runtimes_only_adds_its_section_to_the_report_already_there(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    scale = {"chunks": 2000, "sentences": 10824, "write_s": 9.6, "first_search_ms": 5723, "search_p50_ms": 129.9,
             "search_p95_ms": 150.0, "peak_rss_mb": 2430.5}  # fmt: skip
    (out / "bench_ingest.json").write_text(json.dumps({"cpu": "AMD EPYC (avx2)", "scale": [scale]}))
    results = run_ingest_bench(
        Settings(index=tmp_path / "index"), out, log=lambda _: None, runtimes=fake_runtimes(), runtimes_only=True
    )
    assert results["scale"] == [scale] and results["cpu"] == "AMD EPYC (avx2)"  # the earlier run's, kept
    saved = json.loads((out / "bench_ingest.json").read_text())
    assert saved["runtimes"]["auto"] == "onnx" and {"family", "model", "avx512_bf16"} <= set(saved["runtimes"]["cpu"])
    text = (out / "bench_ingest.md").read_text(encoding="utf-8")
    assert "| 2,000 | 10,824 |" in text and "## EmbeddingGemma runtimes on the same texts" in text
    assert "`auto` picks **onnx** here" in text and "| onnx (auto) |" in text and "| onnx-int8 |" in text
    assert "Not measured here: torch bfloat16: no native bfloat16 on this CPU." in text
    assert "family" in text and "avx512_bf16" in text
