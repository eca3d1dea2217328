from __future__ import annotations

import pytest

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


def test_the_inverted_index_scores_like_a_pass_over_every_document() -> None:
    import math
    from collections import Counter

    docs = [
        analyze(t, ["it"]) for t in ["Renault e Ford a Douai", "Ford Puma elettrica", "Douai Douai Ampere", "Nissan"]
    ]
    index = BM25Index(docs)
    query = analyze("Ford Douai", ["it"])
    avg = sum(map(len, docs)) / len(docs)
    expected = []
    for doc in docs:  # Okapi BM25 written out, k1 1.2, b 0.75
        tf, score = Counter(doc), 0.0
        for term in dict.fromkeys(query):
            df = sum(term in d for d in docs)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            if tf[term]:
                score += idf * tf[term] * 2.2 / (tf[term] + 1.2 * (0.25 + 0.75 * len(doc) / avg))
        expected.append(score)
    assert index.scores(query) == pytest.approx(expected, rel=1e-5)
    assert [i for i, _ in index.top(query, 2)] == sorted(range(3), key=lambda i: -expected[i])[:2]
    assert all(i != 3 for i, _ in index.top(query, 10))  # no shared term, no hit


def test_ties_at_the_cut_go_to_the_lower_index() -> None:
    index = BM25Index([["ford"], ["ford"], ["ford"], ["nissan"]])
    assert [i for i, _ in index.top(["ford"], 2)] == [0, 1]
