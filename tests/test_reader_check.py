"""The check measurement's decision and cascade replays (evals/reader_check.py), over hand-made records."""

from __future__ import annotations

from typing import Any

from evals.reader_check import cascade, choose, outcomes


def _record(rid: str, answerable: bool, correct: bool, p_yes: float, tokens: int = 300, **extra: Any) -> dict:
    base = {"id": rid, "set": "squad-it", "answerable": answerable, "draft": "x", "draft_correct": correct,
            "signals": {"located": True}, "outcome": "answer", "p_yes": p_yes, "prompt_tokens": tokens,
            "check_tokens": 100}  # fmt: skip
    return {**base, **extra}


FAST = [
    _record("a", True, True, 0.9),  # right and sure
    _record("b", True, False, 0.3),  # wrong and doubted
    _record("c", False, False, 0.2),  # a false premise, doubted
    _record("d", False, False, 0.8),  # a false premise the check believes
]
# the slow reader: right on "b", abstains by itself on "c", answers "d"'s premise but its check doubts it
SLOW = [
    _record("a", True, True, 0.9, 1000, signals={}),
    _record("b", True, True, 0.7, 1000, signals={}),
    _record("c", False, False, 0.9, 1000, signals={}, outcome="abstain"),
    _record("d", False, False, 0.1, 1000, signals={}),
]


def test_the_check_s_threshold_trades_answers_for_caught_premises() -> None:
    assert outcomes(FAST, 0.0) == {"accuracy": 0.5, "false_abstention": 0.0, "premise_abstention": 0.0}
    assert outcomes(FAST, 0.5) == {"accuracy": 0.5, "false_abstention": 0.5, "premise_abstention": 0.5}
    assert outcomes(FAST, 0.85) == {"accuracy": 0.5, "false_abstention": 0.5, "premise_abstention": 1.0}
    assert choose(FAST) == 0.9  # the lowest catching both premises (0.8 gives "d") and keeping the right answer


def test_the_cascade_falls_back_to_the_slow_reader_and_its_own_check() -> None:
    slow_only = cascade(FAST, SLOW, 1.01, 0.0)  # every question to the slow reader, its check off
    assert slow_only["accuracy"] == 1.0 and slow_only["premise_abstention"] == 0.5 and slow_only["fast_share"] == 0
    both = cascade(FAST, SLOW, 0.5, 0.5)  # "a" and "d" fast; "b" slow and right; "c" slow, abstained
    assert both == {"accuracy": 1.0, "false_abstention": 0.0, "premise_abstention": 0.5, "fast_share": 0.5,
                    "tokens_p50": 1500}  # fmt: skip
    strict = cascade(FAST, SLOW, 0.85, 0.5)  # "d" now goes slow, where the slow check doubts it
    assert strict["premise_abstention"] == 1.0 and strict["accuracy"] == 1.0


def test_the_veto_withholds_the_slow_reader_s_answer_only_where_the_fast_check_doubts_it() -> None:
    from evals.reader_check import veto

    # SLOW answers "a", "b" (right) and "d" (a premise); FAST's check doubts "b" (0.3), "c" and believes "d" (0.8)
    assert veto(SLOW, FAST, 0.0) == {"accuracy": 1.0, "false_abstention": 0.0, "premise_abstention": 0.5}
    assert veto(SLOW, FAST, 0.5) == {"accuracy": 0.5, "false_abstention": 0.5, "premise_abstention": 0.5}
    assert veto(SLOW, FAST, 0.85) == {"accuracy": 0.5, "false_abstention": 0.5, "premise_abstention": 1.0}
