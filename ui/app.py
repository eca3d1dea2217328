"""The Gradio chat: thin. Components and handlers; all the work happens in `rag`.

Article text is shown as text: it is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from rag.errors import RagError
from rag.service import Service, build_service
from rag.settings import Settings
from rag.types import Answer

log = logging.getLogger(__name__)

EXAMPLES = [
    "Quando arriveranno i nuovi modelli elettrici Ford?",
    "Quanto è stato investito nello stabilimento di Douai?",
    "When will the new Ford EVs reach European dealers?",
    "Who are the CEOs of Nissan and Mitsubishi?",
]
LABELS = {
    "it": {"sources": "Fonti", "closest": "Passaggi più vicini"},
    "en": {"sources": "Sources", "closest": "Closest passages"},
}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|])")


def _text(value: str) -> str:
    """Article text, safe in Markdown: HTML escaped and Markdown control characters backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", _plain(value))


def _quote(passage: str) -> str:
    """A passage as a Markdown block quote, every paragraph of it inside the quote."""
    return "\n".join("> " + line for line in _text(passage).splitlines())


def _plain(answer: str) -> str:
    """Model or error text as text: HTML escaped, Markdown (and its [n] markers) left readable."""
    return html.escape(answer, quote=False)


def render_answer(answer: Answer) -> str:
    """The assistant message: the verified answer, then its sources (or the closest passages)."""
    labels = LABELS.get(answer.language, LABELS["en"])
    lines = [_plain(answer.answer), ""]
    if answer.citations:
        lines.append(f"**{labels['sources']}**")
        for c in answer.citations:
            meta = ", ".join(x for x in (c.date, c.publication if c.publication != "unknown" else "") if x)
            lines.append(f"\n**[{c.marker}] {_text(c.title)}**" + (f" ({_text(meta)})" if meta else ""))
            lines.append(_quote(c.text))
    elif answer.sources:
        lines.append(f"**{labels['closest']}**")
        for s in answer.sources[:3]:
            lines.append(f"\n**{_text(s.title)}** (score {s.score:.3f})")
            lines.append(_quote(s.text[:400]))
    timing = answer.timings
    lines.append(f"\n<sub>{timing.total_ms / 1000:.1f} s</sub>")
    return "\n".join(lines)


def respond(
    service: Service, message: str, history: list[dict[str, Any]]
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """Stream the draft answer, then replace it with the verified answer and its sources."""
    history = list(history or []) + [{"role": "user", "content": message}]
    draft = ""
    try:
        for item in service.pipeline.stream(message):
            if isinstance(item, Answer):
                yield history + [{"role": "assistant", "content": render_answer(item)}], ""
                return
            draft += item
            yield history + [{"role": "assistant", "content": _plain(draft)}], ""
    except RagError as e:
        yield history + [{"role": "assistant", "content": f"⚠️ {_plain(str(e))}"}], message
    except Exception as e:  # keep the chat usable; the details go to the server log
        log.exception("answering failed")
        text = f"⚠️ Errore interno / internal error ({e.__class__.__name__}). Riprova / please retry."
        yield history + [{"role": "assistant", "content": text}], message


def build_app(settings: Settings, service: Service | None = None) -> Any:
    import gradio as gr

    service = service or build_service(settings)
    with gr.Blocks(title="Notizie — domande e risposte") as demo:
        gr.Markdown(
            "## Domande sulle notizie · Questions about the news\n"
            "Chiedi in italiano o in inglese: le risposte citano i passaggi degli articoli. "
            "Ask in Italian or English: answers cite the article passages."
        )
        chatbot = gr.Chatbot(label="Chat", height=520)
        with gr.Row():
            box = gr.Textbox(placeholder="Scrivi una domanda… / Type a question…", show_label=False, scale=8)
            send = gr.Button("Invia / Send", variant="primary", scale=1)
        gr.Examples(EXAMPLES, inputs=box)
        clear = gr.Button("Nuova conversazione / Start over")

        def handler(message: str, history: list[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], str]]:
            yield from respond(service, message, history)

        # one queue for both triggers: a single local model answers one question at a time, in turn
        box.submit(handler, [box, chatbot], [chatbot, box], api_name="ask", concurrency_id="llm")
        send.click(handler, [box, chatbot], [chatbot, box], api_visibility="private", concurrency_id="llm")
        clear.click(lambda: ([], ""), None, [chatbot, box], api_visibility="private")
    demo.queue(default_concurrency_limit=1)
    return demo


def launch(settings: Settings, share: bool = False) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = os.environ.get("RAG_UI_AUTH")
    if auth is not None and (":" not in auth or not auth.split(":", 1)[0]):
        raise RagError("RAG_UI_AUTH must look like user:password (unset it to run without a login).")
    service = build_service(settings)
    service.store.check_embedder()  # fail now, with the fix, rather than on the first question
    service.warm_up()  # load the model before the first reader arrives
    demo = build_app(settings, service)
    import gradio as gr

    # system fonts only: the page must not fetch anything from the internet
    theme = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    demo.launch(
        theme=theme,
        server_name=settings.host,
        server_port=settings.port,
        share=share,
        auth=tuple(auth.split(":", 1)) if auth else None,
        show_error=True,
    )
