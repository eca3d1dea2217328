"""The extracting reader (rag/answer/chain.py) with a fake embedder and a scripted chat model.

A scripted model cannot be held to copying (it answers through PlainReader), so these tests also show
how a free reply is located in the evidence.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage

from rag.answer import ExtractingPipeline
from rag.answer.decision import ABSTAIN, ANSWER, EVIDENCE
from rag.ingest import ingest
from rag.numbers import NUMBER_WORDS
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from tests.fakes import HashEmbeddings, ScriptedChat, scripted


def _pipeline(settings: Settings, chat: ScriptedChat, **overrides: object) -> ExtractingPipeline:
    settings = settings.model_copy(update={"min_dense_score": 0.0, **overrides})
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    return ExtractingPipeline(settings, HybridRetriever(settings, store), chat)


def _shown(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content)


def test_the_evidence_comes_first_then_a_short_answer_cited_to_its_sentence(settings: Settings) -> None:
    chat = scripted("dall'inizio del 2028")
    response = _pipeline(settings, chat).stream("Quando arriveranno i nuovi modelli elettrici Ford?")
    shown = list(response)
    answer = response.answer
    assert len(shown) == 1 and shown[0].startswith("Passaggi più vicini") and "«" in shown[0]
    assert answer.outcome == ANSWER and not answer.abstained
    assert answer.short_answer == "dall'inizio del 2028"
    assert answer.answer.startswith("**dall'inizio del 2028**")
    assert len(answer.citations) == 1 and "inizio del 2028" in (answer.citations[0].sentence or "")
    assert answer.timings.evidence_ms <= answer.timings.total_ms
    # the model saw numbered sentences, the not-found marker offered only as a signal
    prompt = chat.prompts[0]
    assert "[1] " in _shown(prompt) and "NOT_FOUND" in str(prompt[0].content)


def test_a_reply_found_in_no_sentence_is_shown_as_evidence_asserting_nothing(settings: Settings) -> None:
    answer = _pipeline(settings, scripted("NOT_FOUND")).ask("Quando arriveranno i nuovi modelli elettrici Ford?")
    assert answer.outcome == EVIDENCE and answer.abstained
    assert answer.answer.startswith("I passaggi più vicini dicono:") and answer.citations
    assert "NOT_FOUND" not in answer.answer


def test_a_name_no_passage_holds_abstains(settings: Settings) -> None:
    answer = _pipeline(settings, scripted("550 milioni di euro")).ask(
        "Quanto ha investito Volkswagen nello stabilimento di Douai?"
    )
    assert answer.outcome == ABSTAIN and answer.abstained and "Volkswagen" in answer.abstain_reason
    assert answer.signals["premise"]["passages"]["missing_names"] == ("Volkswagen",)


def test_an_english_question_over_an_italian_span_gets_it_translated(settings: Settings) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        if "Translate" in str(messages[0].content):
            return "550 million euros"
        return "550 milioni di euro"

    # the fake embedder does not cross languages: show it every sentence of the retrieved passages
    answer = _pipeline(settings, scripted(reply), reader_sentences=40).ask("How much was invested in the Douai plant?")
    assert answer.outcome == ANSWER and answer.language == "en"
    assert answer.short_answer == "550 million euros" and answer.span == "550 milioni di euro"
    assert "«550 milioni di euro»" in answer.answer


def test_a_translation_that_loses_the_number_keeps_the_span(settings: Settings) -> None:
    def reply(messages: list[BaseMessage]) -> str:
        return "five hundred million" if "Translate" in str(messages[0].content) else "550 milioni di euro"

    answer = _pipeline(settings, scripted(reply), reader_sentences=40).ask("How much was invested in the Douai plant?")
    assert answer.short_answer == "550 milioni di euro"


def test_a_copied_year_or_number_is_widened_to_the_whole_date_or_amount(settings: Settings) -> None:
    answer = _pipeline(settings, scripted("550"), reader_sentences=40).ask(
        "Quanto è costata la conversione dello stabilimento di Douai?"
    )
    assert answer.outcome == ANSWER and answer.short_answer == "550 milioni di euro"
    kept = _pipeline(settings, scripted("550"), reader_sentences=40, reader_whole=False).ask(
        "Quanto è costata la conversione dello stabilimento di Douai?"
    )
    assert kept.short_answer == "550"


def test_a_free_reply_loses_the_markers_and_end_punctuation_it_added(settings: Settings) -> None:
    answer = _pipeline(settings, scripted("dall'inizio del 2028 [1].")).ask(
        "Quando arriveranno i nuovi modelli elettrici Ford?"
    )
    assert answer.outcome == ANSWER and answer.short_answer == "dall'inizio del 2028"


class _ChoosingReader:
    """A reader that records the choices it is offered and takes the first (the embedded model would
    take the likeliest)."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, ...]] = []

    def read(self, messages, words, source, max_tokens, starts=1, choices=()):  # type: ignore[no-untyped-def]
        from rag.models.copying import Decoded

        self.offered.append(tuple(choices))
        return {words[0]: 0.1}, Decoded(choices[0] if choices else "Douai", (-0.1,))

    def opening(self, messages, words):  # type: ignore[no-untyped-def]
        return {w: 0.1 for w in words}

    def limit(self, max_tokens: int) -> dict[str, int]:
        return {"max_tokens": max_tokens}

    @property
    def last_stats(self) -> dict[str, float]:
        return {}


