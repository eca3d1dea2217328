"""Citation verification with hand-made passages: numbers must agree, markers follow the support."""

from __future__ import annotations

import numpy as np

from rag.chunking import split_sentences
from rag.types import Chunk, Hit
from rag.verify import Verifier, adds_information
from tests.fakes import HashEmbeddings


def _hit(rank: int, text: str, title: str = "Articolo") -> Hit:
    chunk = Chunk(f"c{rank}", f"a{rank}", title, "2025-09-17", "it", "unknown", text, 0, len(text), 0)
    return Hit(chunk=chunk, rank=rank, score=1.0)


SOURCES = [
    _hit(1, "Il consiglio dell'Alleanza si è riunito a Douai. Erano presenti i tre amministratori delegati."),
    _hit(2, "La riconversione dello stabilimento di Douai è costata 550 milioni di euro. Vi lavorano 3.000 persone."),
]
VERIFIER = Verifier(HashEmbeddings(), min_similarity=0.3)


def test_a_sentence_supported_by_passage_2_but_marked_1_is_moved_to_2() -> None:
    verified = VERIFIER.verify("La riconversione di Douai è costata 550 milioni di euro [1].", SOURCES)
    assert verified.text == "La riconversione di Douai è costata 550 milioni di euro [2]."
    assert verified.markers() == [2]
    assert "550 milioni" in verified.supports[0].source_sentence


def test_a_number_no_passage_holds_loses_its_citation() -> None:
    verified = VERIFIER.verify("La riconversione di Douai è costata 500 milioni di euro [2].", SOURCES)
    assert not verified.supported and verified.markers() == []
    assert verified.supports[0].reason == "number"
    assert "[2]" not in verified.text


def test_a_percentage_does_not_support_a_count() -> None:
    sources = [_hit(1, "Ford lancerà due nuovi modelli 100% elettrici costruiti a Douai.")]
    invented = VERIFIER.verify("L'accordo creerà 100 posti di lavoro a Douai.", sources)
    assert not invented.supported and invented.supports[0].reason == "number"
    stated = VERIFIER.verify("Ford lancerà due modelli 100% elettrici costruiti a Douai.", sources)
    assert stated.markers() == [1]


class SameVector(HashEmbeddings):
    """Every text gets the same vector: similarity says nothing, so only the other rules can refuse."""

    def _vector(self, text: str) -> list[float]:
        return [1.0] + [0.0] * 255


def test_a_sentence_sharing_no_word_with_any_source_is_unsupported_however_similar() -> None:
    verifier = Verifier(SameVector(), min_similarity=0.78)
    joke = verifier.verify("Why did the tomato turn red? Because it saw the salad dressing!", SOURCES)
    assert not joke.supported and {s.reason for s in joke.supports} == {"unanchored"}
    # across languages a shared name or number is enough
    english = verifier.verify("Converting the Douai plant cost 550 million euros.", SOURCES)
    assert english.markers() == [2]


def test_a_sentence_sharing_a_word_but_saying_something_else_is_weak() -> None:
    verified = VERIFIER.verify("A Douai le zebre volano alte tra luna, stelle, comete e pianeti lontani.", SOURCES)
    assert not verified.supported and verified.supports[0].reason == "weak"


def test_thousands_separators_do_not_break_agreement() -> None:
    verified = VERIFIER.verify("A Douai lavorano 3000 persone.", SOURCES)
    assert verified.markers() == [2]


def test_each_sentence_gets_its_own_source_and_unrelated_ones_none() -> None:
    answer = "Il consiglio dell'Alleanza si è riunito a Douai. Le zebre volano alte nel cielo."
    verified = VERIFIER.verify(answer, SOURCES)
    assert [s.source for s in verified.supports] == [1, None]
    assert verified.supports[1].reason == "unanchored"  # shares no word with either passage
    assert verified.text == "Il consiglio dell'Alleanza si è riunito a Douai [1]. Le zebre volano alte nel cielo."


def test_the_article_header_supports_metadata_answers() -> None:
    sources = [_hit(1, "Testo senza data.", title="Il vertice di Douai")]
    verified = VERIFIER.verify("Il vertice di Douai è del 2025-09-17.", sources)
    assert verified.markers() == [1]


def test_the_supporting_sentence_is_the_one_stating_the_number() -> None:
    sources = [_hit(1, "Lo stabilimento di Douai apre nel 2025. La conversione è costata 550 milioni di euro.")]
    verified = VERIFIER.verify("Lo stabilimento di Douai apre: la conversione costa 550.", sources)
    assert verified.supports[0].source_sentence == "La conversione è costata 550 milioni di euro."


