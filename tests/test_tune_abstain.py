from evals.tune_abstain import Case, choose, score
from rag.abstain import ABSTAIN_RULES, Policy, signals_for
from rag.types import Chunk

TEXT = "Il nome ossigeno fu coniato nel 1777 da Antoine Lavoisier."
CHUNK = Chunk("c1", "a1", "Ossigeno", "", "it", "unknown", TEXT, 0, len(TEXT), 0)


def _case(i: int, split: str, answerable: bool, question: str, not_found: float, correct: bool | None) -> Case:
    signals = signals_for(question, not_found, 0.6, [CHUNK], [(CHUNK, TEXT)]) if correct is not None else None
    return Case(f"q{i}", "set", split, "it", answerable, correct, signals)


CASES = [
    _case(1, "dev", True, "Chi coniò il nome ossigeno?", 0.1, True),
    _case(2, "dev", True, "In che anno fu coniato il nome?", 0.2, True),
    _case(3, "dev", True, "Chi coniò il nome?", 0.6, False),
    _case(4, "dev", False, "In che anno Lavosier coniò il nome?", 0.15, False),
    _case(5, "dev", False, "Chi coniò il nome ossigeno?", 0.7, False),
    _case(6, "dev", False, "Chi coniò il nome?", 0.1, None),  # abstained before the decision
]


def test_scores_count_answers_given_right_and_abstentions() -> None:
    off = score(CASES, Policy())
    assert off["accuracy"] == 2 / 3 and off["false_abstention"] == 0 and off["abstention_accuracy"] == 1 / 3
    strict = score(CASES, Policy(max_not_found=0.5, near_names=True))
    assert strict["accuracy"] == 2 / 3 and strict["false_abstention"] == 1 / 3 and strict["abstention_accuracy"] == 1


def test_the_choice_is_the_best_balanced_accuracy_with_the_fewest_rules() -> None:
    chosen = choose(CASES)
    assert score(CASES, chosen)["balanced"] == 1 / 2 * (2 / 3 + 1)
    # the not-found threshold alone cannot withhold case 4 (0.15) without case 2's right answer (0.2),
    # so one rule that catches the misspelling is in, and no rule more than needed
    rules = [r for r in ABSTAIN_RULES if getattr(chosen, r)]
    assert rules in (["names_in_passages"], ["near_names"])
