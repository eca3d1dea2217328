"""Prompt passages: cut to the sentences closest to the question, within the token budget."""

from __future__ import annotations

from rag.prompt import GAP, build_prompt, build_second_look_prompt, closest_sentences, excerpt, select_context
from rag.types import Chunk, Hit

TEXT = "Prima frase sul tempo. Lo stabilimento è costato 550 milioni. Terza frase inutile. Aprirà nel 2028."


def _hit(scores: tuple[float, ...], text: str = TEXT, rank: int = 1) -> Hit:
    chunk = Chunk(f"c{rank}", "a", "Titolo", "2025-09-17", "it", "unknown", text, 0, len(text), 0)
    return Hit(chunk=chunk, rank=rank, score=1.0, sentence_scores=scores)


def test_an_excerpt_keeps_the_best_sentences_in_text_order_with_gaps_marked() -> None:
    assert excerpt(_hit((0.2, 0.9, 0.1, 0.8)), 2) == f"Lo stabilimento è costato 550 milioni.{GAP}Aprirà nel 2028."
    assert excerpt(_hit((0.2, 0.9, 0.85, 0.1)), 2) == "Lo stabilimento è costato 550 milioni. Terza frase inutile."


def test_without_scores_or_with_zero_sentences_the_whole_passage_is_used() -> None:
    assert excerpt(_hit(()), 2) == TEXT
    assert excerpt(_hit((0.2, 0.9, 0.1, 0.8)), 0) == TEXT
    assert excerpt(_hit((0.2, 0.9)), 2) == TEXT  # scores that don't match the sentences are not trusted


def test_shorter_excerpts_let_more_passages_into_the_budget() -> None:
    long_text = " ".join(f"Frase numero {i} con parecchie parole di contorno inutili." for i in range(30))
    hits = [_hit(tuple(float(i) for i in range(30)), long_text, rank=r) for r in (1, 2, 3)]
    assert len(select_context(hits, max_passages=3, token_budget=400, sentences=0)) == 1
    assert len(select_context(hits, max_passages=3, token_budget=400, sentences=3)) == 3
    prompt = build_prompt("Domanda?", "it", hits, sentences=3)
    assert "Frase numero 29" in str(prompt.messages[-1].content)
    assert "Frase numero 5 " not in str(prompt.messages[-1].content)


def test_the_closest_sentences_come_from_any_passage_in_rank_order_each_once() -> None:
    first = _hit((0.1, 0.9, 0.2, 0.3), rank=1)
    other = "Ford arriverà nel 2028. Lo stabilimento è costato 550 milioni. Frase lontana."
    second = _hit((0.95, 0.9, 0.0), other, rank=2)  # repeats a sentence of the first passage
    chosen = closest_sentences([first, second], 3)
    # 0.95 (passage 2), 0.9 (passage 1; passage 2's copy is skipped), then 0.3 (passage 1)
    assert chosen == [
        (first, f"Lo stabilimento è costato 550 milioni.{GAP}Aprirà nel 2028."),
        (second, "Ford arriverà nel 2028."),
    ]
    assert closest_sentences([_hit(())], 3) == []  # no per-sentence scores: nothing to choose from
    prompt = build_second_look_prompt("Quanto è costato?", "it", [first, second], 3)
    assert prompt is not None and prompt.sources == [first, second]
    assert "Prima frase" not in str(prompt.messages[-1].content)
