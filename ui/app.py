"""The Gradio chat: thin. Components and handlers; all the work happens in `rag`.

Article text is shown as text: it is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.library import UPLOAD_SUFFIXES, list_articles
from rag.models.llm import describe_llm
from rag.periods import between
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer
from ui.articles import add_page, article_choices, publication_choices, remove_selected, shown_articles, upload_article
from ui.render import answer_text, articles_table, plain, render_answer, status_line

log = logging.getLogger(__name__)

EXAMPLES = [
    "Quando arriveranno i nuovi modelli elettrici Ford?",
    "Quanto è stato investito nello stabilimento di Douai?",
    "When will the new Ford EVs reach European dealers?",
    "Who are the CEOs of Nissan and Mitsubishi?",
]
Turn = dict[str, Any]  # what the chat remembers of one answered question (also what feedback records)


def _turn(answer: Answer) -> Turn:
    return {
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "citations": [
            {"marker": c.marker, "chunk_id": c.chunk_id, "title": c.title, "sentence": c.sentence}
            for c in answer.citations
        ],
    }


Frame = tuple[list[dict[str, Any]], str, list[Turn], str]  # chat, question box, turns, status line
WORKING = "… / …"


def respond(
    service: Service,
    message: str,
    history: list[dict[str, Any]],
    turns: list[Turn] | None = None,
    k: int | None = None,
    since: str = "",
    until: str = "",
) -> Iterator[Frame]:
    """Stream the draft answer, then replace it with the verified answer and its sources.

    `turns` are the conversation's earlier answers: follow-up questions are read in their light.
    `since` / `until` (yyyy-mm-dd, optional) limit the search to articles published between them.
    The status line says "✓ … n" once answer n is complete.
    """
    # the remembered turns belong to the conversation on screen: an empty chat starts a new one
    turns = list(turns or []) if history else []
    if not (message or "").strip():  # nothing typed: nothing to do, like any chat
        yield list(history or []), "", turns, ""
        return
    history = list(history or []) + [{"role": "user", "content": message}]
    earlier = [(t["question"], t["answer"]) for t in turns if not t["abstained"]]
    number = len(turns) + 1
    draft = ""
    try:
        try:
            period = between(since, until)
        except ValueError as e:
            raise RagError(f"Periodo / Date range: {e}") from e
        yield history, "", turns, WORKING
        response = service.pipeline.stream(message, k=k, history=earlier, period=period)
        for delta in response:
            draft += delta
            yield history + [{"role": "assistant", "content": answer_text(draft)}], "", turns, WORKING
        answer = response.answer
        final = history + [{"role": "assistant", "content": render_answer(answer)}]
        yield final, "", turns + [_turn(answer)], status_line(answer, number)
    except RagError as e:
        text = f"⚠️ {plain(str(e))}"
        yield history + [{"role": "assistant", "content": text}], message, turns + [_failed(message)], f"⚠️ {number}"
    except Exception as e:  # keep the chat usable; the details go to the server log
        log.exception("answering failed")
        text = f"⚠️ Errore interno / internal error ({e.__class__.__name__}). Riprova / please retry."
        yield history + [{"role": "assistant", "content": text}], message, turns + [_failed(message)], f"⚠️ {number}"


def _failed(message: str) -> Turn:
    return {"question": message, "standalone_question": "", "answer": "", "abstained": True, "citations": []}


def record_feedback(path: Path, turns: list[Turn], assistant_index: int, liked: bool) -> None:
    """Append a reader's thumbs up/down on one answer, with its question and citations, to a JSONL file."""
    if not 0 <= assistant_index < len(turns):
        return
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rating": "up" if liked else "down",
        **turns[assistant_index],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def build_app(settings: Settings, service: Service | None = None) -> Any:
    service = service or build_service(settings)
    with gr.Blocks(title="Notizie — domande e risposte") as demo:
        gr.Markdown(
            "## Domande sulle notizie · Questions about the news\n"
            "Chiedi in italiano o in inglese: le risposte citano i passaggi degli articoli. "
            "Ask in Italian or English: answers cite the article passages."
        )
        with gr.Tab("Chat", id="chat"):
            chatbot = gr.Chatbot(
                label="Chat",
                height=560,
                buttons=["copy", "copy_all"],
                feedback_options=("Like", "Dislike"),
                elem_id="chat",
            )
            status = gr.Markdown("", elem_id="answer-status")
            turns = gr.State([])
            with gr.Row():
                box = gr.Textbox(
                    placeholder="Scrivi una domanda… / Type a question…", show_label=False, scale=8, elem_id="question"
                )
                send = gr.Button("Invia / Send", variant="primary", scale=1, elem_id="send")
            gr.Examples(EXAMPLES, inputs=box)
            with gr.Accordion("Periodo / Date range", open=False):
                gr.Markdown(
                    "Cerca solo negli articoli pubblicati in questo periodo (aaaa-mm-gg; vuoto: nessun limite). "
                    "Search only articles published in this range (yyyy-mm-dd; empty: no limit)."
                )
                with gr.Row():
                    since = gr.Textbox("", label="Da / From", placeholder="2025-09-01", elem_id="since")
                    until = gr.Textbox("", label="A / To", placeholder="2025-12-31", elem_id="until")
            clear = gr.Button("Nuova conversazione / Start over", elem_id="start-over")
            with gr.Accordion("Impostazioni / Settings", open=False):
                gr.Markdown(
                    f"- LLM: `{describe_llm(settings)}`\n- Embedder: `{service.store.embedder}`\n"
                    f"- Index: `{service.store.location}`\n- Feedback: `{settings.feedback_path}`\n"
                    "- Tempi di risposta: sotto la chat / Answer timing: under the chat"
                )
                passages = gr.Slider(1, 10, value=settings.k, step=1, label="Passaggi recuperati / Passages retrieved")
        with gr.Tab("Articoli / Articles", id="articles"):
            with gr.Row():
                shown_since = gr.Textbox(label="Da / From", placeholder="2025-09-01", scale=2, elem_id="list-since")
                shown_until = gr.Textbox(label="A / To", placeholder="2025-12-31", scale=2, elem_id="list-until")
                shown_publication = gr.Dropdown(
                    choices=publication_choices(service), value="", label="Testata / Publication", scale=3,
                    elem_id="list-publication",
                )  # fmt: skip
                shown_order = gr.Dropdown(
                    choices=[("Più recenti / Newest", "newest"), ("Meno recenti / Oldest", "oldest"),
                             ("Titolo / Title", "title"), ("Testata / Publication", "publication")],
                    value="newest", label="Ordine / Sort", scale=2, elem_id="list-order",
                )  # fmt: skip
            table = gr.HTML(articles_table(list_articles(service.store)), elem_id="articles-table")
            limit = f"max {settings.upload_max_bytes / 1_000_000:.1f} MB"
            upload = gr.File(
                label=f"Carica un articolo / Upload an article (.md, .txt, .html; {limit})",
                file_types=list(UPLOAD_SUFFIXES),
                file_count="single",
                type="filepath",
                elem_id="upload",
            )
            with gr.Row():
                page_url = gr.Textbox(
                    label="Oppure l'indirizzo di una pagina / Or a news page's address",
                    placeholder="https://…",
                    scale=4,
                    elem_id="page-url",
                )
                fetch = gr.Button("Aggiungi / Add", scale=1, elem_id="add-url")
            with gr.Row():
                chosen = gr.Dropdown(
                    choices=article_choices(service), label="Articolo / Article", scale=4, elem_id="remove-choice"
                )
                remove = gr.Button("Rimuovi / Remove", variant="stop", scale=1, elem_id="remove")
            library_status = gr.Markdown("", elem_id="articles-status")

        def handler(
            message: str,
            history: list[dict[str, Any]],
            remembered: list[Turn],
            k: float = settings.k,
            first: str = "",
            last: str = "",
        ) -> Iterator[Frame]:
            yield from respond(service, message, history, remembered, k=int(k), since=first, until=last)

        def on_filter(first: str, last: str, publication: str, order: str) -> str:
            return shown_articles(service, first, last, publication, order)

        def on_like(remembered: list[Turn], data: gr.LikeData) -> None:
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            record_feedback(settings.feedback_path, remembered, int(index) // 2, data.liked is True)

        def refreshed(message: str) -> tuple[str, str, Any, None]:
            choices = gr.Dropdown(choices=article_choices(service), value=None)
            return message, articles_table(list_articles(service.store)), choices, None

        def on_upload(path: str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, str, Any, None]:  # noqa: B008 - Gradio's progress idiom
            return refreshed(upload_article(service, path, lambda f, d: progress(f, desc=d)))

        def on_url(url: str, progress: gr.Progress = gr.Progress()) -> tuple[str, str, Any, None, str]:  # noqa: B008 - Gradio's progress idiom
            message = add_page(service, url, lambda f, d: progress(f, desc=d))
            return (*refreshed(message), "" if message.startswith("✓") else url)

        def on_remove(article_id: str | None) -> tuple[str, str, Any, None]:
            return refreshed(remove_selected(service, article_id))

        # one queue for questions and index writes: a single local model answers one question at a time,
        # in turn, and an article is never half-indexed while a question is answered
        inputs = [box, chatbot, turns, passages, since, until]
        outputs = [chatbot, box, turns, status]
        box.submit(handler, inputs, outputs, api_name="ask", concurrency_id="llm")
        send.click(handler, inputs, outputs, api_visibility="private", concurrency_id="llm")
        clear.click(lambda: ([], "", [], ""), None, outputs, api_visibility="private")
        chatbot.like(on_like, [turns], None, api_visibility="private")
        filters = [shown_since, shown_until, shown_publication, shown_order]
        gr.on(
            [shown_since.submit, shown_until.submit, shown_publication.change, shown_order.change],
            on_filter,
            filters,
            [table],
            api_name="list_articles",
        )
        library = [library_status, table, chosen, upload]
        upload.upload(on_upload, [upload], library, api_name="add_article", concurrency_id="llm")
        remove.click(on_remove, [chosen], library, api_name="remove_article", concurrency_id="llm")
        gr.on(
            [fetch.click, page_url.submit],
            on_url,
            [page_url],
            [*library, page_url],
            api_name="add_url",
            concurrency_id="llm",
        )

        def current_library() -> tuple[str, Any]:  # another reader may have changed it since the page was built
            return articles_table(list_articles(service.store)), gr.Dropdown(choices=article_choices(service))

        demo.load(current_library, None, [table, chosen], api_visibility="private")
    demo.queue(default_concurrency_limit=1)
    return demo


def launch(settings: Settings, share: bool = False) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = parse_auth(os.environ.get("RAG_UI_AUTH"))
    if share and auth is None:
        raise RagError(
            "A public link lets anyone add and remove articles and read the corpus: "
            "set RAG_UI_AUTH=user:password with --share."
        )
    service = build_service(settings)
    service.store.check_embedder()  # fail now, with the fix, rather than on the first question
    service.warm_up()  # load the model before the first reader arrives
    demo = build_app(settings, service)
    demo.launch(**launch_options(settings, share=share, auth=auth))


CSS = """
table.articles { width: 100%; border-collapse: collapse; }
table.articles caption { text-align: left; padding: 4px 0; opacity: 0.8; }
table.articles th, table.articles td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e5e7eb; }
table.articles td:nth-child(6) { text-align: right; }
#answer-status { min-height: 1.5em; }
"""


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """RAG_UI_AUTH ("user:password") as Gradio's auth pair; unset means no login."""
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise RagError("RAG_UI_AUTH must look like user:password (unset it to run without a login).")
    return user, password


def launch_options(settings: Settings, share: bool = False, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """How the app is served: local address, no share link unless asked, upload limit, offline theme."""
    # system fonts only: the page must not fetch anything from the internet
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {
        "theme": theme,
        "server_name": settings.host,
        "server_port": settings.port,
        "share": share,
        "auth": auth,
        "show_error": True,
        "max_file_size": settings.upload_max_bytes,
        "css": CSS,
    }
