"""Questions about the articles themselves: who wrote one, when it came out, where, how many there are on a
subject. They are answered from each article's metadata, not from its text, and cited to the article's header.

The kind of question is read by patterns in both languages (`article_question`); which article is meant is
found by retrieval (`ArticleFinder`), narrowed to articles that name every proper name of the question.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..periods import day_number, normalize
from ..textutil import strip_accents
from ..types import Chunk, Citation, Hit

# what a question asks of an article, by the words that ask it (matched on periods.normalize's form)
_ARTICLE = r"(?:articol[oi]|pezz[oi]|notizi[ae]|article|articles|piece|pieces|story|stories|news)"
_ARTICLES = r"(?:articoli|pezzi|notizie|articles|pieces|stories|news)"  # asked to count or list
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gap", re.compile(
        rf"\b(?:quant[ie]\s+(?:giorni|settimane|mesi|anni)|quanto tempo|how many (?:days|weeks|months|years)|"
        rf"how much time|how long)\b.*\b(?:tra|fra|between|separano|separate|passed|elapsed|passati|passato|"
        rf"trascors[io]|intercorr\w*)\b.*\b{_ARTICLE}"
    )),
    ("changes", re.compile(
        r"\b(?:cosa|che cosa|cos|com|come|in che modo|what|how)\b.*\b(?:cambiat[oaie]|cambia|changed|change|"
        r"evolved|evoluto|"
        r"different|diverso)\b.*\b(?:tra|fra|between|from|da|dal)\b"
    )),
    ("count", re.compile(rf"\b(?:quant[ie]|how many|number of|numero di)\s+(?:\w+\s+)?{_ARTICLES}\b")),
    ("list", re.compile(
        rf"\b(?:quali|che|which|what|elenca|list)\s+(?:sono\s+)?(?:gli\s+|le\s+|the\s+)?{_ARTICLES}\b"
        rf"(?!\s+(?:dice|dicono|riport\w*|say|says|said|report\w*|scrive|write))"
    )),
    ("author", re.compile(
        r"\b(?:chi ha (?:scritto|firmato|redatto)|chi firma|chi e l autore|chi l ha scritto|da chi e (?:stato|stata) "
        r"(?:scritt[oa]|firmat[oa])|autore dell|autrice dell|who (?:wrote|authored|penned|signed|is the author)|"
        r"who s the author|author of|written by whom|whose byline|byline of|il nome dell autore|the author s name|"
        r"who is the writer|chi e il giornalista|which journalist|quale giornalista)\b"
    )),
    ("publication", re.compile(
        rf"\b(?:(?:su|in|da) (?:quale|che) (?:testata|giornale|quotidiano|rivista|periodico)|"
        rf"quale (?:testata|giornale|quotidiano|rivista)|dove e (?:stato|stata) pubblicat[oa]|chi ha pubblicato|"
        rf"(?:which|what) (?:publication|newspaper|paper|outlet|news site|magazine|masthead)|"
        rf"where was (?:the|this|that) {_ARTICLE} published|who published (?:the|this|that) {_ARTICLE}|"
        rf"in which (?:publication|newspaper|paper|outlet|magazine))\b"
    )),
    ("date", re.compile(
        rf"\b(?:(?:quando|in che giorno|in quale giorno|in che data|in quale data|che giorno|what day|on what day|on "
        rf"which day|what date|on what date|when)\b.*\b(?:pubblicat[oai]|uscit[oai]|published|come out|came out|"
        rf"appeared|apparso|apparsa|datat[oa]|dated|released)|data di pubblicazione|publication date|date of "
        rf"(?:the|this|that) {_ARTICLE}|data dell {_ARTICLE}|(?:what|which) date .*{_ARTICLE}.* (?:carry|have|bear)|"
        rf"(?:che|quale) data (?:porta|ha|reca) )"
    )),
    ("title", re.compile(
        r"\b(?:qual e il titolo|quale e il titolo|che titolo|quale titolo|con quale titolo|come si intitola|"
        r"come s intitola|what is the (?:title|headline)|what s the (?:title|headline)|"
        r"what (?:title|headline) (?:did|does)|which (?:title|headline)|what was the (?:title|headline))\b"
    )),
    ("language", re.compile(
        r"\b(?:in (?:che|quale) lingua|(?:what|which) language|in what language|lingua dell)\b"
    )),
)  # fmt: skip
_NEWS_NOUN = re.compile(rf"\b{_ARTICLE}\b|\b(?:testata|giornale|quotidiano|newspaper|publication|byline|headline)\b")
# an order asked about the article itself ("Qual è l'articolo più recente su X?"), not about its content
_WHICH_ARTICLE = re.compile(
    rf"^\s*(?:qual e|quale e|quale|qual|which is|what is|what s|which|what|dimmi|tell me|name)\s+"
    rf"(?:was\s+|e\s+|era\s+)?(?:the\s+|l\s+|il\s+|la\s+|lo\s+)?(?:(?:ultim\w*|piu|recent\w*|most|latest|newest|first|prim\w*|earliest|oldest|"
    rf"last|meno|vecchi\w*|nuov\w*)\s+){{0,3}}{_ARTICLE}\b(?!\s+(?:did|does|do|had|has|would|will)\b)"
)
# ... and what it says, asked in the same breath ("Qual è l'articolo più recente su X e che cosa racconta?")
_AND_WHAT = re.compile(
    r"\b(?:and|e|ed)\s+(?:what|che cosa|cosa|cos)\b.*\b(?:dice|dicono|riporta|racconta|says|say|report|reports|"
    r"tell|tells|mention|mentions|scrive|writes|about|parla)\b"
)


_PREP_IT = r"(?:sullo|sulla|sulle|sugli|sull|sui|sul|su|che annuncia|che racconta)"
_TWO = (
    re.compile(
        r"\bbetween (?:the )?(?:article|story|piece|report) (?:on|about|reporting|announcing) (?P<a>.+?) and "
        r"(?:the )?(?:(?:article|story|piece|one|report) (?:on|about|reporting|announcing) )?(?P<b>.+?)\s*$"
    ),
    re.compile(
        rf"\b(?:tra|fra) (?:l |il )?(?:articolo|pezzo) {_PREP_IT} (?P<a>.+?) e (?:quello|l articolo|il pezzo) "
        rf"(?:{_PREP_IT} )?(?P<b>.+?)\s*$"
    ),
)
_PRONOUN = re.compile(r"^(?:its|their|his|her|la sua|il suo|le sue|i suoi|la loro|il loro|sua|suo|loro)\s+")


def two_articles(question: str) -> tuple[str, str] | None:
    """The two articles a question compares, as it describes them ("between the article on A and the one
    on B" -> ("A", "B")); None when it names a subject instead ("between the two articles on Ampere")."""
    text = normalize(question).strip()
    for pattern in _TWO:
        match = pattern.search(text)
        if match:
            first, second = match["a"].strip(), match["b"].strip()
            if _PRONOUN.match(second):  # "its opening": the opening of what the first one is about
                second = _PRONOUN.sub("", second) + " " + " ".join(first.split()[-3:])
            return first, second
    return None


def asks_content_too(question: str) -> bool:
    """A question about which article also asks what it says."""
    return bool(_AND_WHAT.search(normalize(question)))


# capitalised words that start questions or are not names
_NOT_NAMES = {
    strip_accents(w)
    for w in (
        "chi quale quali quanti quante quando dove come cosa che perché perche qual il lo la i gli le l un una uno "
        "in di del della nel nella su sul sulla e ed per con tra fra dal dalla al alla articolo articoli notizia "
        "who what which when where how why whose the a an of on in at to is was are were did does do article "
        "articles news story stories report piece between and or about from since before after latest most "
        "recent first last ultimo ultima primo prima dopo"
    ).split()
}
_NAME = re.compile(r"(?<![\w’'])([A-ZÀ-Ý][\w’'.-]*[\w]|[A-Z]{2,})")
_MONTH_NAMES = set(
    "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre january "
    "february march april may june july august september october november december".split()
)


@dataclass(frozen=True)
class ArticleCard:
    """One article as its metadata describes it, with its first chunk for a citation."""

    id: str
    title: str
    date: str
    author: str
    publication: str
    language: str
    chunk: Chunk

    @property
    def day(self) -> dt.date | None:
        try:
            return dt.date.fromisoformat(self.date)
        except ValueError:
            return None

    def citation(self, marker: int) -> Citation:
        """A citation of the article by its header: what a metadata answer came from."""
        return Citation.of(marker, self.chunk, self.chunk.header())


def cards(chunks: Iterable[Chunk]) -> list[ArticleCard]:
    """Each article once, from its first chunk, sorted by date then title (undated last)."""
    first: dict[str, Chunk] = {}
    for chunk in chunks:
        if chunk.article_id not in first or chunk.index < first[chunk.article_id].index:
            first[chunk.article_id] = chunk
    found = [ArticleCard(c.article_id, c.title, c.date, c.author, c.publication, c.language, c) for c in first.values()]
    return sorted(found, key=lambda a: (day_number(a.date) or 99_999_999, a.title, a.id))


def article_question(question: str) -> str:
    """What the question asks of the articles as articles ("author", "date", "publication", "title",
    "language", "count", "list", "gap", "changes", "which"), or "" when it asks about their content."""
    text = normalize(question)
    about_articles = bool(_NEWS_NOUN.search(text))
    for kind, pattern in _KINDS:
        # "Chi ha scritto la Divina Commedia?" asks about a book: a question about an article names one
        if pattern.search(text) and (about_articles or kind == "changes"):
            return kind
    return "which" if _WHICH_ARTICLE.search(text) else ""


def names_in(question: str) -> list[str]:
    """The proper names of a question (capitalised words past its first, and acronyms), normalized.

    Example: "Chi ha scritto l'articolo sull'alleanza Renault–Ford?" -> ["renault", "ford"]
    """
    words = []
    for n, match in enumerate(_NAME.finditer(question.replace("–", " ").replace("—", " "))):
        word = strip_accents(match.group(1).lower()).strip(".'’")
        if match.start() == 0 and not match.group(1).isupper():
            continue
        if n == 0 and question[: match.start()].strip() in ("", "¿", "«", '"'):
            continue
        if word in _NOT_NAMES or word in _MONTH_NAMES or word.isdigit() or len(word) < 2:
            continue
        words.append(word)
    return list(dict.fromkeys(words))


_SUBJECT = re.compile(
    r"\b(?:su|sul|sull|sullo|sulla|sui|sugli|sulle|riguard\w*|parl\w*|tratt\w*|dedicat\w*|about|on|regarding|"
    r"concerning|mention\w*|cover\w*|discuss\w*)\b"
)


def has_subject(question: str) -> bool:
    """The question names a subject of the articles ("articoli su Ampere"), not only a period or an order."""
    return bool(names_in(question) or _SUBJECT.search(normalize(question)))


# words that ask about the news in general, not about a subject of it
_GENERIC = (
    "cosa che successo succede accaduto accadde avvenuto capitato riportato riportano riportavano scritto scrivono "
    "scrivevano pubblicato pubblicati pubblicate uscito usciti uscite giornali giornale stampa notizie notizia "
    "articoli articolo parlato detto raccontato c era ci sono stati what happened happen happens reported report "
    "reports papers paper press news articles article stories story published wrote written said say says came "
    "out were was there did do which any tell me mese anno settimana month year week giorno day"
)


@cache
def _generic_terms() -> frozenset[str]:
    from ..keyword import analyze

    return frozenset(analyze(_GENERIC, ("it", "en")))


def without_time(question: str, expressions: Iterable[str]) -> str:
    """The question with its time expressions and the article nouns around them taken out.

    Example: "Com'è cambiato il costo tra l'articolo di febbraio 2024 e quello di marzo 2025?", ("febbraio 2024",
    "marzo 2025") -> "com e cambiato il costo"
    """
    named = tuple(expressions)
    text = normalize(question)
    for words in named:
        text = text.replace(words, " ")
    text = re.sub(r"\b(?:tra|fra|between|from|da|dal)\b.*$", " ", text) if len(named) > 1 else text
    return " ".join(text.split()) or question


def asks_only_time(question: str, expressions: Iterable[str]) -> bool:
    """The question names a period and nothing else to look for ("What did the papers report in March?")."""
    from ..keyword import analyze

    text = normalize(question)
    for words in expressions:
        text = text.replace(words, " ")
    terms = set(analyze(text, ("it", "en"))) - _generic_terms()
    return not terms and not names_in(question)


def _folded(text: str) -> str:
    return " " + " ".join(re.findall(r"\w+", strip_accents(text.lower()))) + " "


def naming_all(cards_: Iterable[ArticleCard], chunks: Iterable[Chunk], names: list[str]) -> list[ArticleCard]:
    """The articles whose title or text names every one of `names` (a name's words, on word boundaries)."""
    text: dict[str, list[str]] = {}
    for chunk in chunks:
        text.setdefault(chunk.article_id, []).append(chunk.text)
    found = []
    for card in cards_:
        folded = _folded(card.title + " " + " ".join(text.get(card.id, [])))
        if all(f" {' '.join(re.findall(r'[a-z0-9]+', name))} " in folded for name in names):
            found.append(card)
    return found


def ranked_articles(hits: list[Hit]) -> list[str]:
    """Article ids in the order of their best hit."""
    return list(dict.fromkeys(h.chunk.article_id for h in hits))


@cache
def _messages() -> dict[str, str]:
    text = resources.files("rag").joinpath("prompts", "news.txt").read_text(encoding="utf-8")
    return dict(line.split(": ", 1) for line in text.strip().splitlines() if line.strip())


def phrase(key: str, lang: str, **values: object) -> str:
    """A news answer's wording (rag/prompts/news.txt), in language `lang` (English when it has none)."""
    messages = _messages()
    lang = lang if f"{key}.{lang}" in messages else "en"
    return messages[f"{key}.{lang}"].format(**values)
