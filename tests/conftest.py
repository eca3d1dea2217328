from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SEED_CORPUS = ROOT / "corpus"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


@pytest.fixture(autouse=True)
def isolated_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own index folder, and no RAG_* setting leaks in from the shell."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    index = tmp_path / "index"
    monkeypatch.setenv("RAG_INDEX", str(index))
    return index


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A writable copy of the project's seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    """Settings for tests with the fake embedder: its bag-of-words vectors carry no meaning, so keywords lead
    retrieval (score fusion, with a keyword weight equal to the similarities'), and a paraphrase sharing half
    its terms with a passage sentence scores ~0.4, not e5's ~0.8."""
    return Settings(corpus=(corpus_dir,), index=tmp_path / "index", fusion="score", keyword_weight=1.0, min_support=0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:  # type: ignore[type-arg]
    """Stop a server a test started: politely, then for good."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answers(
    process: subprocess.Popen,  # type: ignore[type-arg]
    url: str,
    log: Path,
    name: str,
    timeout: float,
    interval: float = 0.5,
) -> None:
    """Wait for a server a test started to answer `url`; fail the test, with its log's end, if it exits or
    stays silent past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {timeout:g} s")
            time.sleep(interval)


@contextlib.contextmanager
def running_server(command: list[str], url: str, folder: Path, name: str, timeout: float) -> Iterator[str]:
    """Start a server a test needs, its output in a file in `folder` (a loading log would fill a pipe); yield
    `url` once it answers; stop it whatever happens."""
    log = folder / "server.log"
    output = log.open("w")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(process, f"{url}/models", log, name, timeout, interval=1)
        yield url
    finally:
        stop_process(process, timeout=20)
        output.close()


def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new cache folder whose EmbeddingGemma is a link to the user cache's verified one (a named skip where
    `rag model` has not assembled it), for exports and conversions a test makes and removes."""
    from rag.models.embedder_files import embedder_status, model_dir
    from rag.settings import default_cache_dir

    ok, why = embedder_status(default_cache_dir())
    if not ok:
        pytest.skip(f"EmbeddingGemma is not assembled here ({why})")
    cache = tmp_path_factory.mktemp("cache")
    (cache / "models").mkdir()
    model_dir(cache).symlink_to(model_dir(default_cache_dir()), target_is_directory=True)
    return cache
