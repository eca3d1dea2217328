from rag.abstain import Policy, signals_for, withhold
from rag.types import Chunk


def _chunk(text: str, title: str = "Ossigeno") -> Chunk:
    return Chunk("c1", "a1", title, "", "it", "unknown", text, 0, len(text), 0)


LAVOISIER = _chunk("Scheele scoprì l'ossigeno nel 1772. Il nome ossigeno fu coniato nel 1777 da Antoine Lavoisier.")


def test_each_rule_withholds_only_when_it_is_on() -> None:
    swapped = signals_for(
        "Chi coniò il nome ossigeno insieme a Scheele?",
        0.1,
        0.6,
        [LAVOISIER],
        [(LAVOISIER, "Il nome ossigeno fu coniato nel 1777 da Antoine Lavoisier.")],
    )
    assert withhold(swapped, Policy()) == ""
    assert "Scheele" in withhold(swapped, Policy(names_in_cited=True))
    assert withhold(swapped, Policy(names_in_passages=True)) == ""  # the passage does name him


def test_a_misspelt_name_a_missing_date_and_an_opposite_qualifier() -> None:
    cited = [(LAVOISIER, "Il nome ossigeno fu coniato nel 1777 da Antoine Lavoisier.")]
    misspelt = signals_for("In che anno Antoine Lavosier coniò il nome?", None, 0.6, [LAVOISIER], cited)
    assert "Lavosier" in withhold(misspelt, Policy(near_names=True))
    dated = signals_for("Chi coniò il nome ossigeno nel 1850?", None, 0.6, [LAVOISIER], cited)
    assert "1850" in withhold(dated, Policy(numbers_in_cited=True))
    assert withhold(dated, Policy(near_names=True, qualifiers=True)) == ""
    last = signals_for("Chi fu l'ultimo a coniare il nome?", None, 0.6, [LAVOISIER], [(LAVOISIER, "Il primo fu X.")])
    assert "last" in withhold(last, Policy(qualifiers=True))


def test_the_model_probability_and_the_retrieval_score_thresholds() -> None:
    cited = [(LAVOISIER, "Il nome ossigeno fu coniato nel 1777 da Antoine Lavoisier.")]
    leaning = signals_for("Chi coniò il nome?", 0.7, 0.6, [LAVOISIER], cited)
    assert withhold(leaning, Policy(max_not_found=0.8)) == ""
    assert "0.70" in withhold(leaning, Policy(max_not_found=0.5))
    unknown = signals_for("Chi coniò il nome?", None, 0.6, [LAVOISIER], cited)
    assert withhold(unknown, Policy(max_not_found=0.0)) == ""
    far = signals_for("Chi coniò il nome?", None, 0.2, [LAVOISIER], cited)
    assert "0.20" in withhold(far, Policy(min_top_sentence=0.3))


def test_a_name_counts_as_stated_in_a_passage_of_another_language() -> None:
    festival = Chunk("c2", "a2", "Lettere sul Lago draws 26,000 visitors", "2025-05-26", "en", "unknown",
                     "The second Lettere sul Lago festival ended with 26,000 visitors.", 0, 60, 0)  # fmt: skip
    tram = _chunk("La tranvia T1 ha registrato 9.400 passeggeri al giorno.", title="Tranvia T1")
    question = "Quante presenze ha registrato Lettere sul Lago l'anno scorso?"
    cited = [(festival, festival.text)]
    assert withhold(signals_for(question, 0.1, 0.6, [tram, festival], cited), Policy(names_in_passages=True)) == ""
    # absent from every passage, with one in the question's language: missing, as before
    elsewhere = signals_for("Quante presenze ha registrato Lettere sul Lago?", 0.1, 0.6, [tram, LAVOISIER], cited)
    assert "Lettere" in withhold(elsewhere, Policy(names_in_passages=True))
