"""What the reader sees, as Markdown/HTML strings: answers with their sources, the status line, the
article list. Everything that comes from an article, an upload or the model is escaped here.
"""

from __future__ import annotations

import html
import re

from rag.library import ArticleEntry
from rag.types import Answer, Source

LABELS = {
    "it": {"sources": "Fonti", "closest": "Passaggi più vicini", "others": "Altri passaggi recuperati"},
    "en": {"sources": "Sources", "closest": "Closest passages", "others": "Other retrieved passages"},
}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|])")


def article_text(value: str) -> str:
    """Article text, safe in Markdown: HTML escaped and Markdown control characters backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", plain(value))


def _quote(passage: str) -> str:
    """A passage as a Markdown block quote, every paragraph of it inside the quote."""
    return "\n".join("> " + line for line in article_text(passage).splitlines())


def plain(answer: str) -> str:
    """Model or error text as text: HTML escaped, Markdown (and its [n] markers) left readable."""
    return html.escape(answer, quote=False)


def _highlighted_quote(passage: str, sentence: str | None) -> str:
    """A passage as a block quote with its supporting sentence marked (both escaped first)."""
    quoted = _quote(passage)
    target = article_text(sentence) if sentence else ""
    if target and target in quoted:
        return quoted.replace(target, f"<mark>{target}</mark>", 1)
    return quoted


def _folded(title: str, sources: list[Source]) -> list[str]:
    """Passages folded away under a summary line, each with its retrieval score."""
    if not sources:
        return []
    lines = ["", f"<details><summary>{title} ({len(sources)})</summary>", ""]
    for s in sources:
        lines.append(f"**{article_text(s.title)}** · score {s.score:.3f}")
        lines.append(_quote(s.text))
        lines.append("")
    lines.append("</details>")
    return lines


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def answer_text(answer: str) -> str:
    """The model's answer as text: HTML escaped, and no Markdown image or link, whose address an
    article could have put there ("![](https://…)" would make the browser fetch it)."""
    return plain(_MD_LINK.sub(r"\1", _MD_IMAGE.sub(r"\1", answer)))


def render_answer(answer: Answer) -> str:
    """The assistant message: the verified answer, its sources with the supporting sentence marked,
    and the other retrieved passages folded away (for an abstention: the closest passages)."""
    labels = LABELS.get(answer.language, LABELS["en"])
    lines = [answer_text(answer.answer), ""]
    if answer.citations:
        lines.append(f"**{labels['sources']}**")
        for c in answer.citations:
            meta = ", ".join(x for x in (c.date, c.publication if c.publication != "unknown" else "") if x)
            lines.append(f"\n**[{c.marker}] {article_text(c.title)}**" + (f" ({article_text(meta)})" if meta else ""))
            lines.append(_highlighted_quote(c.text, c.sentence))
        cited = {c.chunk_id for c in answer.citations}
        lines += _folded(labels["others"], [s for s in answer.sources if s.chunk_id not in cited])
    elif answer.sources:
        lines.append(f"**{labels['closest']}**")
        for s in answer.sources[:2]:
            lines.append(f"\n**{article_text(s.title)}** · score {s.score:.3f}")
            lines.append(_highlighted_quote(s.text, s.sentence))
        lines += _folded(labels["others"], answer.sources[2:])
    return "\n".join(lines)


def status_line(answer: Answer, number: int) -> str:
    """The line under the chat once an answer is complete: its number and timing (tests wait for it)."""
    t = answer.timings
    done = "Risposta" if answer.language == "it" else "Answer"
    first = "primo token" if answer.language == "it" else "first token"
    timing = f"{t.total_ms / 1000:.1f} s" + (f" ({first} {t.ttft_ms / 1000:.1f} s)" if t.ttft_ms else "")
    return f"✓ {done} {number} · {timing}"


ARTICLE_HEADERS = [
    "Titolo / Title",
    "Data / Date",
    "Testata / Publication",
    "Autore / Author",
    "Lingua / Language",
    "Passaggi / Chunks",
    "ID",
]


def articles_table(entries: list[ArticleEntry]) -> str:
    """The Articles tab's table as HTML; every value escaped (titles come from uploads)."""
    if not entries:
        return "<p>Nessun articolo indicizzato / No articles indexed. <code>rag ingest</code></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ARTICLE_HEADERS)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                e.title,
                e.date or "n.d.",
                e.publication if e.publication and e.publication != "unknown" else "n.d.",
                e.author or "n.d.",
                e.language,
                e.chunks,
                e.id,
            )
        )
        + "</tr>"
        for e in entries
    )
    total = sum(e.chunks for e in entries)
    caption = f"{len(entries)} articoli, {total} passaggi / {len(entries)} articles, {total} chunks"
    return (
        f'<table class="articles"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )
