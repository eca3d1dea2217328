"""The news-aware front of the answer stage: an article is a fact, and time is part of the question.

Before a reader sees a question, this reads what it says about the articles and about time:
- about an article itself (author, date, publication, headline, language, how many, which): answered
  from the articles' metadata, cited to the article's header, without the model;
- a period ("a dicembre", "in June 2025", "l'anno scorso") or a date range from the caller: the search is
  limited to articles published then (Chroma's `where` on each chunk's `day`); a period no article covers
  is answered as not covered, never from articles outside it;
- an order ("the latest article on X"): the articles on X ranked by date, not by similarity;
- "how long between the articles on X", "what changed between September and December": the dates
  compared, or the two periods' closest sentences side by side, each cited, rather than a synthesis;
- a "when" question whose answer is a relative day of a passage ("quest'oggi"): the day of the calendar
  it is, read against the article's date.
Everything else goes to the reader unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
from langchain_core.language_models.chat_models import BaseChatModel

from ..dates import long_date
from ..language import detect_language
from ..periods import (
    Period,
    TimeQuery,
    asks_when,
    event_reference,
    parse_time,
    relative_to,
)
from ..retrieval import HybridRetriever
from ..settings import Settings
from ..types import Answer, Citation, Hit, Scope, Source, Timings
from .articles import (
    ArticleCard,
    article_question,
    asks_content_too,
    asks_only_time,
    cards,
    has_subject,
    names_in,
    naming_all,
    phrase,
    ranked_articles,
    two_articles,
    without_time,
)
from .chain import ExtractingPipeline
from .compose import ComposingPipeline
from .relative import with_relative_day
from .trace import Response, checked_question, elapsed_ms, sources_of

Reader = ExtractingPipeline | ComposingPipeline

METADATA = ("author", "date", "publication", "title", "language")
# articles whose best sentence is this close to the best article's count as being on the same subject
SUBJECT_MARGIN = 0.15
SUBJECT_DEPTH = 30  # passages searched to find the articles on a subject


@dataclass(frozen=True)
class _Question:
    text: str
    language: str
    kind: str  # rag/answer/articles.py article_question
    time: TimeQuery
    period: Period | None  # the caller's range, else the question's
    archive: list[ArticleCard]
    started: float

    @property
    def dated(self) -> list[ArticleCard]:
        return [a for a in self.archive if a.day]


class NewsPipeline:
    """A reader (rag/answer/__init__.py) with the news-aware steps in front of it."""

    def __init__(self, settings: Settings, retriever: HybridRetriever, reader: Reader) -> None:
        self.settings = settings
        self.retriever = retriever
        self.reader = reader
        self._titles: dict[str, np.ndarray] = {}  # title -> its unit vector

    @property
    def chat_model(self) -> BaseChatModel:
        return self.reader.chat_model

    def stream(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[tuple[str, str]] = (),
        period: Period | None = None,
    ) -> Response:
        """As the reader's `stream`; `period` limits the search to articles published in it (the chat's
        From / To), and wins over a period named in the question."""
        return Response(self._steps(checked_question(question), k, history, period))

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[tuple[str, str]] = (),
        period: Period | None = None,
    ) -> Answer:
        return self.stream(question, k=k, history=history, period=period).answer

    def _steps(
        self, question: str, k: int | None, history: Sequence[tuple[str, str]], period: Period | None
    ) -> Generator[str, None, Answer]:
        started = time.perf_counter()
        language = detect_language(question)
        archive = cards(self.retriever.chunks())
        days = [day for day in (a.day for a in archive) if day]
        asked = parse_time(question, language, self.settings.today_date(), max(days)) if days else TimeQuery()
        chosen = period or asked.period or (self._event_period(question, language) if days else None)
        q = _Question(question, language, article_question(question), asked, chosen, archive, started)
        if q.kind == "changes" and len(asked.periods) >= 2 and days:
            return self._changes(q)
        scope = None
        if q.period and days:
            covered = [a for a in q.dated if a.day and q.period.contains(a.day)]
            if not covered:
                return self._uncovered(q)
            scope = Scope(q.period.first_day, q.period.last_day)
        if q.kind == "gap":
            return self._gap(q, scope)
        if q.kind in ("count", "list") or (q.kind == "which" and q.period and not has_subject(question)):
            return self._count(q, scope)
        if not q.kind and scope and asks_only_time(question, asked.expressions):  # "what happened in March?"
            return self._count(replace(q, kind="list"), scope)
        if q.kind == "which" and asked.order and asks_content_too(question):
            return (yield from self._which_and_what(q, scope, k, history))
        if q.kind in METADATA or q.kind == "which":
            return self._metadata(q, scope)
        route = "period" if scope else ""
        if asked.order and days:
            found = self._subject(q, scope)
            if found:
                pick = _by_order(found, asked.order)
                scope = Scope(article_ids=frozenset({pick.id}))
                route = asked.order
        response = self.reader.stream(question, k=k, history=history, scope=scope)
        yield from response
        answer = response.answer
        if asks_when(question):
            answer = with_relative_day(self.retriever, answer, question)
        return replace(answer, route=answer.route or route)

    # -- the steps ---------------------------------------------------------------------------------
    def _event_period(self, question: str, language: str) -> Period | None:
        """ "Articles before the Ford deal": the days before (or from) the date of the article the event is in."""
        reference = event_reference(question)
        if reference is None:
            return None
        relation, event = reference
        hits = [h for h in self.retriever.search(event, k=10) if h.chunk.date]
        names = [n for n in names_in(question) if n in event]
        if names:  # the event's article names what the event does ("the Renault–Ford deal": both)
            archive = cards(self.retriever.chunks())
            naming = {a.id for a in naming_all(archive, self.retriever.chunks(), names)}
            hits = [h for h in hits if h.chunk.article_id in naming] or hits
        if not hits:
            return None
        day = date.fromisoformat(hits[0].chunk.date)
        return relative_to(relation, day, f"{event}, {long_date(hits[0].chunk.date, language)}")

    def _subject(self, q: _Question, scope: Scope | None, every: bool = False) -> list[ArticleCard]:
        """The articles the question is about, best first.

        An article is on the subject when it names every proper name of the question (unless its closest
        passage is far behind the best article's), or, for a question without names, when its closest
        passage is about as close as the best article's. They are ranked by that passage's similarity
        plus their title's: "the article on the tram's opening" is the one whose headline says so.
        With `every` (counting, listing), each article naming the names counts, however far its passage.
        """
        by_id = {a.id: a for a in q.archive}
        allowed = [a for a in q.archive if scope is None or scope.admits(a.chunk)]
        if scope and not has_subject(q.text):  # "which articles came out in March?": all of March's
            return allowed
        hits = self.retriever.search(q.text, k=SUBJECT_DEPTH, scope=scope)
        best: dict[str, float] = {}
        for hit in hits:
            best.setdefault(hit.chunk.article_id, hit.sentence_score or hit.dense_score or 0.0)
        top = max(best.values(), default=0.0)
        close = {i for i, score in best.items() if score >= top - SUBJECT_MARGIN and i in by_id}
        names = names_in(q.text)
        naming = {a.id for a in naming_all(allowed, self.retriever.chunks(), names)} if names else set()
        # a retrieved article far from the question only mentions the name ("Gazzetta di Valdoria")
        found = ({i for i in naming if every or i not in best or i in close} or naming) if naming else close
        titles = self._title_scores(q.text, [by_id[i] for i in found])
        return sorted((by_id[i] for i in found), key=lambda a: (-(best.get(a.id, 0.0) + titles[a.id]), a.date))

    def _title_scores(self, question: str, articles: list[ArticleCard]) -> dict[str, float]:
        """Cosine similarity of the question to each article's title (titles embedded once per process)."""
        if not articles:
            return {}
        embeddings = self.retriever.store.embeddings
        missing = [a for a in articles if a.title not in self._titles]
        if missing:
            vectors = embeddings.embed_documents([a.title for a in missing])
            for article, vector in zip(missing, vectors, strict=True):
                self._titles[article.title] = _unit(np.asarray(vector, dtype=np.float32))
        query = _unit(np.asarray(self.retriever.store.embed_query(question), dtype=np.float32))
        return {a.id: float(self._titles[a.title] @ query) for a in articles}

    def _metadata(self, q: _Question, scope: Scope | None) -> Answer:
        found = self._subject(q, scope)
        if not found:
            return self._uncovered(q) if q.period else _nothing(q)
        card = _by_order(found, q.time.order) if q.time.order else found[0]
        kind = q.kind if q.kind in METADATA else q.time.order or "title"
        text = _fact(kind, card, q.language)
        return _answer(q, text, [card.citation(1)], f"metadata:{kind}", short=_short(kind, card, q.language))

    def _which_and_what(
        self, q: _Question, scope: Scope | None, k: int | None, history: Sequence[tuple[str, str]]
    ) -> Generator[str, None, Answer]:
        """ "The latest article on X, and what does it say?": the reader, on that article alone, then the
        article's line."""
        found = self._subject(q, scope)
        if not found:
            return _nothing(q)
        card = _by_order(found, q.time.order)
        response = self.reader.stream(q.text, k=k, history=history, scope=Scope(article_ids=frozenset({card.id})))
        yield from response
        answer = response.answer
        n = max((c.marker for c in answer.citations), default=0) + 1
        line = phrase(q.time.order, q.language, title=card.title, details=_details(card, q.language), n=n)
        text = line if answer.abstained else f"{answer.answer}\n\n{line}"
        citations = ([] if answer.abstained else answer.citations) + [card.citation(n)]
        return replace(answer, answer=text, abstained=False, citations=citations, route=q.time.order, outcome="",
                       short_answer="")  # fmt: skip

    def _count(self, q: _Question, scope: Scope | None) -> Answer:
        found = sorted(self._subject(q, scope, every=True), key=lambda a: (a.date or "9999", a.title))
        if not found:
            return _answer(q, phrase("count_none", q.language), [], "metadata:count", abstained=True)
        head = "list" if q.kind in ("list", "which") else "count_one" if len(found) == 1 else "count"
        if head == "list" and q.period and not has_subject(q.text):
            head = "list_period"
        lines = [phrase(head, q.language, count=len(found), period=q.period.label if q.period else "")]
        lines += [phrase("item", q.language, title=a.title, details=_details(a, q.language), n=n)
                  for n, a in enumerate(found, 1)]  # fmt: skip
        citations = [a.citation(n) for n, a in enumerate(found, 1)]
        return _answer(q, "\n".join(lines), citations, f"metadata:{q.kind}", short=str(len(found)))

    def _gap(self, q: _Question, scope: Scope | None) -> Answer:
        pair = two_articles(q.text)
        if pair:  # "between the article on A and the one on B": each found by its own description
            by_id = {a.id: a for a in q.archive}
            picked: list[str] = []
            for description in pair:  # the second is another article than the first
                hits = self.retriever.search(description, k=10, scope=scope)
                picked += [i for i in ranked_articles(hits) if i not in picked and by_id[i].day][:1]
            found = sorted((by_id[i] for i in picked), key=lambda a: a.date)
        else:
            found = sorted((a for a in self._subject(q, scope, every=True) if a.day), key=lambda a: a.date)
        if not found:
            return _nothing(q)
        first, last = found[0], found[-1]
        values = {"first": first.title, "first_date": long_date(first.date, q.language)}
        if len(found) == 1 or first.day == last.day:
            return _answer(q, phrase("gap_one", q.language, **values), [first.citation(1)], "gap")
        assert first.day and last.day
        span = _months_and_days(first.day, last.day, q.language)
        days = (last.day - first.day).days
        text = phrase("gap", q.language, **values, last=last.title, last_date=long_date(last.date, q.language),
                      span=span, days=days)  # fmt: skip
        return _answer(q, text, [first.citation(1), last.citation(2)], "gap", short=span)

    def _changes(self, q: _Question) -> Answer:
        """What the articles of each period named say, one line each, each cited."""
        # what to look for in each period: the question without its periods ("il costo della tranvia")
        query = without_time(q.text, q.time.expressions)
        lines = [phrase("changes", q.language)]
        citations: list[Citation] = []
        hits_shown: list[Hit] = []
        for period in q.time.periods:
            hits = self.retriever.search(query, k=3, scope=Scope(period.first_day, period.last_day))
            if not hits:
                lines.append(phrase("change_none", q.language, period=period.label))
                continue
            hit = hits[0]
            n = len(citations) + 1
            sentence = hit.best_sentence or hit.chunk.text[:300]
            citations.append(Citation.of(n, hit.chunk, sentence))
            hits_shown.append(hit)
            lines.append(phrase("change", q.language, period=period.label, sentence=sentence, title=hit.chunk.title,
                                date=long_date(hit.chunk.date, q.language), n=n))  # fmt: skip
        if not citations:
            return self._uncovered(q)
        return _answer(q, "\n".join(lines), citations, "changes", hits=hits_shown)

    def _uncovered(self, q: _Question) -> Answer:
        dated = q.dated
        period = q.period or q.time.period
        text = phrase(
            "uncovered",
            q.language,
            period=period.label if period else "",
            first=long_date(dated[0].date, q.language) if dated else "—",
            last=long_date(dated[-1].date, q.language) if dated else "—",
        )
        return _answer(q, text, [], "uncovered", abstained=True)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (float(np.linalg.norm(vector)) or 1.0)


def _by_order(found: list[ArticleCard], order: str) -> ArticleCard:
    dated = [a for a in found if a.day] or found
    pick = max if order == "latest" else min
    return pick(dated, key=lambda a: (a.date, a.title))


def _details(card: ArticleCard, language: str) -> str:
    parts = [
        card.publication if card.publication != "unknown" else "",
        long_date(card.date, language) if card.date else "",
        card.author,
    ]
    return ", ".join(p for p in parts if p)


def _fact(kind: str, card: ArticleCard, language: str) -> str:
    n = 1
    if kind == "author":
        return phrase("author" if card.author else "no_author", language, title=card.title, author=card.author, n=n)
    if kind == "date":
        return phrase("date" if card.date else "no_date", language, title=card.title,
                      date=long_date(card.date, language), n=n)  # fmt: skip
    if kind == "publication":
        known = card.publication and card.publication != "unknown"
        return phrase("publication" if known else "no_publication", language, title=card.title,
                      publication=card.publication, n=n)  # fmt: skip
    if kind == "language":
        name = phrase(f"language_{card.language}", language) if card.language in ("it", "en") else card.language
        return phrase("language", language, title=card.title, language=name, n=n)
    key = kind if kind in ("latest", "earliest") else "title"
    return phrase(key, language, title=card.title, details=_details(card, language), n=n)


def _short(kind: str, card: ArticleCard, language: str) -> str:
    if kind == "author":
        return card.author
    if kind == "date":
        return long_date(card.date, language)
    if kind == "publication":
        return card.publication if card.publication != "unknown" else ""
    if kind == "language":
        return card.language
    return card.title


def _months_and_days(first: date, last: date, language: str) -> str:
    """Whole months from `first` to `last`, then the days left. Example: 17 Sep -> 9 Dec: 2 months, 22 days."""
    months = (last.year - first.year) * 12 + last.month - first.month
    if last.day < first.day:
        months -= 1
    year, month = divmod(first.month - 1 + months, 12)
    anchor = date(first.year + year, month + 1, min(first.day, 28))
    anchor = anchor.replace(day=first.day) if _valid(anchor.year, anchor.month, first.day) else anchor
    days = (last - anchor).days
    if months == 1:
        return phrase("month_one", language, days=days)
    return phrase("months", language, months=months, days=days)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _answer(
    q: _Question,
    text: str,
    citations: list[Citation],
    route: str,
    abstained: bool = False,
    short: str = "",
    hits: list[Hit] | None = None,
) -> Answer:
    """An answer the news steps give themselves: its text is its claim (no `outcome`: not a reader's span),
    and its sources are what it cites."""
    sources = sources_of(hits) if hits else [
        Source(rank=c.marker, chunk_id=c.chunk_id, article_id=c.article_id, title=c.title, score=1.0, text=c.text,
               sentence=c.sentence or "")
        for c in citations
    ]  # fmt: skip
    return Answer(
        question=q.text,
        language=q.language,
        answer=text,
        abstained=abstained,
        citations=citations,
        sources=sources,
        timings=Timings(total_ms=elapsed_ms(q.started), evidence_ms=elapsed_ms(q.started)),
        raw_answer=text,
        context_ids=[c.chunk_id for c in citations],
        short_answer=short,
        route=route,
    )


def _nothing(q: _Question) -> Answer:
    return _answer(q, phrase("count_none", q.language), [], "metadata:none", abstained=True)
