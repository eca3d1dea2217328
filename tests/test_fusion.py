from __future__ import annotations

import pytest

from rag.fusion import Candidates, Fusion, balance_by_language, fuse, ranked

RRF = Fusion("rrf", chunk_weight=1.0, article_weight=0.0, keyword_weight=1.0, rrf_k=60)


def _candidates(
    sentence: dict[str, float],
    dense: dict[str, float],
    keyword: dict[str, float],
    language: dict[str, str] | None = None,
    article: dict[str, str] | None = None,
) -> Candidates:
    ids = list(dict.fromkeys([*sentence, *dense, *keyword]))
    return Candidates(
        sentence=sentence,
        dense=dense,
        keyword=keyword,
        article=article or {cid: cid for cid in ids},
        language=language or dict.fromkeys(ids, "it"),
    )


def test_rrf_depends_only_on_ranks_not_on_the_similarity_scale() -> None:
    narrow = _candidates({"a": 0.91, "b": 0.90, "c": 0.89}, {"a": 0.80, "c": 0.82, "b": 0.79}, {"b": 3.0, "a": 1.0})
    wide = _candidates({"a": 0.70, "b": 0.40, "c": 0.10}, {"a": 0.50, "c": 0.60, "b": 0.20}, {"b": 30.0, "a": 0.1})
    order = [c for c, _ in ranked(narrow, RRF, 3)]
    assert len(order) == 3 and order == [c for c, _ in ranked(wide, RRF, 3)]


def test_score_fusion_does_depend_on_the_scale() -> None:
    score = Fusion("score", chunk_weight=1.0, article_weight=0.0, keyword_weight=1.0)
    narrow = _candidates({"a": 0.91, "b": 0.90}, {"a": 0.91, "b": 0.90}, {"b": 3.0})
    wide = _candidates({"a": 0.91, "b": 0.10}, {"a": 0.91, "b": 0.10}, {"b": 3.0})
    assert ranked(narrow, score, 1)[0][0] == "b" and ranked(wide, score, 1)[0][0] == "a"


def test_rrf_first_in_every_ranking_wins_and_a_missing_side_adds_nothing() -> None:
    found = _candidates({"a": 0.5, "b": 0.4}, {"a": 0.5, "b": 0.4}, {"a": 2.0})
    scores = fuse(found, RRF)
    assert scores["a"] == 3 / 61
    assert scores["b"] == 2 / 62  # BM25 did not return b


def test_rrf_rank_of_a_passage_does_not_change_with_another_languages_scores() -> None:
    # an English group whose similarities all run high cannot push the Italian answer passage down by its
    # scale, only by outranking it: adding English candidates below it leaves its place unchanged
    italian = {"it1": 0.60, "it2": 0.40}
    english = {"en1": 0.55, "en2": 0.54, "en3": 0.53}
    lang = {**dict.fromkeys(italian, "it"), **dict.fromkeys(english, "en")}
    alone = _candidates(italian, italian, {})
    mixed = _candidates({**italian, **english}, {**italian, **english}, {}, language=lang)
    assert ranked(alone, RRF, 1)[0][0] == "it1" and ranked(mixed, RRF, 1)[0][0] == "it1"


def test_the_article_lift_raises_the_other_passages_of_the_best_article() -> None:
    fusion = Fusion("rrf", chunk_weight=1.0, article_weight=1.0, keyword_weight=0.0, rrf_k=60)
    article = {"a1": "A", "a2": "A", "b1": "B"}
    sentence = {"a1": 0.9, "b1": 0.6, "a2": 0.5}
    dense = {"a1": 0.9, "b1": 0.6, "a2": 0.55}
    no_lift = Fusion("rrf", chunk_weight=1.0, article_weight=0.0, keyword_weight=0.0, rrf_k=60)
    found = _candidates(sentence, dense, {}, article=article)
    assert [c for c, _ in ranked(found, no_lift, 3)] == ["a1", "b1", "a2"]
    scores = fuse(found, fusion)
    assert scores["a2"] - fuse(found, no_lift)["a2"] == pytest.approx(1 / 61)  # article A ranks first
    assert scores["b1"] - fuse(found, no_lift)["b1"] == pytest.approx(1 / 62)


def test_ranked_breaks_ties_by_id_so_the_order_is_stable() -> None:
    found = _candidates({"b": 0.5, "a": 0.5}, {}, {})
    assert [c for c, _ in ranked(found, RRF, 2)] == ["a", "b"]


def test_language_balance_lets_a_standout_passage_beat_a_flat_same_language_group() -> None:
    scores = {"a": 0.80, "b": 0.70, "c": 0.69, "x": 0.84, "y": 0.83, "z": 0.83}
    language = {"a": "it", "b": "it", "c": "it", "x": "en", "y": "en", "z": "en"}
    assert max(scores, key=scores.__getitem__) == "x"
    balanced = balance_by_language(scores, language)
    assert max(balanced, key=balanced.__getitem__) == "a"
    # the order inside one language never changes
    assert balanced["a"] > balanced["b"] > balanced["c"] and balanced["x"] > balanced["y"]


def test_a_language_with_too_few_candidates_is_left_as_is() -> None:
    balanced = balance_by_language({"a": 0.8, "b": 0.7, "x": 0.9}, {"a": "it", "b": "it", "x": "en"})
    assert balanced == {"a": 0.8, "b": 0.7, "x": 0.9}