def test_a_question_asking_for_an_amount_is_answered_with_one_of_the_evidence_s_amounts(settings: Settings) -> None:
    settings = settings.model_copy(update={"min_dense_score": 0.0, "reader_kinds": True})
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    reader = _ChoosingReader()
    pipeline = ExtractingPipeline(settings, HybridRetriever(settings, store), scripted("x"), reader=reader)
    answer = pipeline.ask("Quanti milioni di euro sono stati investiti nello stabilimento di Douai?")
    offered = reader.offered[-1]
    assert offered and all(any(ch.isdigit() for ch in c) or c.split()[0].casefold() in NUMBER_WORDS for c in offered)
    assert answer.signals["kind"] == "number" and answer.signals["choices"] == len(offered)
    assert answer.outcome == ANSWER and answer.span == offered[0]
    assert any(offered[0] in (c.sentence or "") for c in answer.citations)
    # off, the same question is copied freely: nothing is offered
    plain = ExtractingPipeline(
        settings.model_copy(update={"reader_kinds": False}),
        HybridRetriever(settings, store),
        scripted("x"),
        reader=reader,
    )
    plain.ask("Quanti milioni di euro sono stati investiti nello stabilimento di Douai?")
    assert reader.offered[-1] == ()


class _SentenceReader(_ChoosingReader):
    """Leans away from "not found" only for a sentence holding the year 2028, and then copies it."""

    def read(self, messages, words, source, max_tokens, starts=1, choices=()):  # type: ignore[no-untyped-def]
        from rag.models.copying import Decoded

        self.offered.append((str(messages[-1].content),))
        if "2028" in (source or ""):
            return {words[0]: 0.05}, Decoded("2028", (-0.1,))
        return {words[0]: 0.9}, Decoded((source or "x").split()[0], (-0.1,))


def test_each_sentence_read_alone_the_span_comes_from_the_one_least_likely_not_found(settings: Settings) -> None:
    settings = settings.model_copy(update={"min_dense_score": 0.0, "reader_each": True, "reader_sentences": 4})
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    reader = _SentenceReader()
    pipeline = ExtractingPipeline(settings, HybridRetriever(settings, store), scripted("x"), reader=reader)
    answer = pipeline.ask("Quando arriveranno i nuovi modelli elettrici Ford?")
    shown = [s for (s,) in reader.offered]
    assert len(shown) == 4 and all(s.count("[1] ") == 1 and "[2]" not in s for s in shown)
    each = answer.signals["not_found_each"]
    assert len(each) == 4 and answer.not_found_probability == min(each) == 0.05
    assert answer.outcome == ANSWER and answer.span == "2028"
    assert "2028" in (answer.citations[0].sentence or "")


class _CheckingReader(_ChoosingReader):
    """Copies "2028" and, asked whether the cited sentence gives it, answers with a fixed P(yes)."""

    def __init__(self, yes: float) -> None:
        super().__init__()
        self.yes = yes
        self.checked: list[str] = []

    def read(self, messages, words, source, max_tokens, starts=1, choices=()):  # type: ignore[no-untyped-def]
        from rag.models.copying import Decoded

        return {words[0]: 0.05}, Decoded("2028", (-0.1,))

    def opening(self, messages, words):  # type: ignore[no-untyped-def]
        self.checked.append(str(messages[-1].content))
        return {"yes": self.yes, "Yes": 0.0, "no": 1.0 - self.yes, "No": 0.0}


def test_the_check_shows_the_cited_sentence_and_the_span_and_its_doubt_withholds_the_answer(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={"min_dense_score": 0.0, "reader_check": True, "reader_min_supported": 0.5, "reader_sentences": 4}
    )
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    question = "Quando arriveranno i nuovi modelli elettrici Ford?"
    for yes, outcome in ((0.8, ANSWER), (0.2, EVIDENCE)):
        reader = _CheckingReader(yes)
        pipeline = ExtractingPipeline(settings, HybridRetriever(settings, store), scripted("x"), reader=reader)
        answer = pipeline.ask(question)
        assert answer.signals["supported"] == yes and answer.outcome == outcome
        (shown,) = reader.checked  # one check, of the sentence the span was located in
        assert question in shown and "Risposta proposta: 2028" in shown and "[1]" not in shown
        sentence = shown.split("Frase: ", 1)[1].split("\n", 1)[0]
        assert "2028" in sentence and answer.signals["located"]
        if outcome == ANSWER:
            assert answer.citations[0].sentence == sentence
    off = ExtractingPipeline(
        settings.model_copy(update={"reader_check": False}), HybridRetriever(settings, store), scripted("x"),
        reader=(reader := _CheckingReader(0.2)),
    )  # fmt: skip
    assert off.ask(question).signals["supported"] is None and reader.checked == []
