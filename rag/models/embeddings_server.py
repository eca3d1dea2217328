"""An OpenAI-compatible embeddings endpoint over the local embedder (`rag embeddings-server`), so the machine
with the model embeds for every other one (RAG_EMBEDDER=openai:<model> there).

`POST /v1/embeddings` {"model", "input"} -> {"data": [{"index", "embedding"}]}, `GET /v1/models`, `GET /health`.
Texts are embedded as given: the client adds EmbeddingGemma's prompts (rag/models/embedder_openai.py), as it must for
any server of this API (llama.cpp's, TEI, infinity, vLLM embed what they receive).
"""

from __future__ import annotations

import base64
import hmac
import json
import socket
from collections.abc import Callable
from typing import Any, Literal, Protocol, cast

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ..errors import ModelUnavailable
from ..settings import GEMMA_NAMES, Settings
from .embedder_files import EMBEDDINGGEMMA_300M

MAX_INPUTS = 2048  # texts per request, OpenAI's own limit


class RawEmbedder(Protocol):
    name: str

    def embed_raw(self, texts: list[str]) -> list[list[float]]: ...


class EmbeddingRequest(BaseModel):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"


def served_names(embedder: RawEmbedder) -> tuple[str, ...]:
    """The model names a request may ask for, the shortest first: EmbeddingGemma's aliases for its vectors, else
    the embedder's own name (onnx-int8's vectors are another embedder's: "google/embeddinggemma-300m@int8-7bit")."""
    return GEMMA_NAMES if embedder.name == EMBEDDINGGEMMA_300M.name else (embedder.name,)


def local_embedder(settings: Settings) -> RawEmbedder:
    """The local embedder the server runs: RAG_EMBEDDER's, or <model> of openai:<model> (the serving machine may
    share the desks' settings). It serves whole vectors: a desk with RAG_EMBEDDER_DIMS cuts them itself."""
    from .embeddings import make_embeddings
    from .matryoshka import FULL_DIMS

    backend, _, model = settings.embedder.strip().partition(":")
    local = settings.model_copy(  # it embeds texts as given, all on the documents' runtime
        update={
            "embedder": model if backend == "openai" else settings.embedder,
            "embedder_dims": FULL_DIMS,
            "embedder_query_runtime": "documents",
        }
    )
    embedder = make_embeddings(local)
    if not callable(getattr(embedder, "embed_raw", None)):
        raise ModelUnavailable(
            f"`rag embeddings-server` serves EmbeddingGemma only, not '{local.embedder}'. "
            "Start it with RAG_EMBEDDER=embeddinggemma."
        )
    return cast(RawEmbedder, embedder)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status_code=status)


def build_app(embedder: RawEmbedder, api_key: str = "") -> FastAPI:
    """The FastAPI app over an embedder; with `api_key`, every request must carry it as a bearer token."""
    names = served_names(embedder)
    app = FastAPI(title="newsrag embeddings", docs_url=None, redoc_url=None, openapi_url=None)

    def refused(request: Request) -> JSONResponse | None:
        given = request.headers.get("authorization", "")
        if api_key and not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            return _error(401, "A valid API key is required (Authorization: Bearer <key>).", "authentication_error")
        return None

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": names[0]}

    @app.get("/v1/models")
    def models(request: Request) -> Any:
        return refused(request) or {
            "object": "list",
            "data": [{"id": name, "object": "model", "owned_by": "newsrag"} for name in names],
        }

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest, request: Request) -> Any:
        if (denied := refused(request)) is not None:
            return denied
        if body.model not in names:
            return _error(404, f"The model '{body.model}' is not served here; this server serves {', '.join(names)}.")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not texts or len(texts) > MAX_INPUTS:
            return _error(400, f"`input` must hold 1 to {MAX_INPUTS} texts, not {len(texts)}.")
        vectors = np.asarray(embedder.embed_raw(texts), dtype=np.float32)
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(row, body.encoding_format)}
            for i, row in enumerate(vectors)
        ]
        usage = {"prompt_tokens": 0, "total_tokens": 0}  # not counted
        # json.dumps directly: FastAPI's encoder walks every float first (32 x 768 floats: 46 ms against 15)
        payload = {"object": "list", "data": data, "model": body.model, "usage": usage}
        return Response(json.dumps(payload), media_type="application/json")

    return app


def _encoded(row: np.ndarray, encoding: str) -> Any:
    """A vector as OpenAI encodes it: a list of floats, or base64 of its little-endian float32 bytes."""
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return row.tolist()


def serve(settings: Settings, host: str, port: int, log: Callable[[str], None] = print) -> None:
    """Bind, load the model, then serve until interrupted: /health answers only once the model is loaded."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))  # a busy port fails here, before the model is loaded
        embedder = local_embedder(settings)
        embedder.embed_raw(["warm-up"])  # loads the model: the first request is not the slow one
        runtime = " ".join(str(getattr(embedder, a)) for a in ("runtime", "dtype") if getattr(embedder, a, None))
        url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}/v1"
        log(f"serving {embedder.name} ({runtime}) at {url}; clients set "
            f"RAG_EMBEDDER=openai:{served_names(embedder)[0]} RAG_EMBEDDINGS_URL={url}")  # fmt: skip
        app = build_app(embedder, settings.embeddings_api_key)
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        sock.close()
