"""Backend selection by setting (no model is loaded, no server contacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ModelUnavailable
from rag.models.llm import LlamaCppChat, make_chat_model
from rag.settings import Settings


def test_gguf_path_backend_runs_llama_cpp_with_our_settings(tmp_path: Path) -> None:
    settings = Settings(
        llm=f"gguf:{tmp_path / 'm.gguf'}", n_ctx=2048, max_tokens=99, threads=3, flash_attn=True, n_ubatch=128
    )
    model = make_chat_model(settings)
    assert isinstance(model, LlamaCppChat) and not model.in_process  # a worker process by default
    o = model.options
    assert (o.n_ctx, o.max_tokens, o.threads, o.temperature, o.flash_attn, o.n_ubatch) == (2048, 99, 3, 0.0, True, 128)
    with pytest.raises(ModelUnavailable, match="No model file"):
        model.invoke("ciao")  # a missing file is a clear error, not a crash inside llama.cpp


def test_a_model_that_cannot_load_is_a_clear_error_from_the_worker(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)  # a header and nothing else
    model = make_chat_model(Settings(llm=f"gguf:{broken}", llm_check=False))
    with pytest.raises(ModelUnavailable, match="could not load"):
        model.invoke("ciao")
    with pytest.raises(ModelUnavailable, match="cannot run on this machine"):
        make_chat_model(Settings(llm=f"gguf:{broken}", cache_dir=tmp_path / "cache"))  # the health check says so


def test_in_process_mode_is_a_setting(tmp_path: Path) -> None:
    model = make_chat_model(Settings(llm=f"gguf:{tmp_path / 'm.gguf'}", llm_worker=False))
    assert isinstance(model, LlamaCppChat) and model.in_process


def test_openai_compatible_backend() -> None:
    model = make_chat_model(Settings(llm="openai:qwen", openai_base_url="http://127.0.0.1:9/v1"))
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "qwen" and model.temperature == 0.0  # type: ignore[attr-defined]


def test_ollama_backend() -> None:
    model = make_chat_model(Settings(llm="ollama:qwen2.5", ollama_url="http://127.0.0.1:9"))
    assert type(model).__name__ == "ChatOllama"
    assert model.model == "qwen2.5" and model.temperature == 0.0  # type: ignore[attr-defined]


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(ModelUnavailable, match="gguf:/path/model.gguf"):
        make_chat_model(Settings(llm="magic"))
