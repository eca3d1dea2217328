"""The real llama.cpp build and the real local model: no AMX path, a health check in a child process,
a worker that survives a native crash, and a prefix cache that changes speed, never answers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from rag.errors import ModelCrashed
from rag.models.llm_worker import WorkerLlama
from rag.models.local_llama import LlamaOptions, LocalLlama
from rag.models.model_files import QWEN_1_5B, ensure_model
from rag.models.runtime import (
    build_info,
    cached_health,
    check_model,
    cpu_info,
    health_key,
    llama_library_dir,
    use_extra_buffers,
)
from rag.settings import default_cache_dir

pytestmark = pytest.mark.slow

# AMX tile instructions: any of them in the CPU backend means the AMX kernels were compiled in
AMX_MNEMONICS = re.compile(
    r"\s(tdpb[su]{2}d|tdpbf16ps|tdpfp16ps|tileloadd|tileloaddt1|tilestored|ldtilecfg|tilezero)\s"
)
QUESTION = [
    {"role": "system", "content": "Rispondi in una frase, in italiano."},
    {"role": "user", "content": "Testo: Renault e Ford hanno firmato l'intesa il 9 dicembre 2025 a Parigi.\n"
                                "Domanda: quando è stata firmata l'intesa?"},
]  # fmt: skip
ENGLISH = [
    {"role": "system", "content": "Answer in one sentence, in English."},
    {
        "role": "user",
        "content": "Text: the Douai plant cost 550 million euros to convert.\nQuestion: what did it cost?",
    },
]


@pytest.fixture(scope="module")
def model_path() -> Path:
    return ensure_model(QWEN_1_5B, default_cache_dir())


def options(model_path: Path, **changes: object) -> LlamaOptions:
    return LlamaOptions(model_path=str(model_path), n_ctx=1024, threads=os.cpu_count() or 2, max_tokens=40,
                        **changes)  # type: ignore[arg-type]  # fmt: skip


def test_the_cpu_backend_is_built_without_amx_kernels() -> None:
    """The crash is in llama.cpp's AMX path; our build must leave it out on every CPU, AMX or not."""
    assert not build_info().has_amx, build_info().system_info
    libraries = sorted(llama_library_dir().glob("libggml-cpu*.so*")) or sorted(llama_library_dir().glob("libggml*.so*"))
    assert libraries, f"no ggml library in {llama_library_dir()}"
    if shutil.which("objdump") is None:
        pytest.skip("objdump is missing (binutils)")
    for library in libraries:
        listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
        found = AMX_MNEMONICS.search(listing)
        assert found is None, f"{library.name} holds AMX instructions ({found.group(1) if found else ''})"


def test_the_model_loads_and_evaluates_a_token_in_a_child_without_amx_buffers(model_path: Path, tmp_path: Path) -> None:
    report = check_model(model_path, tmp_path, "auto", threads=2, fresh=True)
    assert report.ok, report.detail
    assert not report.amx_buffers  # the weights never went to the AMX buffer type
    assert report.extra_buffers == use_extra_buffers("auto", build_info(), cpu_info())
    assert report.load_ms > 0
    key = health_key(model_path, build_info(), report.extra_buffers)
    assert cached_health(tmp_path, key) == report  # later runs read it instead of loading again


def test_a_crash_in_the_worker_is_reported_and_the_next_call_is_answered(model_path: Path) -> None:
    worker = WorkerLlama(options(model_path))
    try:
        first = "".join(worker.stream(QUESTION))
        assert "2025" in first
        pid = worker.pid
        assert pid is not None and pid != os.getpid()
        stream = worker.stream(QUESTION)
        next(stream)  # mid-answer ...
        os.kill(pid, signal.SIGSEGV)  # ... the native library dies as it would on a bad kernel
        with pytest.raises(ModelCrashed, match="SIGSEGV") as crash:
            for _ in stream:
                pass
        assert "ask again" in str(crash.value) and "rag doctor" in str(crash.value)
        again = "".join(worker.stream(QUESTION))  # a new worker, the same deterministic answer
        assert again == first and worker.pid != pid and worker.restarts == 1
    finally:
        worker.close()


def test_a_stream_stopped_early_leaves_nothing_behind_for_the_next_call(model_path: Path) -> None:
    worker = WorkerLlama(options(model_path))
    try:
        whole = "".join(worker.stream(ENGLISH))
        stream = worker.stream(QUESTION)
        next(stream)
        stream.close()  # the reader went away
        assert "".join(worker.stream(ENGLISH)) == whole
        assert worker.last_stats.completion_tokens > 0 and worker.last_stats.prompt_tokens > 20
    finally:
        worker.close()


