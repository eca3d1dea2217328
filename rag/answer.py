"""The chain: question -> retrieval -> prompt -> LLM (streamed) -> citations -> Answer.

`stream()` yields the model's text as it is generated and then the finished `Answer`; `ask()`
returns only the `Answer`. The pipeline, not the model, owns citations and abstention.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from langchain_core.language_models.chat_models import BaseChatModel

from .citations import attribute_missing, parse_markers, to_citations
from .errors import EmptyQuestion, RagError
from .language import detect_language
from .prompt import NOT_FOUND, abstain_message, build_prompt, select_context
from .retrieval import HybridRetriever
from .settings import Settings
from .types import Answer, Hit, Source, Timings

MAX_QUESTION_CHARS = 2000


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
        )
        for h in hits
    ]


_NOT_FOUND = re.compile(rf"\b{NOT_FOUND}\b|^\W*not[ _]found\W*(\[\d+\]\W*)*$", re.IGNORECASE)


def says_not_found(text: str) -> bool:
    """The model's fixed not-found marker (or nothing at all) means it found no answer.

    Example: "NOT_FOUND", "Not_FOUND [1]" -> True; "The cause was not found by investigators." -> False
    """
    stripped = text.strip()
    return not stripped or bool(_NOT_FOUND.search(stripped))


def _abstention(
    question: str, language: str, hits: list[Hit], timings: Timings, raw: str = "", context: list[Hit] | None = None
) -> Answer:
    """The "not in the articles" answer, in the question's language, with the closest passages."""
    return Answer(
        question=question,
        language=language,
        answer=abstain_message(language),
        abstained=True,
        sources=_sources(hits),
        timings=timings,
        raw_answer=raw,
        context_ids=[h.chunk.id for h in context or []],
    )


class Pipeline:
    """Answers questions over the indexed articles. Build once, call many times (thread-safe)."""

    def __init__(self, settings: Settings, retriever: HybridRetriever, chat_model: BaseChatModel) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model

    def stream(self, question: str, k: int | None = None) -> Iterator[str | Answer]:
        """Yield text deltas as the model writes, then the final Answer."""
        started = time.perf_counter()
        question = " ".join((question or "").split())
        if not question:
            raise EmptyQuestion()
        if len(question) > MAX_QUESTION_CHARS:
            raise RagError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
        language = detect_language(question)
        hits = self.retriever.search(question, k=k or self.settings.k)
        retrieve_ms = _ms(started)
        top_dense = max((h.dense_score or 0.0 for h in hits), default=0.0)
        if not hits or top_dense < self.settings.min_dense_score:
            yield _abstention(question, language, hits, Timings(retrieve_ms=retrieve_ms, total_ms=_ms(started)))
            return

        context = select_context(hits, self.settings.context_k, self.settings.context_tokens)
        prompt = build_prompt(question, language, context)
        parts: list[str] = []
        ttft_ms = 0
        generate_started = time.perf_counter()
        for chunk in self.chat_model.stream(prompt.messages):
            delta = str(chunk.content)
            if not delta:
                continue
            if not parts:
                ttft_ms = _ms(started)
            parts.append(delta)
            yield delta
        generate_ms = _ms(generate_started)
        raw = "".join(parts)
        timings = Timings(retrieve_ms=retrieve_ms, ttft_ms=ttft_ms, generate_ms=generate_ms, total_ms=_ms(started))

        if says_not_found(raw):
            yield _abstention(question, language, hits, timings, raw, prompt.sources)
            return
        parsed = parse_markers(raw, len(prompt.sources))
        if not parsed.markers:
            parsed = attribute_missing(parsed.text, prompt.sources)
        yield Answer(
            question=question,
            language=language,
            answer=parsed.text,
            abstained=False,
            citations=to_citations(parsed.markers, prompt.sources),
            sources=_sources(hits),
            timings=timings,
            raw_answer=raw,
            context_ids=[h.chunk.id for h in prompt.sources],
        )

    def ask(self, question: str, k: int | None = None) -> Answer:
        for item in self.stream(question, k=k):
            if isinstance(item, Answer):
                return item
        raise RuntimeError("the pipeline ended without an answer")  # unreachable: stream always yields one
