"""EmbeddingGemma-300m on ONNX Runtime: exported once from the verified folder, then run without torch.

`rag model` exports the transformer (token ids -> hidden states) with torch's ONNX exporter, in a child
process, from `<cache_dir>/models/embeddinggemma-300m/`; for "onnx-int8" it then quantizes the weights of its
matrix products to int8 (dynamic quantization, per channel, 7-bit weights: `INT8_WEIGHTS`). Mean pooling, the
model's two dense layers and the normalization run in numpy from the folder's own `2_Dense`/`3_Dense` weights.
The files go to `<cache_dir>/models/embeddinggemma-300m-<runtime>/` with a record of their sizes and sha256
and of the source weights' sha256; the folder moves into place in one rename, so a killed export leaves
nothing that looks ready. Nothing is downloaded.

Measured against torch float32 on the same texts (evals/results/embedder_runtimes.md): float32 vectors
agree to a cosine of 1.0000 (the same embedder, so an index built by either answers the other's queries);
int8 vectors to about 0.98, so "onnx-int8" names its own embedder and an index built otherwise is re-embedded.
Its weights keep 7 of their 8 bits (ONNX Runtime's `reduce_range`): on CPUs without VNNI, AVX2's 8-bit
products saturate, and full 8-bit weights moved the vectors to a cosine of 0.950 (0.927 at worst) there
against 0.984 with VNNI; 7-bit weights gave 0.984 (0.974) on the AVX2 CPU and 0.983 (0.974) on an AMX one
(evals/results/embedder_runtimes_avx2.md), so one int8 index answers alike on either kind of CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelUnavailable
from .embedder_files import EMBEDDINGGEMMA_300M, check_embedder
from .packaged import build_folder, check_folder, is_recorded
from .roles import PromptedEmbeddings

RUNTIMES = ("onnx", "onnx-int8")
# how "onnx-int8" quantizes, recorded at export and part of its embedder's name: an export or an index made
# another way (8-bit weights, before) is made again
INT8_WEIGHTS = "int8-7bit"
GRAPH = "model.onnx"
RECORD = ".newsrag-onnx.json"
BATCH = 8  # texts per run, sorted by length so a batch pads little
MAX_TOKENS = 2048  # the model's context; longer texts are cut (chunks are ~300 tokens)
FIX = "Run `rag model` (or `make setup`): it exports the model from the verified folder, offline."


def onnx_dir(cache_dir: Path, runtime: str) -> Path:
    return Path(cache_dir) / "models" / f"{EMBEDDINGGEMMA_300M.folder}-{runtime}"


def _expected(runtime: str) -> dict[str, str]:
    int8 = {"weights": INT8_WEIGHTS} if runtime == "onnx-int8" else {}
    return {"source_sha256": EMBEDDINGGEMMA_300M.safetensors_sha256, **int8}


def is_exported(folder: Path, runtime: str = "onnx") -> bool:
    """True when the folder's record names the verified source weights (and, for int8, this quantization)
    and every file has its size."""
    return is_recorded(folder, RECORD, _expected(runtime))


def check_onnx(cache_dir: Path, runtime: str, verify_hashes: bool = False) -> Path:
    """The exported folder, or ModelUnavailable naming the fix (with `verify_hashes`, every sha256 too)."""
    what = f"The {runtime} runtime of {EMBEDDINGGEMMA_300M.name}"
    return check_folder(onnx_dir(cache_dir, runtime), RECORD, _expected(runtime), what, FIX, verify_hashes)


def export_onnx(cache_dir: Path, runtime: str, log: Callable[[str], None] = print) -> Path:
    """Return the exported folder for `runtime` ("onnx" or "onnx-int8"), exporting it first when needed."""
    if runtime not in RUNTIMES:
        raise ModelUnavailable(f"Unknown ONNX runtime '{runtime}'. Use one of {', '.join(RUNTIMES)}.")
    target = onnx_dir(cache_dir, runtime)
    if is_exported(target, runtime):
        return target
    source = check_embedder(cache_dir)

    def export(staged: Path, _work: Path) -> None:
        log(f"{EMBEDDINGGEMMA_300M.name}: exporting to ONNX ({runtime}), about 2 minutes")
        command = [sys.executable, "-m", "rag.models.embedder_onnx", str(source), str(staged), runtime]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if done.returncode != 0 or not (staged / GRAPH).exists():
            last = (done.stderr or "").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise ModelUnavailable(f"The ONNX export of {EMBEDDINGGEMMA_300M.name} failed: {last[0]}. {FIX}")

    build_folder(target, RECORD, {"runtime": runtime, **_expected(runtime)}, export)
    log(f"{EMBEDDINGGEMMA_300M.name}: {runtime} ready at {target}")
    return target


def _export(source: Path, out: Path, runtime: str) -> None:
    """In the child process: trace the transformer, write `model.onnx` (int8: quantized in place)."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source, dtype=torch.float32, attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(["title: none | text: una frase di prova", "breve"], padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    graph = out / (GRAPH if runtime == "onnx" else "float32.onnx")
    torch.onnx.export(
        Hidden(), (sample["input_ids"], sample["attention_mask"]), str(graph),
        input_names=["input_ids", "attention_mask"], output_names=["hidden"],
        dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
        dynamo=True, external_data=True, optimize=True, verbose=False,
    )  # fmt: skip
    if runtime == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # reduce_range: 7-bit weights, whose products cannot saturate AVX2's 16-bit sums (INT8_WEIGHTS)
        quantize_dynamic(str(graph), str(out / GRAPH), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, op_types_to_quantize=["MatMul"])  # fmt: skip
        for leftover in out.glob("float32.onnx*"):
            leftover.unlink()


