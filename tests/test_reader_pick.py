"""The sentence-choice measurement's summary (evals/reader_pick.py), over hand-made records."""

from __future__ import annotations

from evals.reader_pick import summary


def _record(qs: str, answerable: bool, holds: list[bool], pick: int, cited: bool, best: float) -> dict:
    probs = {str(n + 1): (best if n + 1 == pick else 0.01) for n in range(4)}
    return {"id": f"{qs}{pick}", "set": qs, "answerable": answerable, "probs": probs, "holds": holds,
            "picked_holds": bool(holds and holds[pick - 1]), "first_holds": bool(holds and holds[0]),
            "extractor_cited_holds": cited, "prompt_tokens": 300}  # fmt: skip


def test_the_summary_counts_each_way_of_choosing_and_the_label_signal() -> None:
    records = [
        _record("squad-it", True, [True, False, False, False], 2, True, 0.6),  # chosen wrong, first right
        _record("squad-it", True, [False, False, True, False], 3, False, 0.4),  # chosen right
        _record("project", True, [False, False, False, False], 1, False, 0.2),  # nothing holds it
        _record("squad-it", False, [], 1, False, 0.9),  # a false premise
    ]
    lines = summary(records)
    assert "| all | 3 | 2 | 1 | 1 | 1 |" in lines
    assert "| squad-it | 2 | 2 | 1 | 1 | 1 |" in lines and "| project | 1 | 0 | 0 | 0 | 0 |" in lines
    assert lines[-1].endswith("answerable 0.4, false premises 0.9")
