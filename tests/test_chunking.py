from __future__ import annotations

from typing import SupportsIndex

import pytest

from rag.chunking import chunk_article, split_sentences
from rag.types import Article


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# (text, expected sentences): Italian and English traps
CASES = [
    (
        "Renault S.p.A. ha firmato l'accordo. Ford ha confermato.",
        ["Renault S.p.A. ha firmato l'accordo.", "Ford ha confermato."],
    ),
    ("L'azienda è una S.p.A. Il gruppo cresce.", ["L'azienda è una S.p.A.", "Il gruppo cresce."]),
    (
        "Sono stati prodotti 1.500 veicoli. Altri seguiranno.",
        ["Sono stati prodotti 1.500 veicoli.", "Altri seguiranno."],
    ),
    (
        "L'investimento è di 550 milioni di euro. La linea è nuova.",
        ["L'investimento è di 550 milioni di euro.", "La linea è nuova."],
    ),
    ("Il margine è salito al 3.5 per cento. Bene.", ["Il margine è salito al 3.5 per cento.", "Bene."]),
    ("Il tasso è 2,75 %. Stabile.", ["Il tasso è 2,75 %.", "Stabile."]),
    (
        "Provost ha detto: «Siamo pronti. Andiamo avanti». Poi è partito.",
        ["Provost ha detto: «Siamo pronti. Andiamo avanti».", "Poi è partito."],
    ),
    ("Farley said “We are ready. Let's go.” Then he left.", ["Farley said “We are ready. Let's go.”", "Then he left."]),
    ('He said "No. Never." Then silence.', ['He said "No. Never."', "Then silence."]),
    ("Auto, furgoni, batterie, ecc. e molto altro.", ["Auto, furgoni, batterie, ecc. e molto altro."]),
    ("Produce auto, furgoni, ecc. Il sito è grande.", ["Produce auto, furgoni, ecc.", "Il sito è grande."]),
    ("The U.S. market is large. Europe is next.", ["The U.S. market is large.", "Europe is next."]),
    ("Sales grew in the U.S. The outlook is good.", ["Sales grew in the U.S.", "The outlook is good."]),
    ("J. Farley guida Ford. Bene.", ["J. Farley guida Ford.", "Bene."]),
    ("Jean-D. Senard era presente. Anche Kato.", ["Jean-D. Senard era presente.", "Anche Kato."]),
    (
        "Il Sig. Rossi e il Dott. Bianchi sono arrivati. Poi è iniziata la riunione.",
        ["Il Sig. Rossi e il Dott. Bianchi sono arrivati.", "Poi è iniziata la riunione."],
    ),
    ("Mr. Smith met Dr. Jones. They agreed.", ["Mr. Smith met Dr. Jones.", "They agreed."]),
    ("Arriveranno nel 2028? Sì, dall'inizio dell'anno!", ["Arriveranno nel 2028?", "Sì, dall'inizio dell'anno!"]),
    ("Will they arrive in 2028? Yes! Early that year.", ["Will they arrive in 2028?", "Yes!", "Early that year."]),
    ("Il progetto… Poi vedremo.", ["Il progetto…", "Poi vedremo."]),
    ("Vedi p. 12 del rapporto. Fine.", ["Vedi p. 12 del rapporto.", "Fine."]),
    ("Prezzo: 1,500.50 dollars. Done.", ["Prezzo: 1,500.50 dollars.", "Done."]),
    ("Il valore è salito a 0.5. Poi è sceso.", ["Il valore è salito a 0.5.", "Poi è sceso."]),
    ("Primo paragrafo senza punto\nSecondo paragrafo.", ["Primo paragrafo senza punto", "Secondo paragrafo."]),
    ("Versione 2.0 disponibile. la frase continua qui.", ["Versione 2.0 disponibile. la frase continua qui."]),
    ("Nissan Co. Ltd. ha annunciato. Bene.", ["Nissan Co. Ltd. ha annunciato.", "Bene."]),
    ("It opened two years ago. The plant grew.", ["It opened two years ago.", "The plant grew."]),
    ("Cars, vans and so on. The end.", ["Cars, vans and so on.", "The end."]),
    ("The answer was no. Then he left.", ["The answer was no.", "Then he left."]),
    ("Il club gioca in Serie A. Il club vince.", ["Il club gioca in Serie A.", "Il club vince."]),
    ('Lo schermo è da 27" e costa poco. Bene.', ['Lo schermo è da 27" e costa poco.', "Bene."]),
    ("Pubblicato il 9 dic. 2025 a Parigi. Poi a Colonia.", ["Pubblicato il 9 dic. 2025 a Parigi.", "Poi a Colonia."]),
    ("Vedi l'art. 5 del contratto. Fine.", ["Vedi l'art. 5 del contratto.", "Fine."]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:30] for c in CASES])
