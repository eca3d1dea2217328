"""The Gradio app with fake models: streaming, sources under the answer, escaping, a live server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from rag.errors import RagError
from rag.ingest import ingest
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer, Citation, Timings
from tests.conftest import free_port
from tests.fakes import HashEmbeddings, scripted
from ui.app import WORKING, build_app, launch, launch_options, parse_auth, record_feedback, respond
from ui.render import render_answer

ANSWER = "I nuovi modelli Ford arriveranno nei concessionari europei dall'inizio del 2028 [1]."


@pytest.fixture
def service(settings: Settings) -> Service:
    settings = settings.model_copy(update={"min_dense_score": 0.0, "reader": "compose"})  # a streamed sentence
    svc = build_service(settings, embeddings=HashEmbeddings(), chat_model=scripted(ANSWER))
    ingest(settings, svc.store)
    return svc


def test_respond_streams_then_shows_the_answer_with_its_sources(service: Service) -> None:
    frames = list(respond(service, "Quando arriveranno i modelli Ford?", []))
    assert len(frames) > 2  # the draft grows before the final message
    drafts = [f[0][-1]["content"] for f in frames[1:-1]]
    assert drafts[0] != drafts[-1] and "2028" in drafts[-1]
    final = frames[-1][0][-1]["content"]
    assert re.search(r"dall'inizio del 2028 \[\d\]\.", final) and "**Fonti**" in final
    # the passages not cited are folded away, with their scores
    folded = final.split("<details>", 1)[1]
    assert folded.startswith("<summary>Altri passaggi recuperati (") and "score " in folded
    assert frames[0][3] == WORKING and frames[-1][3].startswith("✓ Risposta 1 · ")
    assert frames[-1][0][0] == {"role": "user", "content": "Quando arriveranno i modelli Ford?"}


def test_errors_become_a_chat_message_and_keep_the_question(service: Service) -> None:
    question = "Perché? " * 400
    history, box, _turns, status = list(respond(service, question, []))[-1]
    assert "characters long" in history[-1]["content"] and box == question and status.startswith("⚠️")


def test_a_blank_message_changes_nothing_but_the_status_line(service: Service) -> None:
    *_, (history, _box, turns, _status) = respond(service, "Quando arriveranno i nuovi modelli Ford?", [])
    assert list(respond(service, "   ", history, turns)) == [(history, "", turns, "")]


def test_article_html_is_shown_as_text() -> None:
    citation = Citation(1, "a", "<b>Titolo</b>", "2025-01-01", "unknown", "c", "<script>alert(1)</script> *testo*")
    answer = Answer(
        "q", "it", "Risposta <img src=x onerror=alert(1)> [1].", False, [citation], [], Timings(total_ms=1200)
    )
    html = render_answer(answer)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<b>" not in html
    assert "\\*testo\\*" in html  # Markdown emphasis neutralised too


def test_live_app_answers_through_the_http_api(service: Service) -> None:
    from gradio_client import Client

    demo = build_app(service.settings, service)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        history, _box, _status = client.predict("When will the Ford models arrive?", [], 5, api_name="/ask")
        assert history[-1]["role"] == "assistant"
        assert re.search(r"2028 \[\d\]", str(history[-1]["content"]))
    finally:
        demo.close()


def test_supporting_sentence_is_highlighted_and_still_escaped() -> None:
    citation = Citation(
        1, "a", "T", "", "unknown", "c", "Prima frase. Costa <b>550</b> milioni. Fine.", "Costa <b>550</b> milioni."
    )
    html = render_answer(Answer("q", "it", "Costa 550 milioni [1].", False, [citation], [], Timings()))
    assert "<mark>Costa &lt;b&gt;550&lt;/b&gt; milioni.</mark>" in html


def test_follow_up_sends_the_earlier_answers_as_history(service: Service) -> None:
    *_, (history, _box, turns, _status) = respond(service, "Quando arriveranno i nuovi modelli Ford?", [])
    assert len(turns) == 1 and turns[0]["citations"]
    seen: list[str] = []
    service.pipeline.chat_model.reply = lambda m: seen.append(str(m[-1].content)) or ANSWER  # type: ignore[attr-defined]
    *_, (history, _box, turns, _status) = respond(service, "E in quali paesi?", history, turns)
    assert "Quando arriveranno i nuovi modelli Ford?" in seen[0]  # the rewrite prompt saw the conversation
    assert len(turns) == 2 and len(history) == 4


def test_thumbs_are_appended_to_a_jsonl_file_with_question_and_citations(service: Service, tmp_path: Path) -> None:
    *_, (_history, _box, turns, _status) = respond(service, "Quando arriveranno i nuovi modelli Ford?", [])
    path = tmp_path / "feedback.jsonl"
    record_feedback(path, turns, 0, True)
    record_feedback(path, turns, 0, False)
    record_feedback(path, turns, 5, True)  # no such answer: ignored
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [x["rating"] for x in lines] == ["up", "down"]
    assert lines[0]["question"] == "Quando arriveranno i nuovi modelli Ford?" and "2028" in lines[0]["answer"]
    assert lines[0]["citations"][0]["chunk_id"]


REPLIES = {
    "Ford": "I nuovi modelli Ford arriveranno nei concessionari europei dall'inizio del 2028.",
    "Douai": "Lo stabilimento di Douai ha avuto un investimento di 550 milioni di euro.",
    "intesa": "L'intesa è stata siglata il 9 dicembre 2025 tra Parigi e Colonia.",
}


def _by_topic(messages: list[Any]) -> str:
    time.sleep(0.3)  # the other two requests arrive while this one is answered, and wait in the queue
    question = str(messages[-1].content).rsplit("Domanda:", 1)[-1]
    return next(reply for topic, reply in REPLIES.items() if topic in question)


def test_three_readers_at_once_each_get_their_own_answer(settings: Settings) -> None:
    from gradio_client import Client

    settings = settings.model_copy(update={"min_dense_score": 0.0, "reader": "compose"})  # a streamed sentence
    svc = build_service(settings, embeddings=HashEmbeddings(), chat_model=scripted(_by_topic))
    ingest(settings, svc.store)
    demo = build_app(settings, svc)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    questions = {
        "Ford": "Quando arriveranno i modelli Ford?",
        "Douai": "Quanto è stato investito a Douai?",
        "intesa": "Quando è stata siglata l'intesa?",
    }
    try:
        readers = {topic: Client(f"http://127.0.0.1:{port}/", verbose=False) for topic in questions}
        jobs = {topic: readers[topic].submit(q, [], 5, api_name="/ask") for topic, q in questions.items()}
        results = {topic: job.result(timeout=120) for topic, job in jobs.items()}
    finally:
        demo.close()
    for topic, (history, _box, status) in results.items():
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert questions[topic] in str(history[0]["content"])
        answer = str(history[1]["content"]).split("**Fonti**")[0]
        assert REPLIES[topic].rstrip(".") in answer  # its own answer, whole
        assert all(REPLIES[other].rstrip(".")[:30] not in answer for other in REPLIES if other != topic)
        assert status.startswith("✓ Risposta 1")


def test_articles_are_added_and_removed_through_the_app(service: Service, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    demo = build_app(service.settings, service)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    article = tmp_path / "tram.md"
    article.write_text("---\ntitle: Il tram <i>di</i> Lille\n---\n\nIl tram di Lille partirà nel 2029.\n")
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        message, table, _choice, _file = client.predict(handle_file(str(article)), api_name="/add_article")
        assert message.startswith("✓") and "Il tram &lt;i&gt;di&lt;/i&gt; Lille" in table
        assert "<i>" not in table  # the title is text, not markup
        refused, *_ = client.predict(handle_file(str(article)), api_name="/add_article")
        assert "already indexed" in refused
        message, table, *_ = client.predict("tram", api_name="/remove_article")
        assert message.startswith("✓ Rimosso") and "Lille" not in table
    finally:
        demo.close()
    assert not (service.settings.corpus[0] / "tram.md").exists()


def test_the_server_is_local_private_and_bounded_by_default(settings: Settings) -> None:
    options = launch_options(settings)
    assert options["server_name"] == "127.0.0.1" and options["share"] is False and options["auth"] is None
    assert options["max_file_size"] == settings.upload_max_bytes
    assert parse_auth("ada:s3cret:x") == ("ada", "s3cret:x")
    for bad in ("ada", ":pw", "ada:", ""):
        with pytest.raises(RagError, match="RAG_UI_AUTH must look like user:password"):
            parse_auth(bad)
    with pytest.raises(RagError, match="set RAG_UI_AUTH=user:password with --share"):
        launch(settings, share=True)  # refused before anything is built or served


def test_model_text_cannot_make_the_page_fetch_or_link() -> None:
    answer = Answer("q", "it", "Vedi ![x](https://evil.example/p.png) e [qui](https://evil.example) [1].", False)
    shown = render_answer(answer)
    assert "evil.example" not in shown and "Vedi x e qui [1]." in shown


def test_the_extracting_reader_shows_the_evidence_first_then_the_short_answer(settings: Settings) -> None:
    settings = settings.model_copy(update={"min_dense_score": 0.0, "reader": "extract"})
    svc = build_service(settings, embeddings=HashEmbeddings(), chat_model=scripted("dall'inizio del 2028"))
    ingest(settings, svc.store)
    frames = list(respond(svc, "Quando arriveranno i nuovi modelli elettrici Ford?", []))
    evidence = frames[1][0][-1]["content"]
    assert evidence.startswith("Passaggi più vicini") and "«" in evidence  # before the model has read
    final = frames[-1][0][-1]["content"]
    assert re.match(r"\*\*dall'inizio del 2028\*\* \[\d\]", final) and "**Fonti**" in final
    assert "Passaggi più vicini (la risposta arriva)" not in final
