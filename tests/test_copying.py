"""Copy-constrained greedy decoding (rag/models/copying.py) with a fake model over a tiny vocabulary."""

from __future__ import annotations

import math

from rag.models.copying import copies, decode, fold

VOCAB = {0: b"<end>", 1: b"NOT", 2: b"_FOUND", 3: b" 9", 4: b" dicembre", 5: b" 2025", 6: b" Parigi", 7: b"\n", 8: b"9"}
END = {0}


def _model(preferences: list[list[int]], vocab: dict[int, bytes] = VOCAB):
    """A model that, at step i, ranks the tokens in preferences[i] first (then everything else)."""

    def candidates(reply: list[int]) -> list[tuple[int, float]]:
        ranked = preferences[min(len(reply), len(preferences) - 1)]
        rest = [t for t in vocab if t not in ranked]
        return [(t, math.log(0.5) * (i + 1)) for i, t in enumerate(ranked + rest)]

    return candidates


def test_the_reply_can_only_copy_from_the_source() -> None:
    model = _model([[1, 2, 3], [2, 4, 6], [5, 0], [0]])  # wants "NOT_FOUND", then "9 dicembre 2025"
    decoded = decode(model, VOCAB.__getitem__, END, "firmata il 9 dicembre 2025 a Parigi", max_tokens=8)
    assert decoded.text == "9 dicembre 2025"
    assert len(decoded.logprobs) == 3 and all(lp < 0 for lp in decoded.logprobs)
    # the first step could not take its favourite, so the span's confidence is below the best token's
    assert decoded.logprobs[0] < math.log(0.5)


def test_without_a_source_the_model_replies_freely() -> None:
    decoded = decode(_model([[1], [2], [0]]), VOCAB.__getitem__, END, None, max_tokens=8)
    assert decoded.text == "NOT_FOUND"


def test_an_end_token_or_line_break_ends_the_span_only_once_it_holds_something() -> None:
    model = _model([[0, 7, 8], [7, 0]])  # wants to stop at once: not allowed while empty
    decoded = decode(model, VOCAB.__getitem__, END, "il 9 dicembre", max_tokens=8)
    assert decoded.text == "9"


def test_the_span_stops_at_max_tokens() -> None:
    model = _model([[3], [4], [5], [0]])
    assert decode(model, VOCAB.__getitem__, END, "9 dicembre 2025", max_tokens=2).text == "9 dicembre"


def test_fold_and_copies_ignore_case_accents_and_spacing() -> None:
    assert fold("L’intesa,  Città") == "l'intesa, citta"
    source = fold("La città di Douai ospita lo stabilimento")
    assert copies(" CITTA di", source) and copies("città di ", source)
    assert not copies("città a", source)


def test_a_span_starts_and_ends_on_word_boundaries_and_never_opens_with_the_marker() -> None:
    vocab = {0: b"<end>", 1: b"NOT", 2: b"ota", 3: b" Douai", 4: b"nota", 5: b"a"}
    # wants "NOT" then to stop: "not" begins "nota" in the source, but the marker's start is refused
    model = _model([[1, 4, 2], [0, 3], [0]], vocab)
    decoded = decode(model, vocab.__getitem__, END, "la nota di Douai", max_tokens=4, not_first="NOT_FOUND")
    assert decoded.text == "nota"
    assert not copies("ota", fold("la nota di Douai"))
    assert copies("not", fold("la nota"), whole=False) and not copies("not", fold("la nota"), whole=True)


def test_with_several_starts_the_span_most_likely_as_a_whole_wins() -> None:
    # greedy takes " 9" first (then must go on); starting from "9" the model ends at once, far likelier
    def candidates(reply: list[int]) -> list[tuple[int, float]]:
        table = {
            (): [(3, -0.5), (8, -0.9)],
            (3,): [(4, -3.0), (0, -6.0)],
            (3, 4): [(5, -3.0), (0, -4.0)],
            (3, 4, 5): [(0, -0.1)],
            (8,): [(0, -0.05)],
        }
        return table.get(tuple(reply), [(0, -0.1)])

    source = "il 9 dicembre 2025"
    assert decode(candidates, VOCAB.__getitem__, END, source, 8).text == "9 dicembre 2025"
    assert decode(candidates, VOCAB.__getitem__, END, source, 8, starts=2).text == "9"


def test_with_choices_the_reply_is_one_of_them_whole() -> None:
    # wants " Parigi" first and then to stop, but only the date is a choice: it must be written out whole
    model = _model([[6, 3, 8], [0, 4], [0, 5], [0]])
    decoded = decode(
        model, VOCAB.__getitem__, END, "9 dicembre 2025 a Parigi", max_tokens=8, choices=["9 dicembre 2025"]
    )
    assert decoded.text == "9 dicembre 2025"


def test_with_several_choices_and_starts_the_likeliest_whole_choice_wins() -> None:
    vocab = {0: b"<end>", 1: b" 9", 2: b" dicembre", 3: b" 2025", 4: b" 2028"}

    # the first step prefers " 9", but after it the model is unsure; " 2028" then ends at once, surely
    def candidates(reply: list[int]) -> list[tuple[int, float]]:
        if not reply:
            return [(1, math.log(0.6)), (4, math.log(0.3)), (0, math.log(0.05)), (2, -5.0), (3, -6.0)]
        if reply[-1] == 4 or reply[-1] == 3:
            return [(0, math.log(0.99)), (1, -9.0), (2, -9.0), (3, -9.0), (4, -9.0)]
        return [(2, math.log(0.2)), (3, math.log(0.1)), (0, math.log(0.6)), (1, -9.0), (4, -9.0)]

    choices = ["9 dicembre 2025", "2028"]
    one = decode(candidates, vocab.__getitem__, END, None, max_tokens=8, choices=choices)
    assert one.text == "9 dicembre 2025"  # greedy from the favourite first token
    both = decode(candidates, vocab.__getitem__, END, None, max_tokens=8, choices=choices, starts=2)
    assert both.text == "2028"  # 0.3 * 0.99 beats 0.6 * 0.2 * 0.1 * 0.99


def test_a_choice_is_written_as_it_is_not_as_the_fold_forgives() -> None:
    vocab = {0: b"<end>", 1: b"Nat", 2: b"\xc3\xa0le", 3: b"ale"}  # "Natàle" folds like "Natale"
    model = _model([[1], [2, 3], [0]], vocab)
    assert decode(model, vocab.__getitem__, END, None, max_tokens=4, choices=["Natale"]).text == "Natale"
    assert decode(model, vocab.__getitem__, END, "il Natale", max_tokens=4).text == "Natàle"  # the copy check folds
