"""The embedded model: one llama.cpp context, its speed settings, its prefix cache and its per-call figures.

Free of LangChain so that the model worker process (rag/models/llm_worker.py) starts quickly; rag/models/llm.py
adapts it to LangChain's chat-model interface.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailable
from .copying import TOP_CANDIDATES, Decoded, decode
from .runtime import build_info, cpu_info, model_params, use_extra_buffers

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@dataclass(frozen=True)
class LlamaOptions:
    """How to load and run the model (from Settings; plain data so it can cross to the worker process)."""

    model_path: str
    n_ctx: int = 4096
    threads: int = 2
    threads_batch: int = 0  # 0: as many as `threads`
    n_batch: int = 512
    n_ubatch: int = 512
    flash_attn: bool = False
    extra_buffers: str = "auto"  # "auto" | "on" | "off": llama.cpp's weight-repacking buffer types
    prefix_cache: int = 8  # evaluated system prompts kept (0: only llama.cpp's own reuse of the last prompt)
    lookup_tokens: int = 0  # prompt-lookup speculative decoding: tokens drafted per step (0: off)
    max_tokens: int = 160
    temperature: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class CallStats:
    """What one model call cost, from llama.cpp's own counters."""

    prompt_tokens: int = 0  # tokens of the formatted prompt
    prefill_tokens: int = 0  # of those, evaluated in this call (the rest came from a cached prefix)
    completion_tokens: int = 0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class LocalLlama:
    """A GGUF model run by llama-cpp-python; one call at a time (a lock serializes callers)."""

    def __init__(self, options: LlamaOptions) -> None:
        self.options = options
        self._llama: Any = None
        self._system_format: Any = None  # renders a system message alone, to find the cacheable prefix
        self._prompt_format: Any = None  # renders a conversation up to the assistant's turn
        self._prefixes: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self.extra_buffers = True
        self.last_stats = CallStats()
        self._lock = threading.RLock()

    def load(self) -> None:
        if self._llama is not None:
            return
        path = self.options.model_path
        if not Path(path).is_file():
            raise ModelUnavailable(f"No model file at {path}. Run `rag model` or set RAG_LLM.")
        try:
            from llama_cpp import Llama

            self.extra_buffers = use_extra_buffers(self.options.extra_buffers, build_info(), cpu_info())
            draft = None
            if self.options.lookup_tokens:
                from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

                draft = LlamaPromptLookupDecoding(num_pred_tokens=self.options.lookup_tokens)
            with model_params(self.extra_buffers):
                self._llama = Llama(
                    model_path=path,
                    n_ctx=self.options.n_ctx,
                    n_threads=self.options.threads,
                    n_threads_batch=self.options.threads_batch or self.options.threads,
                    n_batch=self.options.n_batch,
                    n_ubatch=self.options.n_ubatch,
                    flash_attn=self.options.flash_attn,
                    seed=self.options.seed,
                    draft_model=draft,
                    # a draft model needs every position's logits; 0.3.36 turns that on but sizes its score
                    # buffer from this argument, so say it here too
                    logits_all=draft is not None,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelUnavailable(f"llama.cpp could not load {path}: {e}") from e
        if self.options.prefix_cache:
            self._system_format = self._make_format(generation_prompt=False)
        self._prompt_format = self._make_format(generation_prompt=True)

    def _make_format(self, generation_prompt: bool) -> Any:
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._llama._model
        eos, bos = self._llama.token_eos(), self._llama.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=generation_prompt,
        )

    # -- the prefix cache -------------------------------------------------------------------------
    def _system_tokens(self, messages: list[Message]) -> tuple[int, ...]:
        if self._system_format is None or not messages or messages[0]["role"] != "system":
            return ()
        text = self._system_format(messages=messages[:1]).prompt
        return tuple(self._llama.tokenize(text.encode(), add_bos=False, special=True))

    def _restore_prefix(self, messages: list[Message]) -> None:
        """Make the context start with this prompt's system part: already there, restored, or evaluated
        and kept, so prompts of different kinds (languages, rewrite, second look) stop evicting it."""
        prefix = self._system_tokens(messages)
        if not prefix:
            return
        llama = self._llama
        n = len(prefix)
        if llama.n_tokens >= n and tuple(llama._input_ids[:n].tolist()) == prefix:
            return
        ctx = llama._ctx.ctx
        import llama_cpp

        state = self._prefixes.get(prefix)
        if state is not None:
            self._prefixes.move_to_end(prefix)
            buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
            if llama_cpp.llama_state_set_data(ctx, buffer, len(state)) != len(state):
                llama.reset()
                return
        else:
            llama.reset()
            llama.eval(list(prefix))
            size = llama_cpp.llama_state_get_size(ctx)
            buffer = (ctypes.c_uint8 * size)()
            written = llama_cpp.llama_state_get_data(ctx, buffer, size)
            self._prefixes[prefix] = bytes(buffer)[:written]
            while len(self._prefixes) > self.options.prefix_cache:
                self._prefixes.popitem(last=False)
        llama.input_ids[:n] = prefix
        llama.n_tokens = n

    # -- calls ------------------------------------------------------------------------------------
    def stream(
        self, messages: list[Message], max_tokens: int | None = None, stop: list[str] | None = None
    ) -> Generator[str, None, None]:
        """Yield the answer's text as it is generated; `last_stats` holds the call's figures after it."""
        with self._lock:
            yield from self._stream(messages, max_tokens, stop)

    def _stream(
        self, messages: list[Message], max_tokens: int | None, stop: list[str] | None
    ) -> Generator[str, None, None]:
        self.load()
        started = self._begin_call()
        self._restore_prefix(messages)
        completion = self._llama.create_chat_completion(
            messages=messages,
            stream=True,
            temperature=self.options.temperature,
            max_tokens=max_tokens or self.options.max_tokens,
            seed=self.options.seed,
            stop=stop or [],
        )
        yield from self._deltas((part["choices"][0]["delta"].get("content") for part in completion), started)

    def _begin_call(self) -> float:
        import llama_cpp

        # llama.cpp books a decode's time when the context next synchronizes: wait for any earlier work
        # here, or it would be counted (with the idle time since) as this call's
        llama_cpp.llama_synchronize(self._llama._ctx.ctx)
        llama_cpp.llama_perf_context_reset(self._llama._ctx.ctx)
        return time.perf_counter()

    def _deltas(self, texts: Iterator[str | None], started: float) -> Generator[str, None, None]:
        """Pass on the non-empty text pieces, then keep the call's figures in `last_stats`."""
        import llama_cpp

        llama = self._llama
        pieces = 0
        try:
            for delta in texts:
                if delta:
                    pieces += 1
                    yield delta
        finally:
            perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
            decoded = int(perf.n_eval)
            self.last_stats = CallStats(
                prompt_tokens=max(int(llama.n_tokens) - decoded, 0),
                prefill_tokens=int(perf.n_p_eval),
                completion_tokens=decoded + 1 if pieces else decoded,
                prefill_ms=round(float(perf.t_p_eval_ms), 1),
                decode_ms=round(float(perf.t_eval_ms), 1),
                total_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def opening(self, messages: list[Message], words: list[str]) -> dict[str, float]:
        """Evaluate the prompt once and read the log-probability that the reply opens with each word's first
        token (over the whole vocabulary). No token is generated; the evaluated prompt stays in the context,
        so a `stream` of the same messages then costs about one token of prefill.
        """
        with self._lock:
            return self._opening(messages, words)

    def _opening(self, messages: list[Message], words: list[str]) -> dict[str, float]:
        self.load()
        started = self._begin_call()
        tokens, logprobs = self._evaluate(messages)
        self._book(len(tokens), started)
        return {word: float(logprobs[self._first_token(word)]) for word in words}

    def _evaluate(self, messages: list[Message]) -> tuple[list[int], Any]:
        """Evaluate the prompt (reusing what the context holds): its tokens, the next token's log-probabilities."""
        self.load()
        llama = self._llama
        if self._prompt_format is None:
            raise ModelUnavailable("This model has no chat template: its reply's opening cannot be read.")
        self._restore_prefix(messages)
        prompt = self._prompt_format(messages=messages).prompt
        tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
        # keep what the context already holds of this prompt; evaluate at least the last token for its logits
        cached = 0
        for held, wanted in zip(llama._input_ids[: llama.n_tokens].tolist(), tokens[:-1], strict=False):
            if held != wanted:
                break
            cached += 1
        llama.n_tokens = cached
        llama.eval(tokens[cached:])
        return tokens, self._next_logprobs()

    def _next_logprobs(self) -> Any:
        import llama_cpp
        import numpy as np

        llama = self._llama
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1), shape=(llama.n_vocab(),))
        logits = logits.astype(np.float64)
        top = logits.max()
        return logits - (top + np.log(np.exp(logits - top).sum()))

    def _book(self, prompt_tokens: int, started: float, completion_tokens: int = 0) -> None:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(self._llama._ctx.ctx)
        self.last_stats = CallStats(
            prompt_tokens=prompt_tokens,
            prefill_tokens=int(perf.n_p_eval),
            completion_tokens=completion_tokens,
            prefill_ms=round(float(perf.t_p_eval_ms), 1),
            decode_ms=round(float(perf.t_eval_ms), 1),
            total_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def read(
        self,
        messages: list[Message],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int = 1,
        choices: Sequence[str] = (),
    ) -> tuple[dict[str, float], Decoded]:
        """One pass over the prompt: the log-probability that the reply opens with each word (as `opening`),
        then the reply decoded greedily, copying from `source` when one is given (rag/models/copying.py), never opening
        with the first of `words` (a marker read as a signal, not taken as a reply); with `starts` > 1, that
        many first tokens are tried and the span likeliest as a whole is kept; with `choices`, the reply is one
        of them."""
        with self._lock:
            return self._read(messages, words, source, max_tokens, starts, choices)

    def _read(
        self,
        messages: list[Message],
        words: list[str],
        source: str | None,
        max_tokens: int,
        starts: int,
        choices: Sequence[str],
    ) -> tuple[dict[str, float], Decoded]:
        import numpy as np

        self.load()
        started = self._begin_call()
        tokens, first = self._evaluate(messages)
        opening = {word: float(first[self._first_token(word)]) for word in words}
        llama = self._llama
        # the reply tokens the context holds after the prompt, and the next-token log-probabilities after
        # each of their prefixes (so a second start, rolled back to a shared prefix, is not evaluated again)
        held: list[int] = []
        after: dict[tuple[int, ...], Any] = {(): first}

        def candidates(reply: list[int]) -> list[tuple[int, float]]:
            key = tuple(reply)
            if key not in after:
                common = 0
                while common < min(len(held), len(reply)) and held[common] == reply[common]:
                    common += 1
                llama.n_tokens = len(tokens) + common  # roll back to the shared prefix, then read on
                del held[common:]
                llama.eval(reply[common:])
                held.extend(reply[common:])
                after[key] = self._next_logprobs()
            logprobs = after[key]
            best = np.argpartition(-logprobs, TOP_CANDIDATES)[:TOP_CANDIDATES]
            best = best[np.argsort(-logprobs[best])]
            return [(int(t), float(logprobs[t])) for t in best]

        ends = {llama.token_eos(), *self._end_tokens()}
        marker = words[0] if words else ""
        piece = llama.detokenize
        decoded = decode(
            candidates, lambda t: piece([t]), ends, source, max_tokens, not_first=marker, starts=starts, choices=choices
        )
        self._book(len(tokens), started, len(decoded.logprobs))
        return opening, decoded

    def _end_tokens(self) -> list[int]:
        ids = self._llama.tokenize(b"<|im_end|>", add_bos=False, special=True)
        return ids if len(ids) == 1 else []

    def _first_token(self, word: str) -> int:
        ids = self._llama.tokenize(word.encode(), add_bos=False, special=False)
        if not ids:
            raise ValueError(f"{word!r} has no tokens")
        return int(ids[0])

    def floor(self, prompt_tokens: int, decode_tokens: int) -> dict[str, float]:
        """The bare speed of this build on this CPU: `eval` of `prompt_tokens` tokens in one go, then
        `decode_tokens` single-token evals, with nothing else around them (tokens/s)."""
        with self._lock:
            return self._floor(prompt_tokens, decode_tokens)

    def _floor(self, prompt_tokens: int, decode_tokens: int) -> dict[str, float]:
        import llama_cpp

        self.load()
        llama = self._llama
        text = ("Il 9 dicembre 2025 Renault e Ford hanno firmato un accordo a Parigi. " * 200).encode()
        tokens = llama.tokenize(text, add_bos=False)[:prompt_tokens]
        ctx = llama._ctx.ctx
        llama.reset()
        started = time.perf_counter()
        llama.eval(tokens)
        llama_cpp.llama_synchronize(ctx)
        prefill_s = time.perf_counter() - started
        decoded = min(decode_tokens, len(tokens))
        started = time.perf_counter()
        for token in tokens[:decoded]:
            llama.eval([token])
            llama_cpp.llama_synchronize(ctx)  # as generation does: each token waits for the one before
        decode_s = time.perf_counter() - started
        llama.reset()
        figures = {"prompt_tokens": len(tokens), "prefill_tokens_per_s": round(len(tokens) / prefill_s, 1)}
        if decoded:
            figures |= {"decode_tokens": decoded, "decode_tokens_per_s": round(decoded / decode_s, 1)}
        return figures
