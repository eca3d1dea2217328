"""The machine under the local model: CPU features, the llama.cpp build, and a cached health check.

llama.cpp built with AMX (Intel Xeon 4th gen and later) repacks Q4_K/Q6_K weights into its AMX buffer
type at load and crashes in `llama_decode` (llama-cpp-python 0.3.36). `make setup` builds without AMX
(`-mno-amx-*`, AVX-512 and the CPU repack of Q4_K kept); a wheel built elsewhere with AMX on a CPU that
has it is loaded without the extra buffer types instead (`use_extra_bufts = false`), slower but sound.

The health check loads the model and evaluates one token in a child process, so a native crash is a
report, not the end of the caller. Its result is cached per library build, model file and CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailable

# the CPU features that decide which llama.cpp kernels can run (x86 /proc/cpuinfo flags, ARM Features)
NOTABLE_FEATURES = (
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "bf16",
)  # fmt: skip
AMX_FEATURES = ("amx_tile", "amx_int8", "amx_bf16")
BUILD_FILE = "llama-build.txt"  # written into the virtualenv by `make setup`: the flags the wheel was built with
CHECK_TIMEOUT_S = 180


@dataclass(frozen=True)
class CpuInfo:
    model: str
    machine: str
    features: tuple[str, ...]  # the notable ones present

    @property
    def has_amx(self) -> bool:
        return any(f in self.features for f in AMX_FEATURES)

    def describe(self) -> str:
        return f"{self.model} ({self.machine}; {' '.join(self.features) or 'no SIMD extensions found'})"


def cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """The CPU's model name and notable features, from /proc/cpuinfo where there is one."""
    if cpuinfo is None:
        cpuinfo = _read("/proc/cpuinfo")
    model, flags = "", set[str]()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return CpuInfo(
        model=model or platform.processor() or "unknown CPU",
        machine=platform.machine(),
        features=tuple(f for f in NOTABLE_FEATURES if f in flags),
    )


def cpu_fingerprint(cpuinfo: str | None = None) -> str:
    """A short hash of everything that decides which kernels run: the model name and all flags."""
    text = cpuinfo if cpuinfo is not None else _read("/proc/cpuinfo")
    info = cpu_info(text)
    flags = next((line for line in text.splitlines() if line.lower().startswith(("flags", "features"))), "")
    return hashlib.sha256(f"{info.model}\n{info.machine}\n{flags}".encode()).hexdigest()[:16]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class BuildInfo:
    version: str  # llama-cpp-python's
    system_info: str  # what the library says it was compiled with ("AVX2 = 1 | ... | AMX_INT8 = 1")
    flags: str  # the flags `make setup` built it with, or "" for a wheel from elsewhere
    library: str  # the shared library's path

    @property
    def has_amx(self) -> bool:
        return "AMX_INT8 = 1" in self.system_info

    def compiled_features(self) -> list[str]:
        """The features the CPU backend was compiled for: "AVX2 = 1 | F16C = 1" -> ["AVX2", "F16C"]."""
        found = []
        for part in self.system_info.replace("|", "\n").splitlines():
            name, _, value = part.partition("=")
            if value.strip() == "1":
                found.append(name.rpartition(":")[2].strip())  # "CPU : SSE3" -> "SSE3"
        return list(dict.fromkeys(found))


def llama_library_dir() -> Path:
    import llama_cpp

    return Path(llama_cpp.__file__).parent / "lib"


def build_info() -> BuildInfo:
    """What the installed llama-cpp-python was compiled with (loads the library, not a model)."""
    try:
        import llama_cpp
    except Exception as e:  # an ImportError, or an OSError from a library built for another CPU
        raise ModelUnavailable(f"llama-cpp-python cannot be imported: {e}. Rebuild it with `make setup`.") from e
    llama_cpp.llama_backend_init()
    system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    flags_file = Path(sys.prefix) / BUILD_FILE
    flags = flags_file.read_text().strip() if flags_file.is_file() else ""
    return BuildInfo(llama_cpp.__version__, system_info, flags, str(llama_library_dir()))


