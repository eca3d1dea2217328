from __future__ import annotations

import json
from pathlib import Path

from evals.splits import split_of

ROOT = Path(__file__).resolve().parents[1]
SQUAD_IT = ROOT / "evals" / "data" / "squad-it" / "questions.jsonl"


def _squad_ids() -> list[str]:
    lines = SQUAD_IT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["id"] for line in lines if line.strip()]


def test_split_is_deterministic() -> None:
    for question_id in ["q01", "q02", "5728fd206aef05140015494f", ""]:
        assert split_of(question_id) in {"dev", "test"}
        assert split_of(question_id) == split_of(question_id)


def test_translation_shares_split_of_original() -> None:
    for question_id in _squad_ids() + ["q01", "q42"]:
        assert split_of(f"{question_id}-en") == split_of(question_id)


def test_squad_it_dev_share() -> None:
    ids = _squad_ids()
    assert len(ids) == 300
    dev = sum(1 for question_id in ids if split_of(question_id) == "dev")
    assert 0.3 <= dev / len(ids) <= 0.5