def test_among_equally_similar_sentences_the_one_sharing_the_answers_distinctive_words_is_cited() -> None:
    sources = [
        _hit(1, "Renault e Ford annunciano una partnership per due modelli elettrici in Europa."),
        _hit(2, "L'intesa tra Renault e Ford è stata siglata tra Parigi e Colonia il 9 dicembre."),
    ]
    answer = "The Renault–Ford agreement was signed in Paris and Colonia [1]."
    # every sentence is equally similar: names shared by all passages decide nothing, "Colonia" does
    assert Verifier(SameVector(), min_similarity=0.78).verify(answer, sources).markers() == [2]
    assert Verifier(SameVector(), min_similarity=0.78, lexical_weight=0.0).verify(answer, sources).markers() == [1]


def test_a_sentence_joining_numbers_from_two_passages_cites_both_with_their_sentences() -> None:
    sources = [
        _hit(1, "Douai produce solo auto elettriche dal maggio 2023. Vi si fanno sei modelli."),
        _hit(2, "Le nuove Ford elettriche arriveranno nei concessionari dall'inizio del 2028."),
    ]
    joined = "Douai produce auto elettriche dal 2023, mentre le nuove Ford arriveranno nei concessionari nel 2028 [1]."
    verified = VERIFIER.verify(joined, sources)
    assert verified.supported and sorted(verified.markers()) == [1, 2]
    assert verified.text.endswith("[1][2].") or verified.text.endswith("[2][1].")
    cited = dict(verified.supports[0].cited())
    assert "2023" in cited[1] and "2028" in cited[2]
    # a number that neither passage states still sinks the sentence
    wrong = VERIFIER.verify("Douai produce auto elettriche dal 2023, e le Ford arriveranno nel 2029.", sources)
    assert not wrong.supported and wrong.supports[0].reason == "number"


def test_an_answer_mostly_unsupported_is_not_supported_even_with_one_sentence_that_is() -> None:
    one_of_two = VERIFIER.verify("Il consiglio dell'Alleanza si è riunito a Douai. Le zebre volano alte.", SOURCES)
    assert one_of_two.supported  # half is enough: a correct answer with an aside still stands
    ramble = "Il consiglio dell'Alleanza si è riunito a Douai. Le zebre volano. Tu mi aiuti. Il mare è blu."
    verified = VERIFIER.verify(ramble, SOURCES)
    assert verified.markers() == [1] and not verified.supported


def test_stored_sentence_vectors_are_used_instead_of_embedding_the_sources_again() -> None:
    fresh, reused = HashEmbeddings(), HashEmbeddings()
    plain = Verifier(fresh, min_similarity=0.3)

    def stored(chunk_ids: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for hit in SOURCES:
            if hit.chunk.id in chunk_ids:
                text = hit.chunk.text
                out[hit.chunk.id] = np.asarray(
                    HashEmbeddings().embed_documents([text[a:b] for a, b in split_sentences(text)])
                )
        return out

    answer = "La riconversione è costata 550 milioni di euro [2]."
    with_store = Verifier(reused, min_similarity=0.3, stored=stored).verify(answer, SOURCES)
    without = plain.verify(answer, SOURCES)
    assert with_store == without and with_store.supported
    assert fresh.calls == 1 + 1 + 4  # the answer, the (shared) header, four sentences
    assert reused.calls == 1 + 1  # the answer and the header only


def test_stored_vectors_that_do_not_match_the_text_are_ignored() -> None:
    embeddings = HashEmbeddings()
    verifier = Verifier(embeddings, min_similarity=0.3, stored=lambda ids: {i: np.zeros((1, 256)) for i in ids})
    assert verifier.verify("La riconversione è costata 550 milioni di euro [2].", SOURCES).supported
    assert embeddings.calls == 1 + 1 + 4  # one row for two sentences: another layout, so everything is embedded


def test_numbers_written_another_way_are_backed_and_another_scale_is_not() -> None:
    sources = [_hit(1, "Il progetto è costato 4,2 miliardi di sterline e ha richiesto cinque anni di lavori.")]
    right = VERIFIER.verify("Il progetto è costato 4.200 milioni di sterline e ha richiesto 5 anni di lavori.", sources)
    assert right.supported and right.markers() == [1], right.supports
    # the fake embedder has no cross-lingual meaning: only the number check is asserted for English
    english = VERIFIER.verify("The project cost 4.2 billion pounds and took 5 years.", sources)
    assert english.supports[0].reason != "number"
    careless = VERIFIER.verify("Il progetto è costato 4,2 milioni di sterline.", sources)
    assert not careless.supported and careless.supports[0].reason == "number"


def test_an_answer_must_add_what_the_question_asks_for() -> None:
    assert adds_information("Victoria was known for livestock [1].", "What was Victoria known for?")
    assert not adds_information("Victoria was known [1].", "What was Victoria known for?")
    assert not adds_information(
        "Questa teoria produce spesso classi di complessità [1].",
        "Che cosa produce spesso classi di complessità in questa teoria?",
    )
    assert adds_information("Nel 2028 [2].", "Quando arriveranno i modelli Ford?")
