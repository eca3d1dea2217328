from __future__ import annotations

from rag.keyword import BM25Index, analyze, tokenize


def test_italian_stemming_joins_singular_and_plural() -> None:
    assert set(analyze("investimenti", ["it"])) & set(analyze("investimento", ["it"]))
    assert set(analyze("stabilimenti elettrici", ["it"])) == set(analyze("stabilimento elettrico", ["it"]))


def test_english_stemming_joins_plants_and_plant() -> None:
    assert analyze("plants", ["en"]) == analyze("plant", ["en"])
    assert analyze("investments", ["en"]) == analyze("investment", ["en"])


def test_stopwords_of_both_languages_are_dropped() -> None:
    assert analyze("il della the of", ["it", "en"]) == []
    assert "douai" in analyze("the plant of Douai", ["it", "en"])


def test_numbers_keep_their_value_whatever_the_separator() -> None:
    assert tokenize("1.500 veicoli") == ["1500", "veicoli"]
    assert tokenize("1,500 vehicles") == ["1500", "vehicles"]
    assert tokenize("3.5 per cento") == ["3.5", "per", "cento"]
    assert tokenize("Città è") == ["citta", "e"]


def test_bm25_ranks_the_stemmed_match_first() -> None:
    docs = [
        "Lo stabilimento ha ricevuto un investimento di 550 milioni di euro.",
        "Ford e Renault firmano un accordo a Parigi.",
        "The plant builds six electric models.",
    ]
    index = BM25Index([analyze(d, ["it" if i < 2 else "en"]) for i, d in enumerate(docs)])
    it_scores = index.scores(analyze("Quali investimenti?", ["it", "en"]))
    assert max(range(3), key=it_scores.__getitem__) == 0 and it_scores[1] == 0
    en_scores = index.scores(analyze("Which plants?", ["it", "en"]))
    assert max(range(3), key=en_scores.__getitem__) == 2
    assert index.scores(analyze("550", ["it", "en"]))[0] > 0


def test_analysis_in_several_threads_at_once_gives_what_one_thread_gives() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [
        f"Gli stabilimenti producevano veicoli elettrici {n} the factories were producing cars" for n in range(400)
    ]
    alone = [analyze(t, ("it", "en")) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: analyze(t, ("it", "en")), texts))
    assert together == alone
