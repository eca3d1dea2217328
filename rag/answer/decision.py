"""Whether a proposed span is given: one decision, from its inputs, with three outcomes.

The model always proposes a span (rag/models/copying.py); it never decides. The decision weighs the model's
probability of the not-found marker at the first position of its reply, the span's own mean token
log-probability, the model's yes against no when asked whether the cited sentence gives the span as the
answer to this very question (RAG_READER_CHECK), how close the best evidence sentence is to the question,
whether the span was found in the evidence and adds to the question, and the question's premise (names,
numbers, qualifiers) against the cited sentence and the retrieved passages (rag/abstain.py). The thresholds
(`ReaderPolicy`, rag/abstain.py) are chosen on development records by evals/tune_reader.py, which replays
this function over them.

- answer: the short answer with its supporting sentence;
- evidence: the closest passages, labelled as such, asserting nothing (signals unsure, retrieval strong);
- abstain: "the articles don't say", with the closest passages (a premise the passages contradict, or
  weak retrieval).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..abstain import Policy, ReaderPolicy, Signals, withhold

ANSWER, EVIDENCE, ABSTAIN = "answer", "evidence", "abstain"


@dataclass(frozen=True)
class ReadSignals:
    """What the decision sees about one proposed span."""

    not_found: float | None  # P(reply opens with the not-found marker); None: the backend cannot tell
    span_logprob: float | None  # mean log-probability of the span's tokens; None: unknown
    top_sentence: float  # the best evidence sentence's similarity to the question
    located: bool  # the span is in an evidence sentence (always, where the backend copied)
    adds: bool  # the span says something the question does not already hold
    premise: Signals | None = None  # the question's premise against the cited sentence and the passages
    kind: str = "any"  # the kind of answer the question asks for (rag/answer/kinds.py)
    choices: int = 0  # the evidence's spans of that kind the model chose among (0: it copied freely)
    not_found_each: tuple[float, ...] = ()  # each sentence read alone: its not-found probability
    supported: float | None = None  # P(yes) that the cited sentence gives the span as the answer; None: not checked

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["premise"] = None if self.premise is None else asdict(self.premise)
        return data


@dataclass(frozen=True)
class Decision:
    outcome: str  # ANSWER | EVIDENCE | ABSTAIN
    reason: str = ""  # why not an answer ("" for one)


def decide(signals: ReadSignals, policy: ReaderPolicy) -> Decision:
    """The outcome for one proposed span.

    Example: a located span adding to the question, not-found 0.2, no premise rule firing -> answer;
    the same with not-found 0.9 under max_not_found 0.6 -> evidence (or abstain on weak retrieval).
    """
    if signals.premise is not None:
        rules = Policy(**{**asdict(policy.premise), "max_not_found": 1.0, "min_top_sentence": 0.0})
        reason = withhold(signals.premise, rules)
        if reason:
            return Decision(ABSTAIN, reason)
    reason = _unsure(signals, policy)
    if not reason:
        return Decision(ANSWER)
    if signals.top_sentence >= policy.min_evidence_sentence:
        return Decision(EVIDENCE, reason)
    return Decision(ABSTAIN, reason)


def _unsure(signals: ReadSignals, policy: ReaderPolicy) -> str:
    if not signals.located:
        return "the proposed answer is not in the passages"
    if not signals.adds:
        return "the proposed answer only repeats the question"
    if signals.not_found is not None and signals.not_found > policy.max_not_found:
        return f"the model leans to not found ({signals.not_found:.2f})"
    if signals.span_logprob is not None and signals.span_logprob < policy.min_span_logprob:
        return f"the model is unsure of the span ({signals.span_logprob:.2f})"
    if signals.supported is not None and signals.supported < policy.min_supported:
        return f"the model doubts the cited sentence answers this question ({signals.supported:.2f})"
    return ""
