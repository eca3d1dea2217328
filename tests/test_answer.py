"""The answering chain with a fake embedder and a scripted chat model."""

from __future__ import annotations

import pytest
from langchain_core.messages import BaseMessage

from rag.answer import Pipeline, says_not_found
from rag.citations import attribute_missing, parse_markers
from rag.errors import EmptyQuestion
from rag.ingest import ingest
from rag.retrieval import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Answer
from tests.fakes import HashEmbeddings, ScriptedChat, scripted


def _pipeline(settings: Settings, chat: ScriptedChat, **overrides: object) -> Pipeline:
    settings = settings.model_copy(update={"min_dense_score": 0.0, **overrides})
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    return Pipeline(settings, HybridRetriever(settings, store), chat)


def _source_holding(messages: list[BaseMessage], needle: str) -> int:
    """The [n] of the prompt source that contains `needle`."""
    user = str(messages[-1].content)
    blocks = user.split("\n\n[")
    for block in blocks:
        if needle in block:
            return int(block.lstrip("[").split("]")[0].split("[")[-1])
    raise AssertionError(f"{needle!r} not in the prompt")


def test_answer_cites_the_passage_the_model_points_to(settings: Settings) -> None:
    chat = scripted(lambda m: f"Arriveranno dall'inizio del 2028 [{_source_holding(m, 'inizio del 2028')}].")
    answer = _pipeline(settings, chat).ask("Quando arriveranno i nuovi modelli elettrici Ford?")
    assert not answer.abstained and answer.language == "it"
    assert "2028" in answer.answer
    assert len(answer.citations) == 1
    assert "inizio del 2028" in answer.citations[0].text
    assert answer.citations[0].date == "2025-12-09"
    assert answer.sources and answer.sources[0].rank == 1


def test_markers_that_point_nowhere_are_dropped() -> None:
    parsed = parse_markers("Nel 2028 [1][7]. Anche [2, 9] qui.", 2)
    assert parsed.text == "Nel 2028 [1]. Anche [2] qui."
    assert parsed.markers == [1, 2] and parsed.raw_markers == [1, 7, 2, 9]


def test_answer_without_markers_gets_them_from_the_pipeline(settings: Settings) -> None:
    chat = scripted("Lo stabilimento è costato 550 milioni di euro.")
    answer = _pipeline(settings, chat).ask("Quanto è costata la conversione di Douai?")
    assert answer.citations and "550 milioni" in answer.citations[0].text
    assert answer.answer.endswith(f"[{answer.citations[0].marker}].")


def test_attribution_skips_sentences_sharing_nothing() -> None:
    parsed = attribute_missing("Nothing in common here.", [])
    assert parsed.markers == [] and parsed.text == "Nothing in common here."


@pytest.mark.parametrize(("question", "message"), [
    ("Qual è la capitale dell'Australia?", "Gli articoli non contengono questa informazione."),
    ("What is the capital of Australia?", "The articles don't say."),
])  # fmt: skip
def test_model_not_found_marker_abstains_in_the_question_language(
    settings: Settings, question: str, message: str
) -> None:
    answer = _pipeline(settings, scripted("NOT_FOUND")).ask(question)
    assert answer.abstained and answer.answer == message and answer.citations == []
    assert answer.sources  # the closest passages are still shown


def test_nothing_relevant_abstains_without_calling_the_model(settings: Settings) -> None:
    chat = scripted("Canberra [1].")
    answer = _pipeline(settings, chat, min_dense_score=0.99).ask("What is the capital of Australia?")
    assert answer.abstained and chat.prompts == []


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_an_error_and_no_model_call(settings: Settings, question: str) -> None:
    chat = scripted("x")
    with pytest.raises(EmptyQuestion, match="question is empty"):
        _pipeline(settings, chat).ask(question)
    assert chat.prompts == []


def test_stream_yields_text_then_the_answer(settings: Settings) -> None:
    chat = scripted("Nel 2028 arriveranno due modelli [1].")
    items = list(_pipeline(settings, chat).stream("Quando arriveranno i modelli Ford?"))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == "Nel 2028 arriveranno due modelli [1]."
    assert items[-1].timings.total_ms >= items[-1].timings.ttft_ms >= items[-1].timings.retrieve_ms


def test_prompt_respects_passage_count_and_token_budget(settings: Settings) -> None:
    chat = scripted("NOT_FOUND")
    _pipeline(settings, chat, context_k=2, k=5).ask("Ford Renault Ampere")
    prompt = str(chat.prompts[-1][-1].content)
    assert "[1] " in prompt and "[2] " in prompt and "[3] " not in prompt  # exactly two passages
    chat2 = scripted("NOT_FOUND")
    answer = _pipeline(settings, chat2, context_k=4, context_tokens=10).ask("Ford Renault Ampere")
    assert "[2]" not in str(chat2.prompts[-1][-1].content)  # budget allows only the first passage
    assert len(answer.sources) == 5  # retrieval still returns k


def test_system_prompt_is_a_fixed_prefix(settings: Settings) -> None:
    chat = scripted("NOT_FOUND")
    pipeline = _pipeline(settings, chat)
    pipeline.ask("Chi è il ceo di Renault?")
    pipeline.ask("Quanto è costata la conversione?")
    assert chat.prompts[0][0].content == chat.prompts[1][0].content
    assert chat.prompts[0][-1].content != chat.prompts[1][-1].content


def test_answer_json_shape(settings: Settings) -> None:
    answer = _pipeline(settings, scripted("Nel 2028 [1].")).ask("Quando?")
    data = answer.to_dict()
    assert list(data) == ["question", "language", "answer", "abstained", "citations", "sources", "timings"]
    assert list(data["citations"][0]) == [
        "marker",
        "article_id",
        "title",
        "date",
        "publication",
        "chunk_id",
        "text",
        "sentence",
    ]
    assert list(data["sources"][0]) == ["rank", "chunk_id", "article_id", "title", "score", "text"]
    assert list(data["timings"]) == ["retrieve_ms", "ttft_ms", "generate_ms", "total_ms"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NOT_FOUND", True),
        ("Not_FOUND", True),
        ("NOT_FOUND [1]", True),
        ("not found.", True),
        ("", True),
        ("The cause was not found by investigators.", False),
        ("Nel 2028 [1].", False),
    ],
)
def test_not_found_marker(text: str, expected: bool) -> None:
    assert says_not_found(text) is expected


def test_attribution_leaves_a_sentence_sharing_nothing_unmarked(settings: Settings) -> None:
    store = ChunkStore(settings, HashEmbeddings())
    ingest(settings, store)
    hits = HybridRetriever(settings, store).search("Douai 550 milioni", k=2)
    parsed = attribute_missing("Zebre volanti. Douai ha ricevuto 550 milioni.", hits)
    assert parsed.text.startswith("Zebre volanti. Douai")  # no marker on the first sentence
    assert parsed.text.endswith("milioni [1].") and parsed.markers == [1]
