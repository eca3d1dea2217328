"""Keyword side of hybrid retrieval: Italian/English analyzers and a BM25 (Okapi) index.

Passages are stemmed with their own language's Snowball stemmer; a question is stemmed with
both, so an English question still matches names and numbers in Italian passages, and
"investimenti" finds "investimento", "plants" finds "plant".
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence

import snowballstemmer

from .textutil import strip_accents

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
_LANG_NAMES = {"it": "italian", "en": "english"}

STOPWORDS = {
    "it": frozenset(
        """a ad agli ai al alla alle allo anche avere c che chi ci cio cioe come con contro cui da dagli dai
        dal dalla dalle dallo degli dei del della delle dello di dove e ed era erano essere fra gli ha hanno
        ho i il in io l la le lei li lo loro lui ma me mi ne negli nei nel nella nelle nello noi non nostro
        o per perche piu po quale quali quando quanto quanti quante quella quelle quelli quello questa
        queste questi questo qui se sei si sia siamo sono sta su sua sue sugli sui sul sulla sulle sullo suo
        suoi ti tra tu tuo un una uno vi voi cosa stato stata stati state sara saranno sarà viene vengono
        essere dell all nell sull quale qual chi""".split()
    ),
    "en": frozenset(
        """a about above after again all also am an and any are as at be because been before being between both
        but by can could did do does doing down during each few for from further had has have having he her
        here hers him his how i if in into is it its itself just me more most my no nor not now of off on
        once only or other our out over own same she should so some such than that the their them then there
        these they this those through to too under until up very was we were what when where which while who
        whom whose why will with would you your""".split()
    ),
}


def fold(text: str) -> str:
    """Case-, accent- and apostrophe-folded: "Perché L’Ampere" -> "perche l'ampere"."""
    return strip_accents(text.casefold().replace("’", "'"))


_LOCAL = threading.local()


def _stemmer(language: str) -> snowballstemmer.stemmer:
    """One stemmer per language and thread: a snowball stemmer keeps its word in itself, so two threads
    sharing one (the chat server answers several readers at once) corrupt each other's stems."""
    stemmers = _LOCAL.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        stemmers[language] = snowballstemmer.stemmer(_LANG_NAMES[language])
    return stemmers[language]


def tokenize(text: str) -> list[str]:
    """Lower-cased, accent-folded word and number tokens; "1.500" and "1,500" become "1500"."""
    tokens = []
    for raw in _TOKEN.findall(text.replace("’", "'")):
        if raw[0].isdigit():
            # thousands separators go; a decimal part stays joined ("3.5" -> "3.5")
            if re.fullmatch(r"\d{1,3}([.,]\d{3})+", raw):
                raw = re.sub(r"[.,]", "", raw)
            tokens.append(raw.replace(",", "."))
        else:
            tokens.append(fold(raw))
    return tokens


def analyze(text: str, languages: Sequence[str]) -> list[str]:
    """Terms for BM25: stopwords of every given language removed, stemmed with each language."""
    stop = frozenset().union(*(STOPWORDS[lang] for lang in languages))
    terms: list[str] = []
    for token in tokenize(text):
        if token in stop or (len(token) == 1 and not token.isdigit()):
            continue
        if token[0].isdigit():
            terms.append(token)
            continue
        stems = dict.fromkeys(_stemmer(lang).stemWord(token) for lang in languages)
        terms.extend(stems)
    return terms


class BM25Index:
    """Okapi BM25 over pre-analyzed documents. Scores are non-negative."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tfs = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        df: Counter[str] = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(documents)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        terms = list(dict.fromkeys(query_terms))
        out = []
        for tf, length in zip(self.tfs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / (self.avg_length or 1))
            score = 0.0
            for term in terms:
                freq = tf.get(term)
                if freq:
                    score += self.idf[term] * freq * (self.k1 + 1) / (freq + norm)
            out.append(score)
        return out
