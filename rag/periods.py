"""Time in a question, and time in a passage (pure functions of the text stage).

A question's time expression becomes a `Period` (a range of publication days) or an order ("the latest
article"); a relative date in a passage ("quest'oggi", "yesterday") becomes a day, read against its
article's date. Relative expressions in a question ("last month", "l'anno scorso", "this year") are read
against today's date; a month or season named without a year ("a dicembre", "in spring") is its most
recent occurrence that the archive reaches: not after today, and not after the newest article.

Example: parse_time("Cosa è successo a dicembre?", today=2026-12-02, newest=2025-12-09)
  -> TimeQuery(periods=(Period(2025-12-01, 2025-12-31, "dicembre 2025"),), order="")
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from .dates import MONTHS
from .textutil import strip_accents

_MONTH_NUMBER = {strip_accents(name.lower()): n for names in MONTHS.values() for n, name in enumerate(names, 1)}
_MONTH_NUMBER.update({"sept": 9})
_MONTH_WORDS = "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True))
_MONTH = rf"(?P<month>{_MONTH_WORDS})"
_YEAR = r"(?P<year>(?:19|20)\d{2})"


@dataclass(frozen=True)
class Period:
    """Publication days from `start` to `end`, both included."""

    start: date
    end: date
    label: str = ""  # how the question named it, written out ("dicembre 2025", "2025")

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def first_day(self) -> int:
        return day_number(self.start)

    @property
    def last_day(self) -> int:
        return day_number(self.end)


@dataclass(frozen=True)
class TimeQuery:
    """What a question says about time: the periods it names (in the order named) and an order asked for."""

    periods: tuple[Period, ...] = ()
    order: str = ""  # "latest" | "earliest" | ""
    expressions: tuple[str, ...] = ()  # the words that said it, as written in the question

    def __bool__(self) -> bool:
        return bool(self.periods or self.order)

    @property
    def period(self) -> Period | None:
        """One range covering every period named (None when none is)."""
        if not self.periods:
            return None
        start, end = min(p.start for p in self.periods), max(p.end for p in self.periods)
        return Period(start, end, " – ".join(p.label for p in self.periods))


def day_number(day: date | str) -> int:
    """A day as the number stored beside each chunk, so Chroma's `where` can compare it: yyyymmdd (0: no date).

    Example: "2025-12-09" -> 20251209; "" -> 0
    """
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            return 0
    return day.year * 10_000 + day.month * 100 + day.day


def _month_period(year: int, month: int, language: str) -> Period:
    last = calendar.monthrange(year, month)[1]
    return Period(date(year, month, 1), date(year, month, last), f"{MONTHS[_lang(language)][month - 1]} {year}")


def _year_period(year: int) -> Period:
    return Period(date(year, 1, 1), date(year, 12, 31), str(year))


def _lang(language: str) -> str:
    return language if language in MONTHS else "en"


# -- the question's expressions, most specific first ---------------------------------------------------------
_DAY_MONTH_YEAR = re.compile(rf"\b(?P<day>\d{{1,2}})(?:º|°|st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\s+{_YEAR}\b")
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b")
_ISO = re.compile(r"\b(?P<year>(?:19|20)\d{2})-(?P<month>\d{2})-(?P<day>\d{2})\b")
_MONTH_YEAR = re.compile(rf"\b{_MONTH}(?:\s+(?:del|of|de))?\s+{_YEAR}\b")
# a month alone needs a preposition before it ("in May", not the verb "may")
_BARE_MONTH = re.compile(
    rf"\b(?:in|a|ad|di|del|nel|nel mese di|durante|during|of|since|from|until|before|after|prima di|dopo|da|dal|"
    rf"entro|by|fino a|tra|fra|between|and|e|ed|to|or|o)\s+{_MONTH}\b(?!\s+\d)"
)
_SHARED_YEAR = re.compile(rf"\s+(?:e|ed|and|to|a|al|-|–|until|fino a)\s+{_MONTH}\s+{_YEAR}\b")
_PART_OF_YEAR = re.compile(
    rf"\b(?P<part>inizio|principio|primi mesi|meta|fine|ultimi mesi|early|mid|late|end|beginning|start)"
    rf"(?:\s+(?:del|dell|of|of the))?[\s-]+{_YEAR}\b"
)
_YEAR_ALONE = re.compile(rf"\b(?:in|nel|del|durante|during|of|since|from|dal|anno|year)\s+(?:l\s+)?{_YEAR}\b")
_PARTS = {
    "inizio": (1, 4), "principio": (1, 4), "primi mesi": (1, 4), "early": (1, 4), "beginning": (1, 4), "start": (1, 4),
    "meta": (5, 8), "mid": (5, 8),
    "fine": (9, 12), "ultimi mesi": (9, 12), "late": (9, 12), "end": (9, 12),
}  # fmt: skip
_RELATIVE = (
    (re.compile(r"\b(?:oggi|today)\b"), "today"),
    (re.compile(r"\b(?:ieri|yesterday)\b"), "yesterday"),
    (re.compile(r"\b(?:questa settimana|this week)\b"), "this week"),
    (
        re.compile(r"\b(?:la settimana scorsa|la scorsa settimana|settimana scorsa|last week|the past week)\b"),
        "last week",
    ),
    (re.compile(r"\b(?:questo mese|this month)\b"), "this month"),
    (re.compile(r"\b(?:il mese scorso|lo scorso mese|mese scorso|last month|past month)\b"), "last month"),
    (re.compile(r"\b(?:quest anno|questo anno|this year)\b"), "this year"),
    (
        re.compile(r"\b(?:l anno scorso|lo scorso anno|anno scorso|l anno passato|last year|the past year)\b"),
        "last year",
    ),
    (
        re.compile(
            r"\b(?:negli ultimi|nelle ultime|in the last|in the past|over the last|over the past)\s+"
            r"(?P<n>\d+|due|tre|quattro|sei|dodici|two|three|four|six|twelve)\s+"
            r"(?P<unit>giorni|settimane|mesi|anni|days|weeks|months|years)\b"
        ),
        "last n",
    ),
)
_NUMBER_WORDS = {"due": 2, "tre": 3, "quattro": 4, "sei": 6, "dodici": 12, "two": 2, "three": 3, "four": 4,
                 "six": 6, "twelve": 12}  # fmt: skip
_BEFORE = re.compile(r"\b(?:prima d[ei]l?l?[oa]?|prima di|before|until|fino a|fino al|entro il|entro|by|up to)\s*$")
_AFTER = re.compile(r"\b(?:dopo il|dopo l|dopo|after|since|dal|dall|dalla|da|a partire da[l]?|starting)\s*$")
# "the latest article", "l'ultimo articolo", "most recently": an order asked of the articles themselves
_NEWS_NOUN = r"(?:articol[oi]|notizi[ae]|pezz[oi]|servizi[oi]|report|articles?|news|stor(?:y|ies)|pieces?|reports?)"
_LATEST = re.compile(
    rf"\b(?:(?:ultim[oaie]|piu recent[ei]|piu nuov[oi]|latest|newest|most recent|last)\s+(?:\w+\s+)?{_NEWS_NOUN}"
    rf"|{_NEWS_NOUN}\s+(?:piu recent[ei]|piu nuov[oi]|most recent)|most recently|piu di recente|piu recentemente"
    rf"|(?:il|la|l)\s+piu recente)\b"
)
_EARLIEST = re.compile(
    rf"\b(?:(?:prim[oaie]|piu vecchi[oe]?|meno recent[ei]|first|earliest|oldest)\s+(?:\w+\s+)?{_NEWS_NOUN}"
    rf"|{_NEWS_NOUN}\s+(?:piu vecchi[oe]?|meno recent[ei]|piu datat[oi])|il piu vecchio|il meno recente)\b"
)


def normalize(text: str) -> str:
    """Lower case, no accents, apostrophes and dashes as spaces: the form the patterns match."""
    text = strip_accents(text.lower()).replace("’", " ").replace("'", " ").replace("‘", " ")
    return re.sub(r"[^\w\s,-]", " ", text)


def parse_time(question: str, language: str, today: date, newest: date | None = None) -> TimeQuery:
    """The periods and the order a question names. Periods that start after today are dropped: no article
    can be from then, so such a year is the event's ("what happens from 2028?"), not the article's."""
    text = normalize(question)
    anchor = min(today, newest) if newest else today
    found: list[tuple[int, Period, str]] = []
    taken: list[tuple[int, int]] = []

    def claim(match: re.Match[str]) -> bool:
        span = match.span()
        if any(a < span[1] and span[0] < b for a, b in taken):
            return False
        taken.append(span)
        return True

    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _ISO):
        for m in pattern.finditer(text):
            month = int(m["month"]) if m["month"].isdigit() else _MONTH_NUMBER[m["month"]]
            try:
                day = date(int(m["year"]), month, int(m["day"]))
            except ValueError:
                continue
            if claim(m):
                found.append((m.start(), Period(day, day, _long(day, language)), m.group(0)))
    for m in _MONTH_YEAR.finditer(text):
        if claim(m):
            found.append((m.start(), _month_period(int(m["year"]), _MONTH_NUMBER[m["month"]], language), m.group(0)))
    for m in _PART_OF_YEAR.finditer(text):
        if claim(m):
            first, last = _PARTS[m["part"]]
            year = int(m["year"])
            end = _month_period(year, last, language).end
            found.append((m.start(), Period(date(year, first, 1), end, f"{m['part']} {year}"), m.group(0)))
    for m in _BARE_MONTH.finditer(text):
        start = m.start("month")
        if any(a <= start < b for a, b in taken):
            continue
        taken.append((start, m.end()))
        month = _MONTH_NUMBER[m["month"]]
        year = anchor.year if month <= anchor.month else anchor.year - 1
        shared = _SHARED_YEAR.match(text, m.end())  # "tra marzo e ottobre 2025": March of 2025 too
        if shared and _MONTH_NUMBER[shared["month"]] >= month:
            year = int(shared["year"])
        found.append((start, _month_period(year, month, language), m["month"]))
    for m in _YEAR_ALONE.finditer(text):
        start = m.start("year")
        if any(a <= start < b for a, b in taken):
            continue
        taken.append((start, m.end()))
        found.append((start, _year_period(int(m["year"])), m["year"]))
    for pattern, kind in _RELATIVE:
        for m in pattern.finditer(text):
            if claim(m):
                found.append((m.start(), _relative(kind, m, today, language), m.group(0)))
    periods = []
    for at, period, words in sorted(found, key=lambda f: f[0]):
        period = _bounded(text[:at], period, today)
        if period.start <= today:
            periods.append((period, words))
    order = "latest" if _LATEST.search(text) else "earliest" if _EARLIEST.search(text) else ""
    return TimeQuery(
        periods=tuple(p for p, _ in periods),
        order=order,
        expressions=tuple(w for _, w in periods),
    )


_EVENT = re.compile(
    r"\b(?P<relation>before|after|prima d[ei]ll[ao]?|prima del|prima dei|prima di|dopo il|dopo la|dopo l|dopo i|"
    r"dopo)\s+"
    r"(?:the\s+|il\s+|la\s+|lo\s+|l\s+|i\s+|gli\s+|le\s+)?(?P<event>[\w\s-]{3,60}?)\s*(?:[,;.?!]|$|\s+(?:and|e|or|o)\s)"
)
_REPORTED = re.compile(
    r"\b(?:articol[oi]|notizi[ae]|pezz[oi]|article|articles|news|stor(?:y|ies)|report(?:ed)?|riportat\w*|scritt\w*|"
    r"written|wrote|pubblicat\w*|published|uscit\w*|came out)\b"
)


def event_reference(question: str) -> tuple[str, str] | None:
    """("before" | "after", the event) when a question about the articles places them by an event instead of
    a date ("articles before the Ford deal"); None otherwise, and for dates ("before October 2025")."""
    text = normalize(question)
    if not _REPORTED.search(text):
        return None
    match = _EVENT.search(text)
    if not match or _MONTH_YEAR.search(match["event"]) or re.search(r"\d{4}", match["event"]):
        return None
    event = match["event"].strip()
    if _BARE_MONTH.search(f"in {event}") and event.split()[0] in _MONTH_NUMBER:
        return None
    return ("before" if match["relation"].startswith(("before", "prima")) else "after", event)


def relative_to(relation: str, day: date, label: str) -> Period:
    """The days before (not including) or after (including) an event's day."""
    if relation == "before":
        return Period(date(1900, 1, 1), day - timedelta(days=1), f"< {label}")
    return Period(day, date(9999, 12, 31), f"≥ {label}")


