"""The Gradio chat: thin. Components and handlers; all the work happens in `rag`.

Article text is shown as text: it is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import RagError
from rag.llm import describe_llm
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


def _highlighted_quote(passage: str, sentence: str | None) -> str:
    """A passage as a block quote with its supporting sentence marked (both escaped first)."""
    quoted = _quote(passage)
    target = _text(sentence) if sentence else ""
    if target and target in quoted:
        return quoted.replace(target, f"<mark>{target}</mark>", 1)
    return quoted


def render_answer(answer: Answer) -> str:
    """The assistant message: the verified answer, then its sources (or the closest passages)."""
    labels = LABELS.get(answer.language, LABELS["en"])
    lines = [_plain(answer.answer), ""]
    if answer.citations:
        lines.append(f"**{labels['sources']}**")
        for c in answer.citations:
            meta = ", ".join(x for x in (c.date, c.publication if c.publication != "unknown" else "") if x)
            lines.append(f"\n**[{c.marker}] {_text(c.title)}**" + (f" ({_text(meta)})" if meta else ""))
            lines.append(_highlighted_quote(c.text, c.sentence))
    elif answer.sources:
        lines.append(f"**{labels['closest']}**")
        for s in answer.sources[:3]:
            lines.append(f"\n**{_text(s.title)}** (score {s.score:.3f})")
            lines.append(_quote(s.text[:400]))
    timing = answer.timings
    lines.append(f"\n<sub>{timing.total_ms / 1000:.1f} s</sub>")
    return "\n".join(lines)


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


def respond(
    service: Service,
    message: str,
    history: list[dict[str, Any]],
    turns: list[Turn] | None = None,
    k: int | None = None,
) -> Iterator[tuple[list[dict[str, Any]], str, list[Turn]]]:
    """Stream the draft answer, then replace it with the verified answer and its sources.

    `turns` are the conversation's earlier answers: follow-up questions are read in their light.
    """
    turns = list(turns or [])
    history = list(history or []) + [{"role": "user", "content": message}]
    earlier = [(t["question"], t["answer"]) for t in turns if not t["abstained"]]
    draft = ""
    try:
        for item in service.pipeline.stream(message, k=k, history=earlier):
            if isinstance(item, Answer):
                yield history + [{"role": "assistant", "content": render_answer(item)}], "", turns + [_turn(item)]
                return
            draft += item
            yield history + [{"role": "assistant", "content": _plain(draft)}], "", turns
    except RagError as e:
        yield history + [{"role": "assistant", "content": f"⚠️ {_plain(str(e))}"}], message, turns + [_failed(message)]
    except Exception as e:  # keep the chat usable; the details go to the server log
        log.exception("answering failed")
        text = f"⚠️ Errore interno / internal error ({e.__class__.__name__}). Riprova / please retry."
        yield history + [{"role": "assistant", "content": text}], message, turns + [_failed(message)]


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
        chatbot = gr.Chatbot(
            label="Chat", height=520, buttons=["copy", "copy_all"], feedback_options=("Like", "Dislike")
        )
        turns = gr.State([])
        with gr.Row():
            box = gr.Textbox(placeholder="Scrivi una domanda… / Type a question…", show_label=False, scale=8)
            send = gr.Button("Invia / Send", variant="primary", scale=1)
        gr.Examples(EXAMPLES, inputs=box)
        clear = gr.Button("Nuova conversazione / Start over")
        with gr.Accordion("Impostazioni / Settings", open=False):
            gr.Markdown(
                f"- LLM: `{describe_llm(settings)}`\n- Embedder: `{service.store.embedder}`\n"
                f"- Index: `{service.store.location}`\n- Feedback: `{settings.feedback_path}`"
            )
            passages = gr.Slider(1, 10, value=settings.k, step=1, label="Passaggi recuperati / Passages retrieved")

        def handler(
            message: str, history: list[dict[str, Any]], remembered: list[Turn], k: float = settings.k
        ) -> Iterator[tuple[list[dict[str, Any]], str, list[Turn]]]:
            yield from respond(service, message, history, remembered, k=int(k))

        def on_like(remembered: list[Turn], data: gr.LikeData) -> None:
            index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            record_feedback(settings.feedback_path, remembered, int(index) // 2, data.liked is True)

        # one queue for both triggers: a single local model answers one question at a time, in turn
        inputs = [box, chatbot, turns, passages]
        box.submit(handler, inputs, [chatbot, box, turns], api_name="ask", concurrency_id="llm")
        send.click(handler, inputs, [chatbot, box, turns], api_visibility="private", concurrency_id="llm")
        clear.click(lambda: ([], "", []), None, [chatbot, box, turns], api_visibility="private")
        chatbot.like(on_like, [turns], None, api_visibility="private")
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