def use_extra_buffers(setting: str, build: BuildInfo, cpu: CpuInfo) -> bool:
    """Whether to load with llama.cpp's extra buffer types (weight repacking for faster matmuls).

    "auto" keeps them except where the library was compiled with AMX and the CPU has AMX: that is the
    path that repacks into AMX tiles and crashes. Example: ("auto", AMX build, Xeon with amx_int8) -> False
    """
    if setting in ("on", "off"):
        return setting == "on"
    return not (build.has_amx and cpu.has_amx)


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _llama_call_patched(name: str, wrap: Callable[[Callable[[], Any]], Callable[[], Any]]) -> Iterator[None]:
    """Replace one function of `llama_cpp.llama_cpp`, the module `Llama()` calls, by `wrap(original)` for the
    duration of the block (the package's re-export of it is another name that `Llama()` never reads)."""
    import llama_cpp.llama_cpp as low

    with _PARAMS_LOCK:
        original = getattr(low, name)
        setattr(low, name, wrap(original))
        try:
            yield
        finally:
            setattr(low, name, original)


def model_params(use_extra_bufts: bool) -> contextlib.AbstractContextManager[None]:
    """Load llama models with `use_extra_bufts` set as given, for the duration of the block.

    `Llama()` takes no keyword for it (0.3.36 ignores unknown keywords), so the default-params
    function it calls is wrapped while the model loads.
    """

    def wrap(original: Callable[[], Any]) -> Callable[[], Any]:
        def patched() -> Any:
            params = original()
            params.use_extra_bufts = use_extra_bufts
            return params

        return patched

    return _llama_call_patched("llama_model_default_params", wrap)


def parallel_sequences(most: int) -> contextlib.AbstractContextManager[None]:
    """Create llama contexts for at most `most` sequences at once, for the duration of the block.

    An embedding `Llama()` sizes its context for as many sequences as llama.cpp allows (256), and with them an
    output buffer of 1 MB per sequence that an embedding model never fills (its vocabulary's logits).
    """
    return _llama_call_patched("llama_max_parallel_sequences", lambda original: lambda: min(most, original()))


def quiet_numpy_threads() -> None:
    """Let the BLAS under numpy (OpenBLAS) compute on one thread in this process; other thread pools keep theirs.

    A search's numpy products are small (hundreds of vectors), but OpenBLAS's worker threads go on spinning
    after each one and take a core from the threads that embed the next question: at 100,000 chunks llama.cpp's
    one question took 109 ms instead of 42 after a year-scoped search, and a whole search's p50 went from
    82 to 160 ms (Intel Xeon, 2 cores). Without threadpoolctl nothing changes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


# -- the health check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    detail: str  # what happened, in one line
    cpu: str
    build: str
    extra_buffers: bool
    amx_buffers: bool  # the load placed weights in the AMX buffer type
    load_ms: int = 0
    token_ms: int = 0
    checked_at: str = ""


def _library_key(build: BuildInfo) -> str:
    parts = []
    for path in sorted(Path(build.library).glob("*.so*")) + sorted(Path(build.library).glob("*.dylib")):
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join([build.version, build.flags, *parts])


def _model_key(model_path: Path) -> str:
    stat = model_path.stat()
    return f"{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def health_key(model_path: Path, build: BuildInfo, extra_buffers: bool) -> str:
    """One key per library build, model file, CPU and load mode."""
    text = "\n".join([_library_key(build), _model_key(model_path), cpu_fingerprint(), str(extra_buffers)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cache_file(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "health" / f"{key}.json"


def cached_health(cache_dir: Path, key: str) -> HealthReport | None:
    try:
        return HealthReport(**json.loads(_cache_file(cache_dir, key).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def check_model(
    model_path: Path, cache_dir: Path, extra_buffers_setting: str = "auto", threads: int = 2, fresh: bool = False
) -> HealthReport:
    """Load the model and evaluate one token in a child process; the result is cached (see health_key)."""
    build = build_info()
    cpu = cpu_info()
    extra = use_extra_buffers(extra_buffers_setting, build, cpu)
    key = health_key(model_path, build, extra)
    if not fresh and (known := cached_health(cache_dir, key)) is not None:
        return known
    command = [sys.executable, "-m", "rag.models.runtime", str(model_path), "on" if extra else "off", str(threads)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return HealthReport(False, f"no token within {CHECK_TIMEOUT_S} s", cpu.describe(), _build_line(build), extra,
                            False)  # fmt: skip
    result: dict[str, Any] = {}
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            result = json.loads(line)
            break
    if done.returncode < 0:
        detail = (
            f"the model process died with {_signal_name(done.returncode)} after "
            f"{int((time.perf_counter() - started) * 1000)} ms"
        )
    elif done.returncode != 0 or not result.get("ok"):
        detail = result.get("error") or (done.stderr.strip().splitlines() or ["exit " + str(done.returncode)])[-1]
    else:
        detail = "loaded and evaluated one token"
    report = HealthReport(
        ok=done.returncode == 0 and bool(result.get("ok")),
        detail=detail,
        cpu=cpu.describe(),
        build=_build_line(build),
        extra_buffers=extra,
        amx_buffers=bool(result.get("amx_buffers")),
        load_ms=int(result.get("load_ms", 0)),
        token_ms=int(result.get("token_ms", 0)),
        checked_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    target = _cache_file(cache_dir, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(report), indent=2) + "\n")
    os.replace(tmp, target)
    return report


def _build_line(build: BuildInfo) -> str:
    flags = f"; built with {build.flags}" if build.flags else "; a wheel not built by make setup"
    return f"llama-cpp-python {build.version} ({' '.join(build.compiled_features())}{flags})"


def crash_hint(report: HealthReport) -> str:
    """The fix to suggest when the local model cannot run here."""
    return (
        f"The local model cannot run on this machine: {report.detail}. CPU: {report.cpu}. Build: {report.build}. "
        "Rebuild llama.cpp for this CPU with `make setup` (it builds without AMX), or set RAG_LLM_EXTRA_BUFFERS=off, "
        "or point RAG_LLM at an OpenAI-compatible or Ollama server."
    )


# -- the child side ----------------------------------------------------------------------------------


class LoadLog:
    """Collects llama.cpp's log lines while a model loads (to see which buffer types took the weights)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._callback: Any = None

    def __enter__(self) -> LoadLog:
        import llama_cpp

        def collect(level: int, text: bytes, user_data: Any) -> None:
            self.lines.append(text.decode(errors="replace"))

        self._callback = llama_cpp.llama_log_callback(collect)
        llama_cpp.llama_log_set(self._callback, None)
        return self

    def __exit__(self, *exc: object) -> None:
        import ctypes

        import llama_cpp
        from llama_cpp import _logger

        # back to llama-cpp-python's own logger (our callback object is kept alive until then)
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))

    @property
    def amx_buffers(self) -> bool:
        """The weights went to the AMX buffer type ("AMX model buffer size", "amx repack tensor")."""
        text = "".join(self.lines)
        return "AMX model buffer" in text or "amx repack" in text.lower()


def _check_in_child(model_path: str, extra: str, threads: int) -> dict[str, Any]:
    from llama_cpp import Llama

    started = time.perf_counter()
    with LoadLog() as log, model_params(extra == "on"):
        llama = Llama(model_path=model_path, n_ctx=256, n_threads=threads, n_batch=64, verbose=False)
    loaded = time.perf_counter()
    llama.eval(llama.tokenize(b"Ciao", add_bos=False)[:1])
    done = time.perf_counter()
    return {
        "ok": True,
        "amx_buffers": log.amx_buffers,
        "load_ms": int((loaded - started) * 1000),
        "token_ms": int((done - loaded) * 1000),
    }


def main(argv: list[str]) -> int:
    """`python -m rag.models.runtime MODEL on|off THREADS`: the health check's child. Prints one JSON line."""
    model_path, extra, threads = argv[0], argv[1], int(argv[2])
    try:
        result = _check_in_child(model_path, extra, threads)
    except Exception as e:  # reported to the parent, which names the fix
        result = {"ok": False, "error": f"{e.__class__.__name__}: {e}"}
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