class OnnxGemmaEmbeddings(PromptedEmbeddings):
    """EmbeddingGemma-300m through ONNX Runtime, with the model's own query and document prompts."""

    def __init__(self, source: Path, exported: Path, runtime: str, threads: int | None = None) -> None:
        self.source, self.exported, self.runtime = source, exported, runtime
        # float32 gives torch's vectors (cosine 1.0000): the same embedder; int8 does not, and names its weights
        self.name = EMBEDDINGGEMMA_300M.name if runtime == "onnx" else f"{EMBEDDINGGEMMA_300M.name}@{INT8_WEIGHTS}"
        self.threads = threads or min(os.cpu_count() or 1, 8)
        self._parts: tuple[Any, Any, np.ndarray, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any, np.ndarray, dict[str, str]]:
        if self._parts is None:
            import onnxruntime as ort
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = self.threads
            options.log_severity_level = 3
            try:
                session = ort.InferenceSession(str(self.exported / GRAPH), options, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own exception types
                raise ModelUnavailable(f"ONNX Runtime could not load {self.exported / GRAPH}: {e}. {FIX}") from e
            tokenizer = Tokenizer.from_file(str(self.source / "tokenizer.json"))
            tokenizer.enable_truncation(MAX_TOKENS)
            dense = [
                next(iter(load_file(str(self.source / d / "model.safetensors")).values()))
                for d in ("2_Dense", "3_Dense")
            ]
            projection = (dense[1].astype(np.float32) @ dense[0].astype(np.float32)).T  # no bias, no activation
            prompts = json.loads((self.source / "config_sentence_transformers.json").read_text())["prompts"]
            self._parts = (session, tokenizer, projection, prompts)
        return self._parts

    def _encode(self, texts: list[str], role: str) -> list[list[float]]:
        with self._lock:
            session, tokenizer, projection, prompts = self._load()
            prompt = "" if role == "raw" else prompts[role]  # "raw": the texts as given
            encoded = tokenizer.encode_batch([prompt + t for t in texts])
            order = sorted(range(len(texts)), key=lambda i: len(encoded[i].ids))
            vectors = np.zeros((len(texts), projection.shape[1]), dtype=np.float32)
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                width = max(len(encoded[i].ids) for i in rows)
                ids = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    n = len(encoded[i].ids)
                    ids[r, :n], mask[r, :n] = encoded[i].ids, 1
                hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
                weights = mask[..., None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
                vectors[rows] = pooled @ projection
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return [list(map(float, row)) for row in vectors / np.maximum(norms, 1e-12)]


if __name__ == "__main__":  # the export's child process: python -m rag.models.embedder_onnx <source> <out> <runtime>
    _export(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