def between(first: str, last: str) -> Period | None:
    """The range a reader picks (From / To, as yyyy-mm-dd; either may be empty), or None when both are.

    Example: ("2025-09-01", "") -> Period(2025-09-01, 9999-12-31); a day that is not a date raises ValueError
    naming it.
    """
    first, last = (first or "").strip(), (last or "").strip()
    if not first and not last:
        return None
    start = _iso_day(first) if first else date(1900, 1, 1)
    end = _iso_day(last) if last else date(9999, 12, 31)
    if end < start:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return Period(start, end, f"{first or '…'} – {last or '…'}")


def _iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"a date as yyyy-mm-dd is needed (2025-09-01), not {text!r}") from e


def _bounded(before: str, period: Period, today: date) -> Period:
    """ "before October 2025" ends the day before it starts; "since May 2023" runs from it to today."""
    if _BEFORE.search(before):
        return Period(date(1900, 1, 1), period.start - timedelta(days=1), f"< {period.label}")
    if _AFTER.search(before):
        return Period(period.start, max(today, period.end), f"≥ {period.label}")
    return period


def _relative(kind: str, match: re.Match[str], today: date, language: str) -> Period:
    if kind == "today":
        return Period(today, today, _long(today, language))
    if kind == "yesterday":
        day = today - timedelta(days=1)
        return Period(day, day, _long(day, language))
    if kind in ("this week", "last week"):
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=1 if kind == "last week" else 0)
        return Period(monday, monday + timedelta(days=6), match.group(0))
    if kind == "this month":
        return _month_period(today.year, today.month, language)
    if kind == "last month":
        last = today.replace(day=1) - timedelta(days=1)
        return _month_period(last.year, last.month, language)
    if kind == "this year":
        return _year_period(today.year)
    if kind == "last year":
        return _year_period(today.year - 1)
    n = int(match["n"]) if match["n"].isdigit() else _NUMBER_WORDS[match["n"]]
    unit = match["unit"]
    days = n * (1 if unit in ("giorni", "days") else 7 if unit in ("settimane", "weeks") else 0)
    if days:
        start = today - timedelta(days=days)
    elif unit in ("mesi", "months"):
        start = _months_before(today, n)
    else:
        start = _months_before(today, 12 * n)
    return Period(start, today, match.group(0))


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _long(day: date, language: str) -> str:
    return f"{day.day} {MONTHS[_lang(language)][day.month - 1]} {day.year}"


