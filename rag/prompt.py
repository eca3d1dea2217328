"""Prompt assembly: numbered sources within a token budget, templates read from rag/prompts/.

The system prompt depends only on the language, so it is a fixed prefix that llama.cpp reuses
from one question to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from .chunking import sentence_spans
from .types import Hit

CHARS_PER_TOKEN = 3.2  # measured on the Qwen tokenizer with Italian news text; errs on the long side
SOURCE_OVERHEAD_TOKENS = 16


@lru_cache(maxsize=16)
def template(name: str) -> str:
    return resources.files("rag").joinpath("prompts", name).read_text(encoding="utf-8")


def message(name: str, language: str) -> str:
    """A one-line message of a `lang: text` template file, in `language` (English when it has none)."""
    lines = dict(line.split(": ", 1) for line in template(name).strip().splitlines())
    return lines.get(language, lines["en"])


def abstain_message(language: str) -> str:
    """ "The articles don't say", in the question's language."""
    return message("abstain.txt", language)


def refuse_message(language: str) -> str:
    """The reply to a message that tries to change the system's task (rag/guard.py)."""
    return message("refuse.txt", language)


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


GAP = " … "


def _joined(hit: Hit, spans: list[tuple[int, int]], chosen: list[int]) -> str:
    """The chosen sentences of a passage in text order, left-out stretches marked with an ellipsis."""
    parts: list[str] = []
    previous = -1
    for i in sorted(chosen):
        if parts and i != previous + 1:
            parts.append(GAP)
        elif parts:
            parts.append(" ")
        parts.append(hit.chunk.text[spans[i][0] : spans[i][1]].strip())
        previous = i
    return "".join(parts)


def excerpt(hit: Hit, sentences: int) -> str:
    """The passage as the model sees it: its `sentences` sentences closest to the question, in text order.

    Left-out stretches are marked with an ellipsis. With `sentences` = 0, or without per-sentence
    scores, the whole chunk. Example (sentences=2, scores .2 .9 .1 .8): "s2 … s4".
    """
    spans = sentence_spans(hit)
    if sentences <= 0 or len(hit.sentence_scores) != len(spans) or len(spans) <= sentences:
        return hit.chunk.text
    best = sorted(range(len(spans)), key=lambda i: (-hit.sentence_scores[i], i))[:sentences]
    return _joined(hit, spans, best)


def closest_sentences(hits: list[Hit], count: int) -> list[tuple[Hit, str]]:
    """The `count` sentences closest to the question across all `hits`, each under its passage.

    Passages stay in rank order, each with its chosen sentences in text order; a sentence repeated
    by overlapping passages is taken once; passages without per-sentence scores are skipped.
    Example (count=2; hit 1 scores .9 .1, hit 2 scores .2 .8): [(hit 1, "s1"), (hit 2, "s2")]
    """
    candidates: list[tuple[float, int, int, str]] = []
    spans_of: dict[int, list[tuple[int, int]]] = {}
    for number, hit in enumerate(hits):
        spans = spans_of[number] = sentence_spans(hit)
        if len(hit.sentence_scores) != len(spans):
            continue
        for i, (start, end) in enumerate(spans):
            candidates.append((hit.sentence_scores[i], number, i, " ".join(hit.chunk.text[start:end].split())))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: dict[int, list[int]] = {}
    seen: set[str] = set()
    for _, number, i, text in candidates:
        if len(seen) == count:
            break
        if text not in seen:
            seen.add(text)
            chosen.setdefault(number, []).append(i)
    return [(hits[number], _joined(hits[number], spans_of[number], chosen[number])) for number in sorted(chosen)]


def select_context(hits: list[Hit], max_passages: int, token_budget: int, sentences: int = 0) -> list[Hit]:
    """The best hits that fit: at most `max_passages`, within `token_budget` (always at least one)."""
    chosen: list[Hit] = []
    used = 0
    for hit in hits[:max_passages]:
        cost = estimate_tokens(excerpt(hit, sentences)) + SOURCE_OVERHEAD_TOKENS
        if chosen and used + cost > token_budget:
            break
        chosen.append(hit)
        used += cost
    return chosen


@dataclass(frozen=True)
class BuiltPrompt:
    messages: list[BaseMessage]
    sources: list[Hit]  # sources[i] is marker i + 1


def format_sources(passages: list[tuple[Hit, str]]) -> str:
    """Numbered sources, each its passage's header and the text the model is shown."""
    return "\n\n".join(f"[{n}] {hit.chunk.header()}\n{text}" for n, (hit, text) in enumerate(passages, start=1))


def template_language(language: str) -> str:
    return language if language in ("it", "en") else "en"


def _answering_prompt(
    question: str, language: str, passages: list[tuple[Hit, str]], firm_language: bool
) -> BuiltPrompt:
    lang = template_language(language)
    user = template(f"user_{lang}.txt").format(sources=format_sources(passages), question=question).strip()
    if firm_language:
        user = f"{template(f'retry_{lang}.txt').strip()}\n\n{user}"
    return BuiltPrompt(
        messages=[SystemMessage(content=template(f"system_{lang}.txt").strip()), HumanMessage(content=user)],
        sources=[hit for hit, _ in passages],
    )


def build_prompt(
    question: str, language: str, hits: list[Hit], firm_language: bool = False, sentences: int = 0
) -> BuiltPrompt:
    """The answering prompt, passages cut to `sentences` sentences each (0: whole);
    `firm_language` adds a reminder of the answer language (the retry)."""
    return _answering_prompt(question, language, [(h, excerpt(h, sentences)) for h in hits], firm_language)


def build_second_look_prompt(
    question: str, language: str, hits: list[Hit], sentences: int, firm_language: bool = False
) -> BuiltPrompt | None:
    """The same question over only the `sentences` sentences closest to it among all `hits`:
    a short prompt for when the model found nothing in the long one. None without sentence scores."""
    passages = closest_sentences(hits, sentences)
    return _answering_prompt(question, language, passages, firm_language) if passages else None


HISTORY_TURNS = 2  # previous exchanges shown to the rewriter
HISTORY_ANSWER_CHARS = 300


def build_rewrite_prompt(question: str, language: str, history: list[tuple[str, str]]) -> list[BaseMessage]:
    """Turn a follow-up ("E quando arriveranno?") into a standalone question, given the last exchanges."""
    lang = template_language(language)
    labels = ("Utente", "Assistente") if lang == "it" else ("User", "Assistant")
    lines = []
    for asked, answered in history[-HISTORY_TURNS:]:
        lines.append(f"{labels[0]}: {asked}")
        lines.append(f"{labels[1]}: {answered[:HISTORY_ANSWER_CHARS]}")
    text = template(f"rewrite_{lang}.txt").format(history="\n".join(lines), question=question)
    return [HumanMessage(content=text.strip())]
