"""The Gradio app with fake models: streaming, sources under the answer, escaping, a live server."""

from __future__ import annotations

import pytest

from rag.ingest import ingest
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer, Citation, Timings
from tests.conftest import free_port
from tests.fakes import HashEmbeddings, scripted
from ui.app import build_app, render_answer, respond


@pytest.fixture
def service(settings: Settings) -> Service:
    settings = settings.model_copy(update={"min_dense_score": 0.0})
    svc = build_service(settings, embeddings=HashEmbeddings(), chat_model=scripted("Arriveranno nel 2028 [1]."))
    ingest(settings, svc.store)
    return svc


def test_respond_streams_then_shows_the_answer_with_its_sources(service: Service) -> None:
    frames = list(respond(service, "Quando arriveranno i modelli Ford?", []))
    assert len(frames) > 2  # the draft grows before the final message
    drafts = [f[0][-1]["content"] for f in frames[:-1]]
    assert drafts[0] != drafts[-1] and "2028" in drafts[-1]
    final = frames[-1][0][-1]["content"]
    assert "Arriveranno nel 2028 [1]." in final and "**Fonti**" in final
    assert frames[-1][0][0] == {"role": "user", "content": "Quando arriveranno i modelli Ford?"}


def test_errors_become_a_chat_message_and_keep_the_question(service: Service) -> None:
    history, box = list(respond(service, "   ", []))[-1]
    assert "question is empty" in history[-1]["content"] and box == "   "


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
        history, _box = client.predict("When will the Ford models arrive?", [], api_name="/ask")
        assert history[-1]["role"] == "assistant"
        assert "2028 [1]" in str(history[-1]["content"])
    finally:
        demo.close()