# -- time in a passage -----------------------------------------------------------------------------------------
_PASSAGE_RELATIVE = (
    (re.compile(r"\b(?:quest oggi|oggi|in giornata|today|this morning|stamattina|stamani|stasera|tonight)\b"), 0),
    (re.compile(r"\b(?:ieri|yesterday)\b"), -1),
    (re.compile(r"\b(?:l altro ieri|altroieri|the day before yesterday)\b"), -2),
    (re.compile(r"\b(?:domani|tomorrow)\b"), 1),
    (re.compile(r"\b(?:dopodomani|the day after tomorrow)\b"), 2),
)


@dataclass(frozen=True)
class RelativeDay:
    """A relative day word of a passage, read against its article's date."""

    words: str  # as matched, normalized ("quest oggi")
    day: date
    offset: int  # days from the article's date (0: the day of the article)


def relative_days(text: str, article_date: str) -> list[RelativeDay]:
    """The relative day words of `text` ("oggi", "ieri", "tomorrow"), each as a day of the calendar.

    Example: ("sarà svelata quest'oggi", "2025-09-17") -> [RelativeDay("quest oggi", 2025-09-17, 0)]
    """
    try:
        published = date.fromisoformat(article_date)
    except ValueError:
        return []
    normalized = normalize(text)
    found: list[tuple[int, RelativeDay]] = []
    taken: list[tuple[int, int]] = []
    for pattern, offset in sorted(_PASSAGE_RELATIVE, key=lambda p: -len(p[0].pattern)):
        for m in pattern.finditer(normalized):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            found.append((m.start(), RelativeDay(m.group(0), published + timedelta(days=offset), offset)))
    return [r for _, r in sorted(found, key=lambda f: f[0])]


_WHEN = re.compile(
    r"^\s*(?:e\s+)?(?:quando|in che giorno|in quale giorno|in che data|in quale data|che giorno|when|on what day|"
    r"on which day|on what date|what day|which day|what date)\b"
)


def asks_when(question: str) -> bool:
    """The question asks for a day ("Quando…?", "On what day…?")."""
    return bool(_WHEN.search(normalize(question)))
