"""The chain, as named steps (the stages `rag bench` times): guard (a message trying to change the task
is refused) -> rewrite (a follow-up becomes a standalone question) -> retrieve -> prompt -> read (the
model's probability of not finding, from the prompt's forward pass) -> generate (streamed) ->
second_look (when it found nothing) -> language_retry -> verify (citations) -> decide (withhold an
answer the signals of rag/abstain.py speak against) -> Answer.

`stream()` returns a `Response`: iterating it yields the model's text as it is generated, and its
`answer` is then the finished, verified `Answer`, which replaces the draft; `ask()` returns only the
`Answer`. The pipeline, not the model, owns citations and abstention. The chain does not know which
backend it has: what it asks beyond text goes through rag/reader.py, what the model writes is read
through rag/protocol.py.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from .abstain import signals_for, top_sentence, withhold
from .errors import EmptyQuestion, RagError
from .followup import leans_on_history
from .guard import tries_to_instruct
from .language import detect_language
from .llm import make_reader
from .prompt import (
    BuiltPrompt,
    abstain_message,
    build_prompt,
    build_rewrite_prompt,
    build_second_look_prompt,
    refuse_message,
    select_context,
)
from .protocol import MARKER, NOT_FOUND, may_become_not_found, says_not_found
from .reader import ModelReader
from .retrieval import HybridRetriever
from .settings import Settings
from .types import Answer, Citation, Hit, Source, Timings
from .verify import Verified, Verifier, adds_information

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
REWRITE_MAX_TOKENS = 48


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)


def _sources(hits: list[Hit]) -> list[Source]:
    return [
        Source(
            rank=h.rank,
            chunk_id=h.chunk.id,
            article_id=h.chunk.article_id,
            title=h.chunk.title,
            score=h.score,
            text=h.chunk.text,
            sentence=h.best_sentence,
            sentence_score=h.sentence_score,
        )
        for h in hits
    ]


@dataclass
class _Trace:
    """Where the time of one answer goes: its named steps, the first token shown, the model's counters."""

    started: float
    first_token_ms: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    llm: list[dict[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + (time.perf_counter() - began) * 1000

    def record(self, message: Any) -> None:
        """Keep a model call's figures (sent by our llama.cpp backend in `response_metadata`)."""
        self.record_stats((getattr(message, "response_metadata", None) or {}).get("llm_stats"))

    def record_stats(self, stats: dict[str, float] | None) -> None:
        if stats:
            self.llm.append(stats)

    def timings(self, **known: int) -> Timings:
        def total(key: str) -> int:
            return int(sum(call.get(key, 0) for call in self.llm))

        return Timings(
            ttft_ms=self.first_token_ms,
            total_ms=_ms(self.started),
            llm_calls=len(self.llm),
            prompt_tokens=total("prompt_tokens"),
            prefill_tokens=total("prefill_tokens"),
            completion_tokens=total("completion_tokens"),
            prefill_ms=total("prefill_ms"),
            decode_ms=total("decode_ms"),
            stages={name: int(ms) for name, ms in self.stages.items()},
            **known,
        )


def _abstention(
    question: str,
    language: str,
    hits: list[Hit],
    timings: Timings,
    raw: str = "",
    context: list[Hit] | None = None,
    standalone: str = "",
) -> Answer:
    """The "not in the articles" answer, in the question's language, with the closest passages."""
    return Answer(
        question=question,
        standalone_question=standalone,
        language=language,
        answer=abstain_message(language),
        abstained=True,
        sources=_sources(hits),
        timings=timings,
        raw_answer=raw,
        context_ids=[h.chunk.id for h in context or []],
    )


def _citations(verified: Verified, sources: list[Hit]) -> list[Citation]:
    """One citation per cited source, with the source sentence that supports the first claim citing it."""
    citations: dict[int, Citation] = {}
    for support in verified.supports:
        for number, sentence in support.cited():
            if number in citations:
                continue
            chunk = sources[number - 1].chunk
            citations[number] = Citation(
                marker=number,
                article_id=chunk.article_id,
                title=chunk.title,
                date=chunk.date,
                publication=chunk.publication,
                chunk_id=chunk.id,
                text=chunk.text,
                sentence=sentence,
            )
    return list(citations.values())


class Pipeline:
    """Answers questions over the indexed articles. Build once, call many times (thread-safe)."""

    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        chat_model: BaseChatModel,
        verifier: Verifier,
        reader: ModelReader | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model
        self.verifier = verifier
        self.reader = reader or make_reader(chat_model)

    def standalone_question(
        self, question: str, language: str, history: Sequence[tuple[str, str]], trace: _Trace | None = None
    ) -> str:
        """The latest message rewritten to stand alone, using the conversation so far.

        Unchanged without history, or when the message does not lean on it (rag/followup.py).
        """
        if not history or not leans_on_history(question):
            return question
        messages = build_rewrite_prompt(question, language, list(history))
        reply = self.chat_model.invoke(messages, **self.reader.limit(REWRITE_MAX_TOKENS))
        if trace is not None:
            trace.record(reply)
        text = str(reply.content)
        rewritten = " ".join(text.strip().strip('"«»').split())
        rewritten = re.sub(r"^(domanda|question)\s*:\s*", "", rewritten, flags=re.IGNORECASE)
        if not rewritten or len(rewritten) > 4 * len(question) + 200 or says_not_found(rewritten):
            return question
        return rewritten

    def stream(self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = ()) -> Response:
        """The answer as it is written: iterate for the text deltas, then read `.answer` for the final Answer.

        `history` holds the earlier (question, answer) pairs of the conversation, oldest first. An empty
        or overlong question raises here, before anything is streamed.
        """
        question = " ".join((question or "").split())
        if not question:
            raise EmptyQuestion()
        if len(question) > MAX_QUESTION_CHARS:
            raise RagError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
        return Response(self._steps(question, k, history))

    def _steps(self, question: str, k: int | None, history: Sequence[tuple[str, str]]) -> Generator[str, None, Answer]:
        """The chain's named steps (the stages of `Timings.stages`), yielding the shown text, returning the Answer."""
        trace = _Trace(time.perf_counter())
        with trace.step("guard"):
            language = detect_language(question)
            refused = tries_to_instruct(question)
        if refused:
            log.info("refused a message that tries to change the task")
            refusal = _abstention(question, language, [], trace.timings())
            return replace(refusal, answer=refuse_message(language))
        with trace.step("rewrite"):
            standalone = self.standalone_question(question, language, history, trace)
        with trace.step("retrieve"):
            hits = self.retriever.search(standalone, k=k or self.settings.k)
        retrieve_ms = int(trace.stages["retrieve"])
        top_dense = max((h.dense_score or 0.0 for h in hits), default=0.0)
        rewritten = standalone if standalone != question else ""
        if not hits or top_dense < self.settings.profile.min_dense_score:
            return _abstention(question, language, hits, trace.timings(retrieve_ms=retrieve_ms), standalone=rewritten)

        sentences = self.settings.context_sentences
        closest = self.settings.prompt_sentences
        with trace.step("prompt"):
            context = select_context(hits, self.settings.context_k, self.settings.context_tokens, sentences)

            def prompt_for(firm_language: bool = False) -> BuiltPrompt | None:
                if closest:
                    return build_second_look_prompt(standalone, language, hits, closest, firm_language)
                return build_prompt(standalone, language, context, firm_language=firm_language, sentences=sentences)

            make_prompt: Callable[[bool], BuiltPrompt | None] = prompt_for
            prompt = prompt_for() or build_prompt(standalone, language, context, sentences=sentences)
        with trace.step("read"):
            # the model's own confidence that the passages do not answer, from the prompt's forward pass
            opening = self.reader.opening(prompt.messages, [NOT_FOUND])
            trace.record_stats(self.reader.last_stats)
        p_not_found = opening.get(NOT_FOUND) if opening is not None else None
        generate_started = time.perf_counter()
        with trace.step("generate"):
            raw = yield from self._draft(prompt, trace)
        look = 0 if closest else self.settings.second_look_sentences
        looked_again = False
        if may_become_not_found(raw) and look:
            # a long prompt can hide the one sentence that answers: ask again over only the closest ones
            def second_look(firm_language: bool = False) -> BuiltPrompt | None:
                return build_second_look_prompt(standalone, language, hits, look, firm_language)

            with trace.step("second_look"):
                second = second_look()
                if second is not None:
                    log.info("no answer found; a second look over the %d closest sentences", look)
                    again = yield from self._draft(second, trace)
                    if not says_not_found(again):
                        raw, prompt, make_prompt, looked_again = again, second, second_look, True
        if not says_not_found(raw) and detect_language(MARKER.sub("", raw), default=language) != language:
            retry = make_prompt(True)
            if retry is not None:
                log.info("answer not in %s; asking once more, more firmly", language)
                with trace.step("language_retry"):
                    reply = self.chat_model.invoke(retry.messages)
                    trace.record(reply)
                    raw = str(reply.content)
        generate_ms = _ms(generate_started)

        with trace.step("verify"):
            verified = None if says_not_found(raw) else self.verifier.verify(raw, prompt.sources)
        if verified is None or not verified.supported or not adds_information(verified.text, standalone):
            timings = trace.timings(retrieve_ms=retrieve_ms, generate_ms=generate_ms)
            return replace(
                _abstention(question, language, hits, timings, raw, prompt.sources, rewritten),
                not_found_probability=p_not_found,
            )
        citations = _citations(verified, prompt.sources)
        with trace.step("decide"):
            by_id = {h.chunk.id: h.chunk for h in prompt.sources}
            cited = [(by_id[c.chunk_id], c.sentence or "") for c in citations]
            best = top_sentence(h.sentence_score for h in hits)
            signals = signals_for(standalone, p_not_found, best, [h.chunk for h in hits], cited)
            reason = withhold(signals, self.settings.abstain_policy)
        timings = trace.timings(retrieve_ms=retrieve_ms, generate_ms=generate_ms)
        answer = Answer(
            question=question,
            standalone_question=rewritten,
            language=language,
            answer=verified.text,
            abstained=False,
            citations=citations,
            sources=_sources(hits),
            timings=timings,
            raw_answer=raw,
            context_ids=[h.chunk.id for h in prompt.sources],
            second_look=looked_again,
            not_found_probability=p_not_found,
        )
        if reason:
            log.info("answer withheld: %s", reason)
            abstention = _abstention(question, language, hits, timings, raw, prompt.sources, rewritten)
            answer = replace(abstention, not_found_probability=p_not_found, abstain_reason=reason, withheld=answer)
        return answer

    def _draft(self, prompt: BuiltPrompt, trace: _Trace) -> Generator[str, None, str]:
        """Stream the model's answer to `prompt`, holding back a draft that may be only the not-found
        marker (the reader never sees "NOT_FOUND"); returns the whole text."""
        parts: list[str] = []
        shown = 0
        for chunk in self.chat_model.stream(prompt.messages):
            trace.record(chunk)
            delta = str(chunk.content)
            if not delta:
                continue
            parts.append(delta)
            if shown == 0 and may_become_not_found("".join(parts)):
                continue
            if not trace.first_token_ms:
                trace.first_token_ms = _ms(trace.started)
            yield "".join(parts[shown:])
            shown = len(parts)
        return "".join(parts)

    def ask(self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = ()) -> Answer:
        return self.stream(question, k=k, history=history).answer


class Response:
    """An answer being written. Iterating yields the text as the reader may see it (the draft); `answer`
    then holds the final, verified Answer, which replaces the draft (reading it first runs the rest)."""

    def __init__(self, steps: Generator[str, None, Answer]) -> None:
        self._steps = steps
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        if self._answer is None:
            self._answer = yield from self._steps

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None  # the steps always return an Answer
        return self._answer
