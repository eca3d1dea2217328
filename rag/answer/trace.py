"""What every answering chain shares: the trace of where an answer's time goes, the sources it shows,
and the `Response` a caller iterates while the answer is written."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmptyQuestion, RagError
from ..prompt import abstain_message
from ..types import Answer, Hit, Source, Timings

MAX_QUESTION_CHARS = 2000


def checked_question(question: str | None) -> str:
    """The question with its whitespace collapsed; empty or overlong ones raise before anything is shown."""
    question = " ".join((question or "").split())
    if not question:
        raise EmptyQuestion()
    if len(question) > MAX_QUESTION_CHARS:
        raise RagError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question


def elapsed_ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)


def sources_of(hits: list[Hit]) -> list[Source]:
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
class Trace:
    """Where the time of one answer goes: its named steps, the first token shown, the model's counters."""

    started: float
    evidence_ms: int = 0
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
            evidence_ms=self.evidence_ms,
            ttft_ms=self.first_token_ms,
            total_ms=elapsed_ms(self.started),
            llm_calls=len(self.llm),
            prompt_tokens=total("prompt_tokens"),
            prefill_tokens=total("prefill_tokens"),
            completion_tokens=total("completion_tokens"),
            prefill_ms=total("prefill_ms"),
            decode_ms=total("decode_ms"),
            stages={name: int(ms) for name, ms in self.stages.items()},
            **known,
        )


def abstention(
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
        sources=sources_of(hits),
        timings=timings,
        raw_answer=raw,
        context_ids=[h.chunk.id for h in context or []],
    )


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