def test_the_prefix_cache_keeps_each_system_prompt_without_changing_an_answer(model_path: Path) -> None:
    cached = LocalLlama(options(model_path, prefix_cache=4))
    italian = "".join(cached.stream(QUESTION))
    first = cached.last_stats
    "".join(cached.stream(ENGLISH))  # another kind of prompt takes the context
    again = "".join(cached.stream(QUESTION))
    second = cached.last_stats
    assert again == italian
    assert first.prefill_tokens == first.prompt_tokens  # nothing cached yet
    assert second.prompt_tokens == first.prompt_tokens
    assert second.prefill_tokens < second.prompt_tokens  # the Italian system prompt was restored, not evaluated
    plain = LocalLlama(options(model_path, prefix_cache=0))
    assert "".join(plain.stream(QUESTION)) == italian


def test_reading_the_opening_probabilities_costs_the_answer_nothing_and_changes_nothing(model_path: Path) -> None:
    # the worker reads P(first token) from the prompt's forward pass; the answer then reuses that pass
    worker, fresh = WorkerLlama(options(model_path)), WorkerLlama(options(model_path))
    try:
        marker = [{"role": "system", "content": QUESTION[0]["content"] + " Se il testo non lo dice, scrivi NOT_FOUND."}]
        asked = marker + [QUESTION[1]]
        unknown = marker + [{"role": "user", "content": QUESTION[1]["content"].replace("quando", "da chi")}]
        answerable = worker.opening(asked, ["NOT_FOUND", "Il"])
        evaluated = worker.last_stats.prefill_tokens
        after = "".join(worker.stream(asked))
        assert worker.last_stats.prefill_tokens <= 2 < evaluated  # the prompt was not evaluated again
        assert after == "".join(fresh.stream(asked))  # and the answer is the one a fresh model gives
        not_said = worker.opening(unknown, ["NOT_FOUND"])
        # the model leans to the marker more when the text does not say who signed
        assert not_said["NOT_FOUND"] > answerable["NOT_FOUND"]
        assert all(lp <= 0 for lp in answerable.values())
    finally:
        worker.close()
        fresh.close()


def test_a_copied_reply_is_a_stretch_of_the_source_and_reads_the_same_opening(model_path: Path) -> None:
    from rag.models.copying import fold

    source = "Renault e Ford hanno firmato l'intesa il 9 dicembre 2025 a Parigi."
    marker = [{"role": "system", "content": "Copia dal testo la risposta breve. Se non c'è, scrivi NOT_FOUND."}]
    asked = marker + [{"role": "user", "content": f"Testo: {source}\nDomanda: dove è stata firmata l'intesa?"}]
    unknown = marker + [{"role": "user", "content": f"Testo: {source}\nDomanda: quanto costa la nuova Ford?"}]
    worker, fresh = WorkerLlama(options(model_path)), WorkerLlama(options(model_path))
    try:
        opening, copied = worker.read(asked, ["NOT_FOUND"], source, 16)
        assert copied.text and fold(copied.text) in fold(source)
        assert len(copied.logprobs) >= 1 and all(lp <= 0 for lp in copied.logprobs)
        # the same forward pass as `opening` on a model that has read nothing yet
        assert opening == pytest.approx(fresh.opening(asked, ["NOT_FOUND"]), abs=1e-3)
        # asked what the text does not say, the model still copies a stretch (never the marker) and its
        # not-found probability is higher: the decision, not the reply, carries the abstention
        not_said, forced = worker.read(unknown, ["NOT_FOUND"], source, 16)
        assert "NOT_FOUND" not in forced.text and fold(forced.text) in fold(source)
        assert not_said["NOT_FOUND"] > opening["NOT_FOUND"]
        _, free = worker.read(unknown, ["NOT_FOUND"], None, 16)
        assert "NOT_FOUND" in free.text  # without the copy constraint the model writes the marker
        # held to choices (through the worker process), the reply is one of them, as written
        when = marker + [{"role": "user", "content": f"Testo: {source}\nDomanda: quando è stata firmata l'intesa?"}]
        choices = ["Parigi", "9 dicembre 2025", "Renault"]
        _, chosen = worker.read(when, ["NOT_FOUND"], source, 16, 3, choices)
        assert chosen.text in choices and chosen.text == "9 dicembre 2025"
        _, only = worker.read(when, ["NOT_FOUND"], source, 16, 1, ["Renault"])
        assert only.text == "Renault"  # not what it would copy, but the one choice there is
    finally:
        worker.close()
        fresh.close()
