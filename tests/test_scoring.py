from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.scoring import (
    EvalItem,
    answer_correct,
    answer_f1,
    contains,
    first_hit_rank,
    load_items,
    markers_valid,
    normalize,
    summarize,
    token_f1,
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Città PERCHÉ è", "citta perche e"),
        ("1.500 veicoli", "1500 veicoli"),
        ("1,500 vehicles", "1500 vehicles"),
        ("1500", "1500"),
        ("2.000.000 di euro", "2000000 di euro"),
        ("l’inizio del 2028.", "l inizio del 2028"),
        ("  «Renault–Ford»  ", "renault ford"),
        ("3,5 per cento", "3 5 per cento"),
        ("Jean-Dominique", "jean dominique"),
    ],
)
def test_normalize(text: str, normal: str) -> None:
    assert normalize(text) == normal


def test_the_three_forms_of_a_number_are_one() -> None:
    assert normalize("1.500") == normalize("1,500") == normalize("1500")


@pytest.mark.parametrize(
    ("answer", "needle", "hit"),
    [
        ("550 milioni di euro", "550", True),
        ("1550 milioni", "550", False),
        ("5500 euro", "550", False),
        ("nel 2028.", "2028", True),
        ("Maggio 2023", "maggio 2023", True),
        ("È a Douai", "e a douai", True),
        ("Colonia", "colonia", True),
        ("Coloniale", "colonia", False),
        ("1.500 auto", "1500", True),
        ("Perché", "perche", True),
    ],
)
def test_contains_on_token_boundaries(answer: str, needle: str, hit: bool) -> None:
    assert contains(answer, needle) is hit


def test_answer_correct_needs_every_group() -> None:
    item = EvalItem("q", "en", True, "Where?", expected=[["parigi", "paris"], ["colonia", "cologne"]])
    assert answer_correct(item, "Signed in Paris and Cologne.", abstained=False)
    assert not answer_correct(item, "Signed in Paris.", abstained=False)
    assert not answer_correct(item, "Paris and Cologne", abstained=True)


def test_unanswerable_is_correct_only_by_the_flag() -> None:
    item = EvalItem("q", "en", False, "Price?")
    assert answer_correct(item, "whatever", abstained=True)
    assert not answer_correct(item, "The articles don't say.", abstained=False)


def test_first_hit_rank_and_markers() -> None:
    chunks = ["Ford e Renault.", "Un investimento di 550 milioni di euro.", "550 milioni"]
    assert first_hit_rank(chunks, ["550 milioni di euro"]) == 2
    assert first_hit_rank(chunks, ["assente"]) is None
    assert markers_valid("A [1]. B [2, 3].", 3) is True
    assert markers_valid("A [4].", 3) is False
    assert markers_valid("no markers", 3) is None


def test_summarize_metrics() -> None:
    def rec(answerable: bool, rank: int | None, correct: bool, abstained: bool, lang: str = "it") -> dict:
        return {"answerable": answerable, "first_hit_rank": rank, "correct": correct, "abstained": abstained,
                "f1": (0.5 if correct else 0.0) if answerable else None,
                "citation_hit": correct, "citation_valid": True, "language_ok": True, "total_ms": 1000,
                "ttft_ms": 500, "lang": lang}  # fmt: skip

    records = [
        rec(True, 1, True, False),
        rec(True, 3, False, False),
        rec(True, None, False, True),
        rec(False, None, True, True),
    ]
    m = summarize(records)
    assert m["recall@1"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["recall@3"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 3, abs=1e-3)
    assert m["answer_accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["abstention_accuracy"] == 1.0
    assert m["false_abstention_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert m["citation_hit_rate"] == 0.5  # over the two answered items
    assert m["n"] == 4
    assert m["answer_f1"] == pytest.approx(0.5 / 3, abs=1e-3)
    only = summarize(records, retrieval_only=True)
    assert only["answer_accuracy"] is None and only["recall@5"] == pytest.approx(2 / 3, abs=1e-3)


def test_load_items_reports_the_bad_line(tmp_path: Path) -> None:
    good = {"id": "q1", "lang": "it", "answerable": True, "question": "?", "expected": [["a"]], "evidence": ["a"]}
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(good) + "\n{broken\n")
    with pytest.raises(ValueError, match=":2:"):
        load_items(path)


def test_project_question_set_has_the_promised_shape() -> None:
    items = load_items(Path(__file__).resolve().parents[1] / "evals" / "questions.jsonl")
    assert len(items) >= 60 and len({i.id for i in items}) == len(items)
    assert sum(not i.answerable for i in items) >= 12
    langs = [i.lang for i in items]
    assert abs(langs.count("it") - langs.count("en")) <= len(items) // 5
    corpus = " ".join(
        p.read_text(encoding="utf-8") for p in (Path(__file__).resolve().parents[1] / "corpus").glob("*.md")
    )
    for item in items:
        assert (item.expected == []) is (not item.answerable)
        for quote in item.evidence:
            assert contains(corpus, quote), (item.id, quote)  # body text or front matter


def test_token_f1_rewards_overlap_and_answer_f1_takes_each_groups_best() -> None:
    assert token_f1("the plant in Douai [1]", "Douai") == pytest.approx(1 / 3, abs=1e-3)
    assert token_f1("Douai", "Douai") == 1.0 and token_f1("Parigi", "Douai") == 0.0
    item = EvalItem(
        id="x", lang="en", answerable=True, question="?", expected=[["Parigi", "Paris"], ["Colonia", "Cologne"]]
    )
    assert answer_f1(item, "Paris and Cologne", abstained=False) == pytest.approx(0.5, abs=1e-3)
    assert answer_f1(item, "Paris and Cologne", abstained=True) == 0.0
    assert answer_f1(EvalItem(id="y", lang="en", answerable=False, question="?"), "x", abstained=True) is None
