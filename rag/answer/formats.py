"""Every format the extracting reader asks the model for, and how its replies are read and shown.

The model sees numbered sentences and is asked for a short span copied from them (its templates in
rag/prompts/ take the not-found marker from here); an English question over an Italian span then gets
the span translated by a second, tiny prompt. The check then shows the model only the question, the cited
sentence and the span, and the probability that its reply opens with "yes" rather than "no" is read (one
forward pass, no decoding) as a signal for the decision. What the reader sees is built here too: the
evidence placeholder shown before the model has read anything, and the final answer, a bold short answer
followed by the quoted sentence it was copied from, with its article, date and marker.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from ..dates import long_date
from ..numbers import numbers_in
from ..prompt import message, template, template_language
from ..protocol import MARKER, NOT_FOUND
from .evidence import Evidence

SPAN_MAX_TOKENS = 24
CHECK_YES, CHECK_NO = ("yes", "Yes"), ("no", "No")  # the check's labels, read at its reply's first position
TRANSLATION_MAX_TOKENS = 32
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def extract_prompt(question: str, language: str, evidence: list[Evidence]) -> list[BaseMessage]:
    """The span prompt: the numbered evidence sentences and the question, in the question's language."""
    lang = template_language(language)
    sentences = "\n".join(f"[{e.number}] {e.sentence}" for e in evidence)
    system = template(f"extract_system_{lang}.txt").strip()
    assert NOT_FOUND in system  # the marker's probability is read as a signal, never taken as output
    user = template(f"extract_user_{lang}.txt").format(sentences=sentences, question=question).strip()
    return [SystemMessage(content=system), HumanMessage(content=user)]


def check_prompt(question: str, language: str, sentence: str, span: str) -> list[BaseMessage]:
    """The check prompt: does this one sentence give this span as the answer to this question?"""
    lang = template_language(language)
    system = template(f"check_system_{lang}.txt").strip()
    assert all(label in system for label in (CHECK_YES[0], CHECK_NO[0]))  # the labels whose probabilities are read
    user = template(f"check_user_{lang}.txt").format(sentence=sentence, question=question, answer=span).strip()
    return [SystemMessage(content=system), HumanMessage(content=user)]


def read_check(opening: dict[str, float] | None) -> float | None:
    """P(yes) against P(no) at the check's first position, from the labels' probabilities; None when the
    backend gave none of them.

    Example: {"yes": .3, "Yes": .1, "no": .1, "No": .1} -> 0.667
    """
    if not opening:
        return None
    yes = sum(opening.get(w, 0.0) for w in CHECK_YES)
    no = sum(opening.get(w, 0.0) for w in CHECK_NO)
    return yes / (yes + no) if yes + no > 0 else None


def translation_prompt(span: str) -> list[BaseMessage]:
    """Translate a copied Italian span for an English question."""
    return [SystemMessage(content=template("translate_en.txt").strip()), HumanMessage(content=span)]


def needs_translation(span: str, question_language: str, span_language: str) -> bool:
    """An English question over an Italian span that holds words (not only names and numbers)."""
    if question_language != "en" or span_language == "en":
        return False
    return any(word[0].islower() for word in _WORD.findall(span))


def read_translation(reply: str, span: str) -> str:
    """The translation as shown, or the span itself when the reply is empty, long or loses a number of it."""
    text = " ".join(reply.strip().strip("\"'«»“”").split())
    if not text or len(text) > 3 * len(span) + 20 or NOT_FOUND in text:
        return span
    if not numbers_in(span, source=True) <= numbers_in(text, source=True):
        return span
    return text


def clean_span(text: str) -> str:
    """A span without the punctuation it may have picked up at its ends, nor the [n] markers a backend that
    replies freely may add.

    Example: " 550 milioni di euro [1]." -> "550 milioni di euro"
    """
    return " ".join(MARKER.sub("", text).split()).strip(" ,;:.‖")


def _source_line(item: Evidence, language: str) -> str:
    chunk = item.hit.chunk
    publication = chunk.publication if chunk.publication != "unknown" else ""
    meta = ", ".join(m for m in (chunk.title, long_date(chunk.date, language) if chunk.date else "", publication) if m)
    return f"«{item.sentence}» — {meta} [{item.number}]"


def evidence_text(evidence: list[Evidence], language: str, pending: bool = False) -> str:
    """The closest passages as the reader sees them: while the answer is being read, or as the answer."""
    head = message("evidence_pending.txt" if pending else "evidence.txt", language)
    return "\n".join([head, *(f"- {_source_line(e, language)}" for e in evidence)])


def answer_text(short: str, support: Evidence, language: str, original: str = "") -> str:
    """The bold short answer, the original span when it was translated, then the quoted supporting sentence."""
    said = f"**{short}**" + (f" («{original}»)" if original and original != short else "")
    return f"{said} [{support.number}]\n\n{_source_line(support, language)}"
