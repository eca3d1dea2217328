"""Keyword side of hybrid retrieval: Italian/English analyzers and a BM25 (Okapi) index.

Passages are stemmed with their own language's Snowball stemmer; a question is stemmed with
both, so an English question still matches names and numbers in Italian passages, and
"investimenti" finds "investimento", "plants" finds "plant".
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections import Counter
from collections.abc import Sequence

import numpy as np
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


@functools.lru_cache(maxsize=1 << 18)
def _stem(language: str, word: str) -> str:
    """A word's stem, cached: a corpus repeats its words, and stemming is most of the cost of analysis
    (the cache is shared, each thread stems with its own stemmer)."""
    return str(_stemmer(language).stemWord(word))


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
        stems = dict.fromkeys(_stem(lang, token) for lang in languages)
        terms.extend(stems)
    return terms


class BM25Index:
    """Okapi BM25 over pre-analyzed documents, with an inverted index: a query costs the postings of its
    terms, not a pass over every document. Scores are non-negative.

    Example: docs [["douai", "renault"], ["ford"]] -> postings {"douai": [0], "renault": [0], "ford": [1]}
    """

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(documents)
        lengths = np.fromiter((len(doc) for doc in documents), dtype=np.float32, count=self.size)
        avg_length = float(lengths.mean()) if self.size else 0.0
        # the length part of BM25's denominator, per document
        self._norm = k1 * (1 - b + b * lengths / (avg_length or 1.0))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for n, doc in enumerate(documents):
            for term, freq in Counter(doc).items():
                docs, freqs = postings.setdefault(term, ([], []))
                docs.append(n)
                freqs.append(freq)
        self._postings = {
            term: (np.asarray(docs, dtype=np.int32), np.asarray(freqs, dtype=np.float32))
            for term, (docs, freqs) in postings.items()
        }
        self.idf = {
            term: math.log(1 + (self.size - len(docs) + 0.5) / (len(docs) + 0.5))
            for term, (docs, _) in self._postings.items()
        }

    def score_array(self, query_terms: Sequence[str]) -> np.ndarray:
        scores = np.zeros(self.size, dtype=np.float32)
        for term in dict.fromkeys(query_terms):
            if term in self._postings:
                docs, freqs = self._postings[term]
                scores[docs] += self.idf[term] * freqs * (self.k1 + 1) / (freqs + self._norm[docs])
        return scores

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        """Every document's score, in document order."""
        return [float(x) for x in self.score_array(query_terms)]

    def top(self, query_terms: Sequence[str], n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The n best-scoring documents with a positive score, best first (ties: lower index first); with
        `allowed` (a boolean per document), only those it marks."""
        scores = self.score_array(query_terms)
        hits = np.flatnonzero((scores > 0) & allowed if allowed is not None else scores > 0)
        if len(hits) > n:  # the n best, and any tied with the last of them, so ties break by index below
            kth = scores[hits[np.argpartition(-scores[hits], n - 1)[n - 1]]]
            hits = hits[scores[hits] >= kth]
        order = sorted(hits.tolist(), key=lambda i: (-scores[i], i))[:n]
        return [(i, float(scores[i])) for i in order]
