"""Greedy decoding that may only copy: every prefix of the reply is a stretch of the shown text.

The reader (rag/answer/) asks the model for a short answer copied from the numbered sentences. A
1.5B model asked freely often writes "NOT_FOUND", restates the question or slips a letter; asked to
copy, with every token it picks checked against the text, it always proposes a real span of it, and
the probability of each token it picked is the span's own confidence. The decision to give the span
is taken elsewhere (rag/answer/decision.py).

Free of llama.cpp: the caller passes how to get the next log-probabilities and how a token reads,
so the algorithm is tested with a fake model (tests/test_copying.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..textutil import strip_accents

TOP_CANDIDATES = 64  # tokens tried per step, best first, before the reply is ended


@dataclass(frozen=True)
class Decoded:
    """A reply and the log-probability (over the whole vocabulary) of each token that made it."""

    text: str
    logprobs: tuple[float, ...] = ()

    @property
    def mean_logprob(self) -> float:
        """The span's own confidence: the mean log-probability of its tokens (-inf for an empty reply)."""
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else -math.inf


def fold(text: str) -> str:
    """Text as the copy check compares it: casefolded, without accents, spaces collapsed.

    Example: "L’intesa,  siglata" -> "l'intesa, siglata"
    """
    text = strip_accents(text.casefold()).replace("’", "'").replace("‘", "'")
    return " ".join(text.split())


def _occurrences(folded: str, source: str) -> list[int]:
    """Where `folded` starts in `source` at the start of a word."""
    found, at = [], source.find(folded)
    while at != -1:
        if at == 0 or not source[at - 1].isalnum():
            found.append(at)
        at = source.find(folded, at + 1)
    return found


def copies(candidate: str, folded_source: str, whole: bool = False) -> bool:
    """Is `candidate` (leading spaces aside) a stretch of the source starting at a word? With `whole`, one
    that also ends where a word ends. A trailing space may still grow.

    Example (source "la nota di Douai"): "nota di" -> True; "ota" -> False; "not" -> True, not whole.
    """
    folded = fold(candidate)
    if not folded:
        return not whole
    if candidate.endswith((" ", "\n")):
        folded += " "
    starts = _occurrences(folded, folded_source)
    if not whole:
        return bool(starts)
    return any(at + len(folded) == len(folded_source) or not folded_source[at + len(folded)].isalnum() for at in starts)


END = -1  # the move that ends the reply


@dataclass(frozen=True)
class Rule:
    """What a constrained reply may be: `grows(text)` while it is being written, `ends(text)` where it may stop."""

    grows: Callable[[str], bool]
    ends: Callable[[str], bool]


def copy_rule(source: str) -> Rule:
    """A stretch of `source`, starting and ending at word boundaries."""
    folded = fold(source)
    return Rule(lambda text: copies(text, folded), lambda text: copies(text, folded, whole=True))


def choice_rule(choices: Sequence[str]) -> Rule:
    """Exactly one of `choices`, written as they are (spaces collapsed): a model held to a choice it does
    not favour would otherwise slip into letters the fold forgives ("Natàle" for "Natale").

    Example (choices "9 dicembre 2025", "2028"): " 9 dic" grows; "2028" ends; "2027" and "9 Dicembre" neither.
    """
    written = {" ".join(c.split()) for c in choices if c.strip()}

    def grows(text: str) -> bool:
        wanted = " ".join(text.split()) + (" " if text.endswith((" ", "\n")) and text.strip() else "")
        return any(c.startswith(wanted) for c in written)

    return Rule(grows, lambda text: " ".join(text.split()) in written)


def _moves(
    candidates: Sequence[tuple[int, float]],
    piece: Callable[[int], bytes],
    end_tokens: set[int],
    rule: Rule | None,
    raw: bytes,
    first: bool,
    not_first: str,
) -> list[tuple[int, float]]:
    """The allowed next moves, best first: tokens that keep the reply within the rule, and END (with the
    probability of the end token or line break that ends it) where the reply may stop."""
    text = raw.decode("utf-8", errors="ignore")
    moves: list[tuple[int, float]] = []
    ended = False
    for token, logprob in candidates:
        grown_text = (raw + piece(token)).decode("utf-8", errors="ignore")
        if token in end_tokens or "\n" in grown_text.strip(" "):
            may_end = rule is None or (text.strip() and rule.ends(text))
            if may_end and not ended:
                moves.append((END, logprob))
                ended = True
            continue
        if rule is not None and first and not_first and not_first.startswith(grown_text.strip()):
            continue
        if rule is None or rule.grows(grown_text):
            moves.append((token, logprob))
    return moves


def decode(
    candidates_after: Callable[[list[int]], Sequence[tuple[int, float]]],
    piece: Callable[[int], bytes],
    end_tokens: set[int],
    source: str | None,
    max_tokens: int,
    top: int = TOP_CANDIDATES,
    not_first: str = "",
    starts: int = 1,
    choices: Sequence[str] = (),
) -> Decoded:
    """Greedy decoding over `candidates_after(tokens so far)`: the likeliest next tokens, best first, each
    with its log-probability over the whole vocabulary.

    With a `source`, a token is taken only if the reply stays a stretch of it; the reply ends at an end
    token (or a line break) once it holds something and a word of the source ends there, at `max_tokens`,
    or when no token among the `top` best copies. A first token that could begin `not_first` (the
    not-found marker, whose probability is read as a signal) is not taken when copying. With `starts` > 1,
    each of that many best first tokens is continued greedily, and the span most likely as a whole
    (its tokens and its end) wins; one cut off before it could end loses to any that ended. With `choices`,
    the reply must be one of them instead (the source aside).
    Without either, plain greedy decoding to an end token.
    Example: source "firmata il 9 dicembre 2025", the model's favourite "NOT_FOUND" -> the best copying token.
    """
    rule = choice_rule(choices) if choices else copy_rule(source) if source is not None else None

    def moves(tokens: list[int], raw: bytes) -> list[tuple[int, float]]:
        return _moves(candidates_after(tokens)[:top], piece, end_tokens, rule, raw, not tokens, not_first)

    def greedy(tokens: list[int], taken: list[float], raw: bytes) -> tuple[Decoded, float]:
        while len(tokens) < max_tokens:
            options = moves(tokens, raw)
            if not options:
                break
            token, logprob = options[0]
            if token == END:
                return Decoded(raw.decode("utf-8", errors="ignore").strip(), tuple(taken)), logprob
            tokens, taken, raw = [*tokens, token], [*taken, logprob], raw + piece(token)
        return Decoded(raw.decode("utf-8", errors="ignore").strip(), tuple(taken)), -math.inf  # never ended

    if starts <= 1 or rule is None:
        return greedy([], [], b"")[0]
    tried = []
    for token, logprob in [m for m in moves([], b"") if m[0] != END][:starts]:
        decoded, end = greedy([token], [logprob], piece(token))
        tried.append((sum(decoded.logprobs) + end, decoded))
    return max(tried, key=lambda t: t[0])[1] if tried else Decoded("")
