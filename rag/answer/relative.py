"""A "when" question answered by a relative day of a passage ("quest'oggi", "yesterday"): the day of the
calendar it is, read against its article's date (rag/periods.py), put before the answer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..chunking import split_sentences
from ..dates import long_date, states_date
from ..periods import RelativeDay, relative_days
from ..prompt import message
from ..protocol import MARKER
from ..retrieval import HybridRetriever
from ..types import Answer, Chunk, Citation
from .articles import phrase

# a sentence with a relative day answers "when?" when it is this close to the closest sentence of the passages
RELATIVE_MARGIN = 0.03


def with_relative_day(retriever: HybridRetriever, answer: Answer, question: str) -> Answer:
    """An answer to "when?" that is a relative day of its article ("quest'oggi", "yesterday"), with the
    day of the calendar put first: "**17 settembre 2025** («quest oggi», il giorno dell'articolo [1])".

    The relative day is in the answer's own words or in the sentence it cites. An answer that gives its
    article's date of publication, which no passage writes, has read the header for the event's day:
    "announced yesterday" under a header of 16 May was on the 15th, so the closest sentence with a
    relative day answers instead (that article's, when one of its is close enough). When the reader gave
    no answer, that sentence (the closest to the question among the retrieved ones with a relative day, by
    the stored sentence vectors, so across languages, within RELATIVE_MARGIN) is shown as evidence with its
    day worked out, asserting nothing:
    "the Bev version is unveiled today" beside "the launch is due at the end of 2025" does not answer
    "when do the cars reach showrooms".
    """
    read: set[str] = set()  # the dates of publication the answer gave for the event's day
    if not answer.abstained:
        plain = MARKER.sub("", answer.answer)
        for citation in answer.citations:
            found = (relative_days(plain, citation.date) or relative_days(citation.sentence or "", citation.date)
                     if citation.date else [])  # fmt: skip
            if found:
                lead = _lead(found[0], citation, answer.language)
                return replace(answer, answer=f"{lead} {answer.answer}",
                               short_answer=long_date(found[0].day.isoformat(), answer.language))  # fmt: skip
        read = _header_dates(retriever, plain, answer)
        if not read:
            return answer
    best = _closest_relative(retriever, answer, question, read)
    if best is None:
        return answer
    sentence, day, chunk = best
    source = Citation.of(1, chunk, sentence)
    publication = chunk.publication if chunk.publication != "unknown" else ""
    meta = ", ".join(m for m in (chunk.title, long_date(chunk.date, answer.language), publication) if m)
    route = answer.route or "relative-day"
    if not answer.abstained:  # the header's date corrected by the sentence it stood for
        text = f"{_lead(day, source, answer.language)} «{sentence}» — {meta} [1]"
        return replace(answer, answer=text, citations=[source], route=route,
                       short_answer=long_date(day.day.isoformat(), answer.language))  # fmt: skip
    worked = phrase("relative_evidence", answer.language, words=day.words,
                    date=long_date(day.day.isoformat(), answer.language),
                    relation=phrase(f"relation_{day.offset}", answer.language))  # fmt: skip
    text = f"{message('evidence.txt', answer.language)}\n- «{sentence}» — {meta} [1] {worked}"
    return replace(answer, answer=text, citations=[source], outcome="evidence", route=route)


def _header_dates(retriever: HybridRetriever, plain: str, answer: Answer) -> set[str]:
    """The dates of publication of the retrieved articles that the answer writes and none of its passages does."""
    sources = {s.chunk_id for s in answer.sources}
    dates = {c.date for c in answer.citations if c.date} | {c.date for c in retriever.chunks() if c.id in sources}
    texts = [c.text for c in answer.citations] + [s.text for s in answer.sources]
    return {d for d in dates if d and states_date(plain, d) and not any(states_date(t, d) for t in texts)}


def _closest_relative(
    retriever: HybridRetriever, answer: Answer, question: str, dates: set[str]
) -> tuple[str, RelativeDay, Chunk] | None:
    """The retrieved sentence with a relative day closest to the question, if it is among the closest
    retrieved sentences (within RELATIVE_MARGIN); from the articles of `dates` (those whose date the
    answer gave: the article the model read) when one of theirs qualifies."""
    chunks = {c.id: c for c in retriever.chunks()}
    ids = [i for i in dict.fromkeys(s.chunk_id for s in answer.sources) if i in chunks and chunks[i].date]
    ids += [c.chunk_id for c in answer.citations if c.chunk_id in chunks and c.chunk_id not in ids]
    if not ids:
        return None
    query = _unit(np.asarray(retriever.store.embed_query(question), dtype=np.float32))
    closest = -1.0
    found: list[tuple[float, str, RelativeDay, Chunk]] = []
    for chunk_id, rows in retriever.store.sentence_vectors(ids).items():
        chunk = chunks[chunk_id]
        scores = rows @ query / np.maximum(np.linalg.norm(rows, axis=1), 1e-9)
        closest = max(closest, float(scores.max(initial=-1.0)))
        for (start, end), score in zip(split_sentences(chunk.text), scores, strict=False):
            days = relative_days(chunk.text[start:end], chunk.date)
            if days:
                found.append((float(score), chunk.text[start:end], days[0], chunk))
    near = sorted((f for f in found if f[0] >= closest - RELATIVE_MARGIN), key=lambda f: -f[0])
    read = [f for f in near if f[3].date in dates]
    if not near:
        return None
    _, sentence, day, chunk = (read or near)[0]
    return sentence, day, chunk


def _lead(day: RelativeDay, citation: Citation, language: str) -> str:
    relation = phrase(f"relation_{day.offset}", language)
    when = long_date(day.day.isoformat(), language)
    return phrase("relative", language, date=when, words=day.words, relation=relation, n=citation.marker)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (float(np.linalg.norm(vector)) or 1.0)
