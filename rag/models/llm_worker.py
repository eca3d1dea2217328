"""The embedded model in a worker process, so that a crash of the native library is a message, not the end.

`WorkerLlama` has LocalLlama's interface (load, stream, opening, last_stats, floor). The model lives in a
child process (`python -m rag.models.llm_worker`); text deltas come back over a socket pair. When the child
dies mid-call (a segfault in llama.cpp, the OOM killer, kill -9), the call raises ModelCrashed naming the signal
and the fix, and a new child is started at once for the next call.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from ..errors import ModelCrashed, ModelUnavailable, RagError
from .copying import Decoded
from .local_llama import CallStats, LlamaOptions, LocalLlama, Message

log = logging.getLogger(__name__)


def serve(conn: Connection) -> None:
    """The child's loop: receive the options, load, then answer requests one at a time until the pipe closes."""
    options: LlamaOptions = conn.recv()
    engine = LocalLlama(options)
    try:
        engine.load()
    except RagError as e:
        conn.send(("unavailable", str(e)))
        return
    conn.send(("ready", {"extra_buffers": engine.extra_buffers}))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        kind = request[0]
        try:
            if kind == "chat":
                _, messages, max_tokens, stop = request
                with contextlib.closing(engine.stream(messages, max_tokens, stop)) as stream:
                    for delta in stream:
                        conn.send(("delta", delta))
                        if conn.poll() and conn.recv()[0] == "cancel":
                            break
                conn.send(("done", engine.last_stats.as_dict()))
            elif kind == "opening":
                logprobs = engine.opening(*request[1:])
                conn.send(("done", (logprobs, engine.last_stats.as_dict())))
            elif kind == "read":
                opening, decoded = engine.read(*request[1:])
                conn.send(("done", (opening, decoded, engine.last_stats.as_dict())))
            elif kind == "floor":
                conn.send(("done", engine.floor(*request[1:])))
        except Exception as e:  # reported to the caller; the worker stays up
            conn.send(("error", f"{e.__class__.__name__}: {e}"))


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"died with {signal.Signals(-code).name}"
        except ValueError:
            return f"died with signal {-code}"
    return f"exited with status {code}"


class WorkerLlama:
    """LocalLlama in a child process; thread-safe (one call at a time), restarted after a crash."""

    def __init__(self, options: LlamaOptions) -> None:
        self.options = options
        self._process: Any = None
        self._conn: Connection | None = None
        self._ready = False
        self._lock = threading.Lock()
        self.extra_buffers: bool | None = None
        self.last_stats = CallStats()
        self.restarts = 0
        atexit.register(self.close)  # the child also exits by itself when its end of the socket closes

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        # a plain child process (`python -m rag.models.llm_worker FD`), not multiprocessing's spawn, which would
        # re-import the caller's main script; the two ends talk over a socket pair
        parent, child = socket.socketpair()
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.models.llm_worker", str(child.fileno())],
            pass_fds=[child.fileno()],
            close_fds=True,
        )
        child.close()
        conn = Connection(parent.detach())
        conn.send(self.options)
        self._process, self._conn, self._ready = process, conn, False

    def _ensure_ready(self) -> Connection:
        if self._process is None or self._process.poll() is not None:
            self._stop()
            self._start()
        assert self._conn is not None
        if not self._ready:
            try:
                kind, payload = self._conn.recv()
            except (EOFError, OSError) as e:
                raise self._crashed("while loading the model") from e
            if kind == "unavailable":
                self._stop()
                raise ModelUnavailable(payload)
            self.extra_buffers = payload.get("extra_buffers")
            self._ready = True
        return self._conn

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=10)
        self._process, self._conn, self._ready = None, None, False

    def _crashed(self, when: str) -> ModelCrashed:
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        how = _describe_exit(code)
        self._stop()
        self.restarts += 1
        self._start()  # the next call finds a fresh worker loading already
        log.error("the model worker %s %s; restarted", how, when)
        return ModelCrashed(
            f"The local model's process {how} {when}. It has been restarted: ask again. If this repeats, "
            "run `rag doctor` (it checks the model on this CPU) and rebuild llama.cpp with `make setup`."
        )

    def load(self) -> None:
        with self._lock:
            self._ensure_ready()

    def _call(self, request: tuple[Any, ...]) -> Generator[tuple[str, Any], None, None]:
        """Send one request and yield its replies until "done"; cancels the rest if the caller stops early."""
        with self._lock:
            conn = self._ensure_ready()
            conn.send(request)
            finished = False
            try:
                while True:
                    try:
                        kind, payload = conn.recv()
                    except (EOFError, OSError) as e:
                        finished = True
                        raise self._crashed("while answering") from e
                    if kind == "error":
                        finished = True
                        raise RagError(f"The local model failed: {payload}")
                    if kind == "done":
                        finished = True
                    yield kind, payload
                    if finished:
                        return
            finally:
                if not finished:
                    self._drain(conn)

    def _drain(self, conn: Connection) -> None:
        try:
            conn.send(("cancel",))
            while conn.recv()[0] not in ("done", "error"):
                pass
        except (EOFError, OSError):
            self._stop()

    def stream(
        self, messages: list[Message], max_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        with contextlib.closing(self._call(("chat", messages, max_tokens, stop))) as replies:
            for kind, payload in replies:
                if kind == "delta":
                    yield payload
                else:
                    self.last_stats = CallStats(**payload)

    def opening(self, messages: list[Message], words: list[str]) -> dict[str, float]:
        result: dict[str, float] = {}
        for _, (logprobs, stats) in self._call(("opening", messages, words)):
            result, self.last_stats = logprobs, CallStats(**stats)
        return result

    def read(
        self,
        messages: list[Message],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int = 1,
        choices: Sequence[str] = (),
    ) -> tuple[dict[str, float], Decoded]:
        result: tuple[dict[str, float], Decoded] = ({}, Decoded(""))
        request = ("read", messages, words, source, max_tokens, starts, tuple(choices))
        for _, (opening, decoded, stats) in self._call(request):
            result, self.last_stats = (opening, decoded), CallStats(**stats)
        return result

    def floor(self, prompt_tokens: int, decode_tokens: int) -> dict[str, float]:
        result: dict[str, float] = {}
        for _, payload in self._call(("floor", prompt_tokens, decode_tokens)):
            result = payload
        return result

    def close(self) -> None:
        with self._lock:
            self._stop()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
