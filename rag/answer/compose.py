"""The chain, as named steps (the stages `rag bench` times): guard (a message trying to change the task
is refused) -> rewrite (a follow-up becomes a standalone question) -> retrieve -> prompt -> read (the
model's probability of not finding, from the prompt's forward pass) -> generate (streamed) ->
second_look (when it found nothing) -> language_retry -> verify (citations) -> decide (withhold an
answer the signals of rag/abstain.py speak against) -> Answer.

`stream()` returns a `Response`: iterating it yields the closest sentences at once (rag/answer/evidence.py),
then the model's text as it is generated, and its
`answer` is then the finished, verified `Answer`, which replaces the draft; `ask()` returns only the
`Answer`. The pipeline, not the model, owns citations and abstention. The chain does not know which
backend it has: what it asks beyond text goes through rag/models/reader.py, what the model writes is read
through rag/protocol.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace

from langchain_core.language_models.chat_models import BaseChatModel

from ..abstain import signals_for, top_sentence, withhold
from ..guard import tries_to_instruct
from ..language import detect_language
from ..models.llm import make_reader
from ..models.reader import ModelReader
from ..prompt import (
    BuiltPrompt,
    build_prompt,
    build_second_look_prompt,
    refuse_message,
    select_context,
)
from ..protocol import MARKER, NOT_FOUND, may_become_not_found, says_not_found
from ..retrieval import HybridRetriever
from ..settings import Settings
from ..types import Answer, Citation, Hit, Scope
from ..verify import Verified, Verifier, adds_information
from .evidence import SHOWN, gather
from .formats import evidence_text
from .rewrite import standalone_question
from .trace import Response, Trace, abstention, checked_question, elapsed_ms, sources_of

log = logging.getLogger(__name__)


def _citations(verified: Verified, sources: list[Hit]) -> list[Citation]:
    """One citation per cited source, with the source sentence that supports the first claim citing it."""
    citations: dict[int, Citation] = {}
    for support in verified.supports:
        for number, sentence in support.cited():
            if number in citations:
                continue
            citations[number] = Citation.of(number, sources[number - 1].chunk, sentence)
    return list(citations.values())


class ComposingPipeline:
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
        self, question: str, language: str, history: Sequence[tuple[str, str]], trace: Trace | None = None
    ) -> str:
        return standalone_question(self.chat_model, self.reader, question, language, history, trace)

    def stream(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), scope: Scope | None = None
    ) -> Response:
        """The answer as it is written: iterate for the text deltas, then read `.answer` for the final Answer.

        `history` holds the earlier (question, answer) pairs of the conversation, oldest first. An empty
        or overlong question raises here, before anything is streamed.
        """
        return Response(self._steps(checked_question(question), k, history, scope))

    def _steps(
        self, question: str, k: int | None, history: Sequence[tuple[str, str]], scope: Scope | None = None
    ) -> Generator[str, None, Answer]:
        """The chain's named steps (the stages of `Timings.stages`), yielding the shown text, returning the Answer."""
        trace = Trace(time.perf_counter())
        with trace.step("guard"):
            language = detect_language(question)
            refused = tries_to_instruct(question)
        if refused:
            log.info("refused a message that tries to change the task")
            refusal = abstention(question, language, [], trace.timings())
            return replace(refusal, answer=refuse_message(language))
        with trace.step("rewrite"):
            standalone = self.standalone_question(question, language, history, trace)
        with trace.step("retrieve"):
            hits = self.retriever.search(standalone, k=k or self.settings.k, scope=scope)
        retrieve_ms = int(trace.stages["retrieve"])
        top_dense = max((h.dense_score or 0.0 for h in hits), default=0.0)
        rewritten = standalone if standalone != question else ""
        if not hits or top_dense < self.settings.profile.min_dense_score:
            return abstention(question, language, hits, trace.timings(retrieve_ms=retrieve_ms), standalone=rewritten)
        # the closest sentences reach the reader before the model reads anything; the answer follows them
        trace.evidence_ms = elapsed_ms(trace.started)
        yield evidence_text(gather(hits, SHOWN), language, pending=True) + "\n\n"

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
        generate_ms = elapsed_ms(generate_started)

        with trace.step("verify"):
            verified = None if says_not_found(raw) else self.verifier.verify(raw, prompt.sources)
        if verified is None or not verified.supported or not adds_information(verified.text, standalone):
            timings = trace.timings(retrieve_ms=retrieve_ms, generate_ms=generate_ms)
            return replace(
                abstention(question, language, hits, timings, raw, prompt.sources, rewritten),
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
            sources=sources_of(hits),
            timings=timings,
            raw_answer=raw,
            context_ids=[h.chunk.id for h in prompt.sources],
            second_look=looked_again,
            not_found_probability=p_not_found,
        )
        if reason:
            log.info("answer withheld: %s", reason)
            withheld = abstention(question, language, hits, timings, raw, prompt.sources, rewritten)
            answer = replace(withheld, not_found_probability=p_not_found, abstain_reason=reason, withheld=answer)
        return answer

    def _draft(self, prompt: BuiltPrompt, trace: Trace) -> Generator[str, None, str]:
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
                trace.first_token_ms = elapsed_ms(trace.started)
            yield "".join(parts[shown:])
            shown = len(parts)
        return "".join(parts)

    def ask(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), scope: Scope | None = None
    ) -> Answer:
        return self.stream(question, k=k, history=history, scope=scope).answer
