"""The llama.cpp runtime's pieces without the model: passes of whole texts, the conversion's record and
converter, the question runtime beside the documents', and the load-time options `Llama()` has no keyword for.
The model itself: tests/test_embedder_gguf_real.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rag.errors import ModelUnavailable
from rag.models.embedder_files import EMBEDDINGGEMMA_300M
from rag.models.embedder_gguf import CONVERTER, RECORD, WEIGHTS, check_gguf, converter_archive, gguf_dir, token_groups
from rag.models.embeddings import gemma_query_runtime
from rag.models.roles import RoleEmbeddings
from rag.models.runtime import model_params, parallel_sequences


@pytest.mark.parametrize(
    ("lengths", "budget", "most", "groups"),
    [
        ([100, 100, 100, 300, 20], 256, 32, [[0, 1], [2], [3], [4]]),
        ([10] * 5, 256, 2, [[0, 1], [2, 3], [4]]),  # at most `most` texts a pass
        ([600], 256, 32, [[0]]),  # a text longer than the budget goes alone
        ([], 256, 32, []),
    ],
)
def test_texts_are_grouped_whole_into_passes(
    lengths: list[int], budget: int, most: int, groups: list[list[int]]
) -> None:
    assert list(token_groups(lengths, budget, most)) == groups


def test_questions_go_to_llama_cpp_unless_the_documents_vectors_differ() -> None:
    assert gemma_query_runtime("auto", "torch") == "gguf"
    assert gemma_query_runtime("auto", "onnx") == "gguf"
    assert gemma_query_runtime("auto", "onnx-int8") == "onnx-int8"  # int8 names other vectors: its own
    assert gemma_query_runtime("documents", "onnx") == "onnx"
    assert gemma_query_runtime("gguf-f16", "torch") == "gguf-f16"


class Runtime:
    """A stand-in runtime that says which runtime embedded what."""

    def __init__(self, name: str, runtime: str) -> None:
        self.name, self.runtime, self.calls = name, runtime, []  # type: ignore[var-annotated]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += [("documents", t) for t in texts]
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(("query", text))
        return [0.0, 1.0]

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        self.calls += [("raw", t) for t in texts]
        return [[1.0, 1.0] for _ in texts]


def test_documents_and_questions_each_go_to_their_runtime() -> None:
    documents, questions = Runtime("g", "torch"), Runtime("g", "gguf")
    both = RoleEmbeddings(documents, questions)  # type: ignore[arg-type]
    both.embed_documents(["Renault e Ford", "the Douai plant"])
    both.embed_query("Chi guida Renault?")
    both.embed_raw(["served as given"])  # what rag embeddings-server serves: the documents' runtime
    assert documents.calls == [
        ("documents", "Renault e Ford"),
        ("documents", "the Douai plant"),
        ("raw", "served as given"),
    ]
    assert questions.calls == [("query", "Chi guida Renault?")]
    assert (both.name, both.runtime, both.query_runtime) == ("g", "torch", "gguf")  # the index records "torch"


def test_runtimes_of_different_vectors_are_refused_together() -> None:
    with pytest.raises(ModelUnavailable, match="RAG_EMBEDDER_QUERY_RUNTIME=documents"):
        RoleEmbeddings(Runtime("g@int8-7bit", "onnx-int8"), Runtime("g", "gguf"))  # type: ignore[arg-type]


def test_a_conversion_that_is_missing_or_changed_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not exported yet.*rag model"):
        check_gguf(tmp_path, "gguf")
    folder = gguf_dir(tmp_path, "gguf")
    folder.mkdir(parents=True)
    (folder / WEIGHTS).write_bytes(b"GGUF")
    record = {"runtime": "gguf", "source_sha256": EMBEDDINGGEMMA_300M.safetensors_sha256, "outtype": "q8_0",
              "converter_sha256": CONVERTER.sha256, "files": {WEIGHTS: {"size": 4, "sha256": "0" * 64}}}  # fmt: skip
    (folder / RECORD).write_text(json.dumps(record))
    assert check_gguf(tmp_path, "gguf") == folder  # sizes only
    with pytest.raises(ModelUnavailable, match="does not match the sha256"):
        check_gguf(tmp_path, "gguf", verify_hashes=True)
    (folder / RECORD).write_text(json.dumps({**record, "converter_sha256": "1" * 64}))
    with pytest.raises(ModelUnavailable, match="made otherwise"):  # another converter made it
        check_gguf(tmp_path, "gguf")
    with pytest.raises(ModelUnavailable, match="Unknown GGUF runtime 'gguf-q4'"):
        check_gguf(tmp_path, "gguf-q4")


def test_a_converter_that_cannot_be_fetched_or_is_not_the_release_is_refused(tmp_path: Path) -> None:
    def unreachable(package: str, version: str, dest: Path) -> Path:
        raise subprocess.CalledProcessError(1, ["pip", "download"], stderr="No matching distribution")

    with pytest.raises(ModelUnavailable, match=r"Could not fetch llama-cpp-python==.*PyPI is reachable"):
        converter_archive(tmp_path, unreachable, log=lambda _: None)

    def another(package: str, version: str, dest: Path) -> Path:
        path = dest / CONVERTER.archive
        path.write_bytes(b"not the release")
        return path

    with pytest.raises(ModelUnavailable, match="does not have the sha256.*it was removed"):
        converter_archive(tmp_path, another, log=lambda _: None)
    assert not (tmp_path / "sources" / CONVERTER.archive).exists()  # the next run fetches it again


def test_load_options_reach_the_functions_llama_calls() -> None:
    """`Llama()` reads `llama_cpp.llama_cpp`'s functions; a patch of the package's re-export would not reach it."""
    llama_cpp = pytest.importorskip("llama_cpp")
    low = llama_cpp.llama_cpp
    original = low.llama_model_default_params().use_extra_bufts
    with model_params(not original):
        assert low.llama_model_default_params().use_extra_bufts is (not original)
    assert low.llama_model_default_params().use_extra_bufts is original
    with parallel_sequences(8):
        assert low.llama_max_parallel_sequences() == 8
    assert low.llama_max_parallel_sequences() > 8
