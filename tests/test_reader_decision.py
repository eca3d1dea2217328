"""The extracting reader's one decision (rag/answer/decision.py): answer, evidence only, or abstain."""

from __future__ import annotations

import math

import pytest

from rag.abstain import Policy, ReaderPolicy, Signals
from rag.answer.decision import ABSTAIN, ANSWER, EVIDENCE, ReadSignals, decide
from rag.premise import Check

HOLDS = Check((), (), (), ())


def _signals(**changes: object) -> ReadSignals:
    base = {"not_found": 0.2, "span_logprob": -0.3, "top_sentence": 0.6, "located": True, "adds": True}
    base.update(changes)
    return ReadSignals(**base)  # type: ignore[arg-type]


def test_a_located_confident_span_is_answered() -> None:
    assert decide(_signals(), ReaderPolicy()).outcome == ANSWER


def test_unsure_signals_show_the_evidence_when_retrieval_is_strong_and_abstain_when_it_is_weak() -> None:
    policy = ReaderPolicy(max_not_found=0.6, min_span_logprob=-1.0, min_evidence_sentence=0.5)
    assert decide(_signals(not_found=0.9), policy).outcome == EVIDENCE
    assert decide(_signals(span_logprob=-2.0), policy).outcome == EVIDENCE
    weak = decide(_signals(not_found=0.9, top_sentence=0.3), policy)
    assert weak.outcome == ABSTAIN and "not found" in weak.reason


def test_a_span_outside_the_passages_or_repeating_the_question_is_never_an_answer() -> None:
    assert decide(_signals(located=False), ReaderPolicy()).outcome == EVIDENCE
    assert decide(_signals(adds=False), ReaderPolicy()).outcome == EVIDENCE


def test_a_premise_the_passages_lack_abstains_whatever_the_model_thinks() -> None:
    missing = Signals(0.0, 0.6, HOLDS, Check(("Scheele",), (), (), ()))
    policy = ReaderPolicy(premise=Policy(names_in_passages=True))
    decision = decide(_signals(premise=missing, not_found=0.0), policy)
    assert decision.outcome == ABSTAIN and "Scheele" in decision.reason
    assert decide(_signals(premise=missing), ReaderPolicy()).outcome == ANSWER  # the rule off


def test_unknown_probabilities_leave_the_decision_to_the_other_signals() -> None:
    policy = ReaderPolicy(max_not_found=0.5, min_span_logprob=-1.0)
    assert decide(_signals(not_found=None, span_logprob=None), policy).outcome == ANSWER
    assert ReaderPolicy().min_span_logprob == -math.inf


def test_the_check_s_doubt_withholds_a_span_only_under_a_threshold_and_only_when_checked() -> None:
    policy = ReaderPolicy(min_supported=0.5)
    doubted = decide(_signals(supported=0.3), policy)
    assert doubted.outcome == EVIDENCE and "0.30" in doubted.reason
    assert decide(_signals(supported=0.7), policy).outcome == ANSWER
    assert decide(_signals(supported=None), policy).outcome == ANSWER  # not checked: the signal is absent
    assert decide(_signals(supported=0.3), ReaderPolicy()).outcome == ANSWER  # threshold 0: recorded, unused


def test_the_check_s_reply_is_read_as_yes_against_no_over_both_capitalisations() -> None:
    from rag.answer.formats import read_check

    assert read_check({"yes": 0.3, "Yes": 0.1, "no": 0.1, "No": 0.1}) == pytest.approx(0.4 / 0.6)
    assert read_check({"yes": 0.0, "no": 0.0}) is None and read_check(None) is None
