from rag.premise import check, premise_of


def test_names_are_the_capitalized_words_past_the_first_without_elisions_or_possessives() -> None:
    assert premise_of("In che anno Carl Wilhelm Scheele coniò il nome?").names == ("Carl", "Wilhelm", "Scheele")
    assert premise_of("Chi fu il primo rettore dell'Università di Erfurt?").names == ("Università", "Erfurt")
    assert premise_of("When did Tesla's company fail?").names == ("Tesla",)
    assert premise_of("Quale rete fu progettata?").names == ()


def test_a_name_the_text_holds_in_another_form_is_stated() -> None:
    premise = premise_of("How many games did the Broncos win?")
    assert check(premise, "I Denver Broncos vinsero 12 partite.").holds
    assert check(premise_of("What did Tesla's lab build?"), "Il laboratorio di Tesla costruì una bobina.").holds


def test_a_misspelt_name_is_missing_and_near() -> None:
    result = check(premise_of("Quale rete fu diretta da Louis Poussin?"), "La rete fu diretta da Louis Pouzin.")
    assert result.missing_names == ("Poussin",) and result.near_names == ("Poussin",)
    assert not result.holds


def test_a_swapped_name_is_missing_but_not_near() -> None:
    result = check(premise_of("Chi coniò il nome secondo Scheele?"), "Il nome fu coniato da Antoine Lavoisier.")
    assert result.missing_names == ("Scheele",) and result.near_names == ()


def test_a_number_compares_across_formats_and_languages() -> None:
    assert check(premise_of("What happened to the 4.2 billion pounds?"), "I 4,2 miliardi di sterline…").holds
    result = check(premise_of("Cosa accadde nel 1850?"), "Nel 1777 Lavoisier coniò il nome.")
    assert result.missing_numbers == ("1850",)


def test_a_qualifier_is_contradicted_by_its_opposite_alone() -> None:
    least = premise_of("What is the least important open question?")
    assert check(least, "La questione aperta più importante è P contro NP.").contradicted == ("least",)
    assert check(least, "La questione meno importante, più discussa…").holds
    assert check(premise_of("Chi fu l'ultimo europeo?"), "Il primo europeo fu Orellana.").contradicted == ("last",)
    # "prima" is also "before": it does not contradict "last"
    assert check(premise_of("Who was the last king?"), "Prima di lui regnò il padre.").holds


def test_words_english_capitalizes_without_their_being_names_are_not_demanded() -> None:
    # an Italian passage writes "britannici", "luglio", "fiume": only "Thames" is a name to find
    premise = premise_of("What did the British build on the River Thames in July?")
    assert premise.names == ("Thames",)
    assert check(premise, "Nel luglio del 1750 i britannici costruirono un ponte sul Tamigi.").missing_names == (
        "Thames",
    )