def test_sentence_splitter_table(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 20


def _article(text: str, **kw: str) -> Article:
    fields = {"id": "a1", "title": "Titolo", "date": "2025-12-09", "language": "it", "text": text}
    fields.update(kw)
    return Article(**fields)  # type: ignore[arg-type]


LONG = " ".join(
    f"Frase numero {i} parla di 1.500 veicoli e di 550 milioni di euro per lo stabilimento di Douai." for i in range(40)
)


def test_chunks_point_into_the_article_and_never_cut_sentences() -> None:
    article = _article(LONG)
    chunks = chunk_article(article, size=400, overlap=100)
    assert len(chunks) > 5
    spans = set(split_sentences(article.text))
    starts = {a for a, _ in spans}
    ends = {b for _, b in spans}
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.start in starts and chunk.end in ends
        assert len(chunk.text) <= 400
        assert chunk.article_id == "a1" and chunk.date == "2025-12-09" and chunk.language == "it"
    # consecutive chunks overlap by whole sentences, and together they cover the text
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert right.start < left.end
        assert left.end - right.start <= 100
    assert chunks[0].start == 0 and chunks[-1].end == len(article.text)


def test_chunk_size_and_overlap_are_configurable() -> None:
    article = _article(LONG)
    small = chunk_article(article, size=300, overlap=0)
    large = chunk_article(article, size=1200, overlap=200)
    assert len(small) > len(large)
    for left, right in zip(small, small[1:], strict=False):
        assert right.start > left.end - 1  # no overlap
    with pytest.raises(ValueError):
        chunk_article(article, size=100, overlap=100)


def test_chunk_ids_are_stable_and_follow_content() -> None:
    article = _article(LONG)
    first = [c.id for c in chunk_article(article, 400, 100)]
    again = [c.id for c in chunk_article(_article(LONG), 400, 100)]
    assert first == again
    assert len(set(first)) == len(first)
    edited = _article(LONG.replace("Frase numero 39", "Frase numero trentanove"))
    changed = [c.id for c in chunk_article(edited, 400, 100)]
    assert changed[0] == first[0]  # untouched passages keep their ids
    assert changed[-1] != first[-1]
    retitled = [c.id for c in chunk_article(_article(LONG, title="Altro titolo"), 400, 100)]
    assert set(retitled).isdisjoint(first)  # metadata change: no chunk keeps a stale title


def test_an_overlong_sentence_is_cut_at_spaces_only() -> None:
    sentence = "Una frase " + "molto " * 200 + "lunga."
    article = _article(sentence + " Breve.")
    chunks = chunk_article(article, size=300, overlap=50)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(article.text[c.start - 1 : c.start] in ("", " ") for c in chunks)  # no word is cut
    covered = {i for c in chunks for i in range(c.start, c.end)}
    assert all(i in covered for i, char in enumerate(article.text) if not char.isspace())
    assert chunks[-1].text.endswith("Breve.")


def test_no_chunk_is_contained_in_its_neighbour() -> None:
    text = "Frase breve uno. Frase breve due. " + "Parola " * 120 + "fine. Ultima."
    chunks = chunk_article(_article(text), size=400, overlap=150)
    for left, right in zip(chunks, chunks[1:], strict=False):
        assert right.end > left.end


# Words beside a dot that are longer than the splitter's look-around window, at the start of the
# text, or behind an opening quote: each is read whole, as if the splitter saw the entire text.
LOOK_AROUND_CASES = [
    (
        "Il premio va a Jean-Baptiste-Marie-Alexandre-Dominique-D. Senard. Poi la festa.",
        ["Il premio va a Jean-Baptiste-Marie-Alexandre-Dominique-D. Senard.", "Poi la festa."],
    ),
    (
        "The prize goes to Jean-Baptiste-Marie-Alexandre-Dominique-D. Senard. Then the party.",
        ["The prize goes to Jean-Baptiste-Marie-Alexandre-Dominique-D. Senard.", "Then the party."],
    ),
    (
        "Le vendite crescono in a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r. Europa compresa.",
        ["Le vendite crescono in a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r. Europa compresa."],
    ),
    (
        "Sales grew in the a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r. Europe is next.",
        ["Sales grew in the a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r. Europe is next."],
    ),
    (
        "Produce auto, furgoni, ecc. Precipitevolissimevolmente-parlando il sito cresce.",
        ["Produce auto, furgoni, ecc. Precipitevolissimevolmente-parlando il sito cresce."],
    ),
    (
        "Cars, vans, etc. Antidisestablishmentarianism-minded buyers wait.",
        ["Cars, vans, etc. Antidisestablishmentarianism-minded buyers wait."],
    ),
    (
        "Produce auto, furgoni, ecc. «Il sito è grande», dice.",
        ["Produce auto, furgoni, ecc.", "«Il sito è grande», dice."],
    ),
    (
        'Sales grew in the U.S. "The outlook is good," he said.',
        ["Sales grew in the U.S.", '"The outlook is good," he said.'],
    ),
    ("Dott. Bianchi è arrivato. Poi è partito.", ["Dott. Bianchi è arrivato.", "Poi è partito."]),
    ("Dr. Jones arrived. Then he left.", ["Dr. Jones arrived.", "Then he left."]),
]


@pytest.mark.parametrize(("text", "expected"), LOOK_AROUND_CASES, ids=[c[0][:30] for c in LOOK_AROUND_CASES])
def test_words_beside_a_dot_are_read_whole(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


class CountingText(str):
    """A str that tallies the characters its indexing and slicing hand out: the splitter's reads."""

    copied = 0

    def __getitem__(self, key: SupportsIndex | slice) -> str:
        part = super().__getitem__(key)
        self.copied += len(part)
        return part


PARAGRAPH = (
    "Il sig. Rossi ha incontrato il dott. Bianchi di Fiat S.p.A. a Torino il 9 dic. 2025. "
    "Sono stati prodotti 1.500 veicoli, il 3,5 % in più, ecc. Poi è partito. "
    "J. R. R. Tolkien scrisse: «Non tutti quelli che vagano sono perduti». "
    "Mr. Smith met Dr. Jones in the U.S. on Jan. 5. Details are at https://example.com/a.b.html today. "
    'He said "No. Never." Then silence.\n\n'
)


def characters_read(text: str) -> int:
    """Characters that chunking `text` reads by indexing and slicing it: the work that grows with each boundary.

    Not counted: the one pass each regex makes over the whole text, which is linear by construction.
    """
    counting = CountingText(text)
    chunk_article(_article(counting), size=400, overlap=100)
    return counting.copied


def test_chunking_work_grows_linearly_with_the_text() -> None:
    """8x the text reads about 8x the characters, not 64x: each boundary looks only at the words beside it.

    A splitter that searches the whole text before each dot (`text[:dot]`) reads about 64x here.
    """
    short, long = PARAGRAPH * 10, PARAGRAPH * 80
    assert sentences(long) == sentences(short) * 8  # same sentences, so the work is comparable
    assert characters_read(long) <= 10 * characters_read(short)
