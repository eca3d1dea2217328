"""The extracting reader, as named steps over one small state: guard -> rewrite -> retrieve -> gather
(the closest sentences, shown at once) -> read (one pass: the not-found probability, then a span copied
from the sentences; measured options: a choice among the evidence's dates, amounts or names when the
question asks for one, rag/answer/kinds.py, or each sentence read alone) -> locate (the sentence it came
from; a part of a date or scaled number is widened to the whole) -> translate (an English question over
an Italian span) -> check (RAG_READER_CHECK, on: the model asked yes or no whether the cited sentence gives
the span as the answer) -> decide (rag/answer/decision.py) -> the Answer, built in one place.

The model proposes; it never decides. `stream()` returns a `Response` whose first text is the evidence
placeholder, replaced by the final Answer once the model has read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace

from langchain_core.language_models.chat_models import BaseChatModel

from ..abstain import signals_for
from ..dates import whole_expression
from ..guard import tries_to_instruct
from ..language import detect_language
from ..models.copying import Decoded
from ..models.llm import make_reader
from ..models.reader import ModelReader
from ..prompt import refuse_message
from ..protocol import NOT_FOUND
from ..retrieval import HybridRetriever
from ..settings import Settings
from ..types import Answer, Hit, Scope
from ..verify import adds_information
from . import formats
from .decision import ABSTAIN, ANSWER, EVIDENCE, Decision, ReaderPolicy, ReadSignals, decide
from .evidence import SHOWN, Evidence, copy_source, gather, locate
from .kinds import ANY, choices_for, expected_kind, spans_of
from .rewrite import standalone_question
from .trace import Response, Trace, abstention, checked_question, elapsed_ms

log = logging.getLogger(__name__)


@dataclass
class _State:
    """What one question has gathered so far, step by step."""

    question: str
    language: str
    trace: Trace
    standalone: str = ""
    hits: list[Hit] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    not_found: float | None = None
    kind: str = ANY
    choices: list[str] = field(default_factory=list)
    not_found_each: list[float] = field(default_factory=list)
    chosen: Evidence | None = None  # the sentence the span was read from, when each was read alone
    decoded: Decoded = field(default_factory=lambda: Decoded(""))
    span: str = ""
    support: Evidence | None = None
    short: str = ""
    supported: float | None = None
    signals: ReadSignals | None = None
    decision: Decision = field(default_factory=lambda: Decision(ABSTAIN))

    @property
    def rewritten(self) -> str:
        return self.standalone if self.standalone != self.question else ""


class ExtractingPipeline:
    """Answers questions over the indexed articles with a copied span. Build once, call many times."""

    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        chat_model: BaseChatModel,
        reader: ModelReader | None = None,
        policy: ReaderPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model
        self.reader = reader or make_reader(chat_model)
        self.policy = policy or settings.reader_policy

    def stream(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), scope: Scope | None = None
    ) -> Response:
        """The evidence at once, then the Answer: iterate for the shown text, then read `.answer`.

        An empty or overlong question raises here, before anything is shown.
        """
        return Response(self._steps(checked_question(question), k, history, scope))

    def ask(
        self, question: str, k: int | None = None, history: Sequence[tuple[str, str]] = (), scope: Scope | None = None
    ) -> Answer:
        return self.stream(question, k=k, history=history, scope=scope).answer

    def _steps(
        self, question: str, k: int | None, history: Sequence[tuple[str, str]], scope: Scope | None = None
    ) -> Generator[str, None, Answer]:
        state = _State(question, "", Trace(time.perf_counter()))
        if self._guard(state):
            refusal = abstention(question, state.language, [], state.trace.timings())
            return replace(refusal, answer=refuse_message(state.language), outcome=ABSTAIN)
        self._rewrite(state, history)
        self._retrieve(state, k, scope)
        if not self._relevant(state):
            return self._build(state)
        self._gather(state)
        state.trace.evidence_ms = elapsed_ms(state.trace.started)
        yield formats.evidence_text(state.evidence, state.language, pending=True)
        self._read(state)
        self._locate(state)
        self._translate(state)
        self._check(state)
        self._decide(state)
        return self._build(state)

    # -- the steps ---------------------------------------------------------------------------------
    def _guard(self, state: _State) -> bool:
        with state.trace.step("guard"):
            state.language = detect_language(state.question)
            refused = tries_to_instruct(state.question)
        if refused:
            log.info("refused a message that tries to change the task")
        return refused

    def _rewrite(self, state: _State, history: Sequence[tuple[str, str]]) -> None:
        with state.trace.step("rewrite"):
            state.standalone = standalone_question(
                self.chat_model, self.reader, state.question, state.language, history, state.trace
            )

    def _retrieve(self, state: _State, k: int | None, scope: Scope | None) -> None:
        with state.trace.step("retrieve"):
            state.hits = self.retriever.search(state.standalone, k=k or self.settings.k, scope=scope)

    def _relevant(self, state: _State) -> bool:
        """Is anything retrieved close enough to ask the model at all?"""
        top_dense = max((h.dense_score or 0.0 for h in state.hits), default=0.0)
        if not state.hits or top_dense < self.settings.profile.min_dense_score:
            state.decision = Decision(ABSTAIN, f"nothing retrieved is close to the question ({top_dense:.2f})")
            return False
        return True

    def _gather(self, state: _State) -> None:
        with state.trace.step("gather"):
            if self.settings.reader_kinds:
                state.kind = expected_kind(state.standalone)
            kind, question = state.kind, state.standalone

            def holds_kind(sentence: str) -> bool:
                return bool(spans_of(kind, question, sentence))

            wanted = holds_kind if kind != ANY else None
            state.evidence = gather(state.hits, self.settings.reader_sentences, wanted)

    def _read(self, state: _State) -> None:
        with state.trace.step("read"):
            state.choices = choices_for(state.kind, state.standalone, state.evidence)
            if self.settings.reader_each and len(state.evidence) > 1 and not state.choices:
                self._read_each(state)
            else:
                state.not_found, state.decoded = self._read_from(state, state.evidence)
        state.span = formats.clean_span(state.decoded.text)

    def _read_from(self, state: _State, evidence: list[Evidence]) -> tuple[float | None, Decoded]:
        """One reading of these sentences: the not-found probability and the span the model proposes."""
        starts = self.settings.reader_choice_starts if state.choices else self.settings.reader_starts
        messages = formats.extract_prompt(state.standalone, state.language, evidence)
        opening, decoded = self.reader.read(
            messages, [NOT_FOUND], copy_source(evidence), formats.SPAN_MAX_TOKENS, starts, choices=state.choices
        )
        state.trace.record_stats(self.reader.last_stats)
        return (opening.get(NOT_FOUND) if opening is not None else None), decoded

    def _read_each(self, state: _State) -> None:
        """Each sentence read alone (the system prompt stays evaluated): the span is taken from the one the
        model is least inclined to call not found, and that probability is the decision's."""
        readings = [(self._read_from(state, [replace(e, number=1)]), e) for e in state.evidence]
        state.not_found_each = [nf for (nf, _), _ in readings if nf is not None]
        (state.not_found, state.decoded), best = min(
            readings, key=lambda r: (r[0][0] if r[0][0] is not None else 1.0, r[1].number)
        )
        state.chosen = best

    def _locate(self, state: _State) -> None:
        with state.trace.step("locate"):
            state.support = None
            if state.span:
                state.support = locate(state.span, [state.chosen]) if state.chosen else None
                state.support = state.support or locate(state.span, state.evidence)
            if state.support is not None and self.settings.reader_whole:
                state.span = whole_expression(state.span, state.support.sentence)
        state.short = state.span

    def _translate(self, state: _State) -> None:
        support = state.support
        if support is None or not formats.needs_translation(state.span, state.language, support.language):
            return
        with state.trace.step("translate"):
            reply = self.chat_model.invoke(
                formats.translation_prompt(state.span), **self.reader.limit(formats.TRANSLATION_MAX_TOKENS)
            )
            state.trace.record(reply)
        state.short = formats.read_translation(str(reply.content), state.span)

    def _check(self, state: _State) -> None:
        """Does the cited sentence give the span (as copied) as the answer to this question? P(yes), one pass."""
        support = state.support
        if not self.settings.reader_check or support is None or not state.span:
            return
        with state.trace.step("check"):
            messages = formats.check_prompt(state.standalone, state.language, support.sentence, state.span)
            state.supported = formats.read_check(self.reader.opening(messages, [*formats.CHECK_YES, *formats.CHECK_NO]))
            state.trace.record_stats(self.reader.last_stats)

    def _decide(self, state: _State) -> None:
        with state.trace.step("decide"):
            support = state.support
            cited = [(support.hit.chunk, support.sentence)] if support is not None else []
            best = max((e.score for e in state.evidence), default=0.0)
            premise = signals_for(state.standalone, state.not_found, best, [h.chunk for h in state.hits], cited)
            state.signals = ReadSignals(
                not_found=state.not_found,
                span_logprob=state.decoded.mean_logprob if state.decoded.logprobs else None,
                top_sentence=best,
                located=support is not None,
                adds=bool(state.span) and adds_information(state.span, state.standalone),
                premise=premise,
                kind=state.kind,
                choices=len(state.choices),
                not_found_each=tuple(state.not_found_each),
                supported=state.supported,
            )
            state.decision = decide(state.signals, self.policy)
        if state.decision.reason:
            log.info("no answer given (%s): %s", state.decision.outcome, state.decision.reason)

    # -- the one place an Answer is built ----------------------------------------------------------
    def _build(self, state: _State) -> Answer:
        outcome = state.decision.outcome
        if outcome == ANSWER:
            state.trace.first_token_ms = elapsed_ms(state.trace.started)
        timings = state.trace.timings(retrieve_ms=int(state.trace.stages.get("retrieve", 0)))
        base = replace(
            abstention(state.question, state.language, state.hits, timings, state.decoded.text),
            standalone_question=state.rewritten,
            outcome=outcome,
            short_answer=state.short,
            span=state.span,
            not_found_probability=state.not_found,
            signals=state.signals.as_dict() if state.signals is not None else {},
            abstain_reason=state.decision.reason,
            context_ids=[e.hit.chunk.id for e in state.evidence],
        )
        if outcome == ANSWER and state.support is not None:
            text = formats.answer_text(state.short, state.support, state.language, original=state.span)
            return replace(base, answer=text, abstained=False, citations=[state.support.citation()])
        if outcome == EVIDENCE:
            shown = state.evidence[:SHOWN]
            text = formats.evidence_text(shown, state.language)
            return replace(base, answer=text, citations=[e.citation() for e in shown])
        return base
