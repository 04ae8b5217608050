"""`assistant` command line: ingest, ask, chat, eval, status, privacy, forget, purge.
A thin adapter over answer.Assistant.

Exit codes: 0 success (a refused answer is a success), 1 error, 2 bad usage or
settings, 3 index built by another embedder or chunker, 4 store unreadable,
5 model missing or unusable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from assistant.privacy import egress
from assistant.privacy.offline import contain, go_offline

EPILOG = """\
examples:
  assistant ask "开源大模型有哪些优势？"          ask the bundled corpus (ingested on first use)
  assistant ask --json "What is LLaMA's licence limit?"   one JSON object, for scripts
  assistant ingest ~/notes                       add a folder (txt, md, html); re-runs are incremental
  assistant chat                                 a conversation; follow-up questions work
  assistant status                               what is indexed, which models, where data lives
  assistant ui                                   the web page, at http://127.0.0.1:7860
  assistant serve                                Chroma server + model server + web page, for a team; --stop ends them
  assistant privacy                              the privacy report: guard, data folder, models, bytes not uploaded
  assistant forget 003_article.txt               remove a document and wipe its text from the index files
  assistant purge                                remove everything the assistant stored
  assistant eval                                 quality on the gold questions: table + report

settings: defaults < DATA_DIR/config.toml < ASSISTANT_* environment variables < flags
(e.g. ASSISTANT_K=8, ASSISTANT_MODEL=/path/to/model.gguf, ASSISTANT_DATA_DIR=/path).
Nothing is fetched from the network: models are read from local files only, and an
egress guard refuses any connection off this machine.
"""


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings")
    g.add_argument("--data-dir", type=Path, help="where the index, models and logs live (default ~/.local/share/private-assistant)")
    g.add_argument("--model", type=Path, help="a chat GGUF file (default: the bundled Qwen2.5-Coder-1.5B-Instruct Q4_K_M)")
    g.add_argument("--embed-model", type=Path, help="a sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2)")
    g.add_argument("--k", type=int, help="chunks retrieved per question (default 4)")
    g.add_argument("--follow", type=int, help="chunks after each retrieved one also shown to the model (default 1)")
    g.add_argument("--n-ctx", type=int, help="context window in tokens (default 4096)")
    g.add_argument("--temperature", type=float, help="sampling temperature (default 0: deterministic)")
    g.add_argument("--chunk-size", type=int, help="chunk size in characters (default 200); changing it needs --rebuild")
    g.add_argument("--chunk-overlap", type=int, help="overlap in characters, whole sentences (default 40)")
    g.add_argument("--debug-log", action="store_const", const=True, help="DEBUG: also log questions, answers and sources as text to DATA/logs/debug.jsonl (off by default: logs hold no text)")
    g.add_argument("--chroma-url", metavar="URL", help="use the Chroma server at http://HOST:PORT (started with `chroma run`) instead of the embedded store")
    g.add_argument("--llm-url", metavar="URL", help="use the OpenAI-compatible model server at http://HOST:PORT/v1 (llama_cpp.server, llama-server) instead of llama.cpp in-process")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="assistant",
        description="A private document assistant: answers questions about your documents with a local model, citing the passages. Nothing leaves this machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="add documents to the index (incremental)", description="Read .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv and .epub files, clean and chunk them, and index them; each passage keeps its page, slide or sheet and rows. Scanned PDF pages are read by OCR (offline; seconds per page). Unchanged files are skipped; changed files are replaced; files that vanished from an ingested folder are removed.")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the bundled corpus/)")
    p.add_argument("--rebuild", action="store_true", help="delete the index and build it anew (needed after changing the embedder or chunking)")
    p.add_argument("--redact", action="store_const", const=True, help="replace phone numbers, e-mail addresses, ID-card and bank-card numbers and IP addresses by placeholders before anything is stored")
    p.add_argument("--no-ocr", dest="ocr", action="store_const", const=False, help="do not OCR scanned PDF pages (pages without a text layer); the summary counts the pages skipped")
    _common(p)

    p = sub.add_parser("ask", help="answer one question with citations", description="Answer a question from the indexed documents, citing passages as [n]. If the documents do not hold the answer, says so.")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object (answer, citations, retrieved passages, timings, model)")
    _common(p)

    p = sub.add_parser("chat", help="interactive conversation", description="Ask questions one after another; follow-ups are rewritten into standalone questions before retrieval. Empty line or Ctrl-D quits.")
    _common(p)

    p = sub.add_parser("eval", help="measure retrieval and answer quality on gold questions", description="Run gold questions (JSON lines: id, lang, kind, question, sources, evidence, must_mention) through the real pipeline; print a table and write report.json, report.md and by_kind.png per question file.")
    p.add_argument("--questions", type=Path, action="append", help="a gold file; repeat for several (default: eval/dev.jsonl, eval/questions.jsonl and the conversations of eval/followups.jsonl)")
    p.add_argument("--out", type=Path, default=Path("eval-report"), help="folder for the reports (default ./eval-report)")
    p.add_argument("--limit", type=int, help="only the first N questions of each file (a quick check)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    _common(p)

    p = sub.add_parser("status", help="data folder, documents, models")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("privacy", help="what is stored where, which models, what the egress guard refused", description="The privacy report: the data folder and its size, the models with their sha256 and origin, the egress guard and the attempts it refused (this session and since install), where each kind of data is stored, and how many bytes of prompt a hosted model would have received (none were sent).")
    p.add_argument("--json", action="store_true", help="the same as one JSON object")
    _common(p)

    p = sub.add_parser("forget", help="remove documents and wipe their text from the index files", description="Remove documents (by the source name that `assistant status` lists) from both indexes, compact the vector store so their text is gone from every file under the data folder, and delete any uploaded copy. Your own files are never touched.")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    _common(p)

    p = sub.add_parser("purge", help="remove everything the assistant stored", description="Delete the data folder: index, models assembled there, logs, uploads, caches. Your own documents are never touched.")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--keep-models", action="store_true", help="keep DATA/models (the assembled 1 GB model) so the next start is quick")
    _common(p)

    p = sub.add_parser("ui", help="the web page: chat with sources, document library, settings, privacy", description="Serve the assistant as a web page on this machine (loopback only unless --host says otherwise). Nothing is loaded from outside the machine.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only); any other needs --auth")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login; required with a --host other machines can reach")
    _common(p)
    p = sub.add_parser("serve", help="start the Chroma server, the model server and the web page, for a team", description="Start a Chroma server (`chroma run`, data in DATA/chroma-server), the model server (`python -m llama_cpp.server`) and the web page pointed at both; each listens on loopback unless told otherwise. Ctrl-C or `assistant serve --stop` stops all three. A configured --chroma-url or --llm-url is used instead of starting that server.")
    p.add_argument("--stop", action="store_true", help="stop the stack started from this data folder")
    p.add_argument("--host", default="127.0.0.1", help="address of the web page (default 127.0.0.1); any other needs --auth")
    p.add_argument("--port", type=int, default=7860, help="port of the web page (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require this login on the web page; required with a --host other machines can reach")
    p.add_argument("--chroma-host", default="127.0.0.1", help="address of the Chroma server (default 127.0.0.1; it has no login)")
    p.add_argument("--chroma-port", type=int, default=8000, help="port of the Chroma server (default 8000)")
    p.add_argument("--llm-host", default="127.0.0.1", help="address of the model server (default 127.0.0.1; it has no login)")
    p.add_argument("--llm-port", type=int, default=8080, help="port of the model server (default 8080)")
    _common(p)
    return top


def main(argv: list[str] | None = None) -> int:
    go_offline()
    egress.install()  # before any library that could phone home is imported
    args = parser().parse_args(argv)
    from index.errors import Error

    try:
        from assistant import config
        from assistant.privacy import usage

        settings = config.load({k: v for k, v in vars(args).items()})
        contain(settings.data_dir)
        from assistant.servers import allowed_hosts

        egress.install(allowed=allowed_hosts(settings), log_path=usage.egress_log(settings))  # loopback and the configured servers
        _log_to(settings.logs_dir)
        return COMMANDS[args.command](args, settings)
    except Error as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # e.g. a read-only or full data folder: one line, not a traceback
        where = f" {err.filename}" if err.filename else ""
        print(f"error: cannot write{where}: {err.strerror or err} (the data folder must be writable and have free space; "
              "or choose another with --data-dir)", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _log_to(logs_dir: Path) -> None:
    """Library warnings and our own notes go to DATA/logs/assistant.log. Nothing logged
    there carries document text, questions or answers (that is debug_log's file)."""
    import logging

    logging.raiseExceptions = False  # a full disk must not turn every log line into a printed traceback
    logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = logging.FileHandler(logs_dir / "assistant.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    shout = logging.StreamHandler()  # the guard's refusals are also shown to the user
    shout.setLevel(logging.WARNING)
    logging.getLogger("assistant.privacy.egress").addHandler(shout)


def _assistant(settings, *, progress=True, preload=False):
    from assistant.answer import Assistant

    return Assistant(settings, progress=progress, preload=preload)


def cmd_ingest(args, settings) -> int:
    paths = args.paths or [settings.corpus]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # nothing is touched when a named path is wrong
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.rebuild and settings.chroma_url:  # the server's collection, then this client's side of it
        from assistant.servers import index_root
        from index.store import drop

        from ingest.pipeline import clear_index

        drop(settings.chroma_url)
        if index_root(settings).is_dir():
            clear_index(index_root(settings))  # under the ingest lock, as below
    elif args.rebuild and settings.index_dir.exists():
        from ingest.pipeline import clear_index

        clear_index(settings.index_dir)  # under the ingest lock: never deleted under a running ingest
    a = _assistant(settings)
    report = a.ingest(paths)
    _print_skipped(report)
    print(report.summary())
    print(f"index: {a.index.count()} chunks from {len(a.index.documents())} documents in {settings.chroma_url or settings.index_dir}")
    return 0


def _print_skipped(report) -> None:
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _print_report_if_any(report) -> None:
    if report is not None:
        _print_skipped(report)
        print(f"indexed the corpus: {report.summary()}", file=sys.stderr)


def _print_sources(answer, out) -> None:
    if answer.refused:
        return
    print("\nSources:" if answer.lang != "zh" else "\n来源：", file=out)
    for c in answer.citations:
        snippet = c["snippet"][:60].replace("\n", " ")
        place = c.get("location") or f"chars {c['start']}-{c['end']}"
        print(f"  [{c['n']}] {c['source']} {place} 《{c['title']}》: {snippet}…", file=out)


def cmd_ask(args, settings) -> int:
    if not args.question.strip():
        print("error: the question is empty", file=sys.stderr)
        return 2
    a = _assistant(settings, preload=True)
    a.model_path()  # a bad --model fails now, before any ingest work
    _print_report_if_any(a.ensure_ingested())
    stream = None if args.json else (lambda t: print(t, end="", flush=True))
    answer = a.ask(args.question, on_token=stream)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return 0
    print()
    _print_checked(answer)
    return 0


def _print_checked(answer) -> None:
    """The streamed text is the model's; if checking changed it, show the checked version too."""
    for notice in answer.notices:
        print(f"note: {notice}", file=sys.stderr)
    if answer.text != answer.raw:
        label = "Checked answer:" if answer.lang != "zh" else "核对后的回答："
        print(f"\n{label}\n{answer.text}")
    _print_sources(answer, sys.stdout)


def cmd_chat(args, settings) -> int:
    a = _assistant(settings, preload=True)
    a.model_path()
    _print_report_if_any(a.ensure_ingested())
    history: list[dict] = []
    print("Ask about your documents. Empty line or Ctrl-D to quit.", file=sys.stderr)
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        answer = a.ask(question, history=history, on_token=lambda t: print(t, end="", flush=True))
        print()
        _print_checked(answer)
        if answer.search_query != question:
            print(f"(searched for: {answer.search_query})", file=sys.stderr)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def cmd_eval(args, settings) -> int:
    from assistant.evaluation import suite
    from assistant.config import bundled
    from assistant.evaluation.metrics import load_gold

    files = args.questions or [bundled("eval") / name for name in ("dev.jsonl", "questions.jsonl", "followups.jsonl")]
    gold = {f: load_gold(f)[: args.limit] for f in files}  # a bad file fails before any model loads
    a = _assistant(settings)
    a.model_path()
    _print_report_if_any(a.ensure_ingested())
    everything = {}
    for path, questions in gold.items():
        rows = suite.run(a, questions, k=settings.k)
        out = args.out / path.stem
        meta = {"questions_file": str(path), "model": a.model_info()["path"], "embedder": a.embedder.id, "k": settings.k}
        results = suite.write_reports(rows, out, meta)
        everything[str(path)] = results
        if not args.json:
            print(f"\n{path} ({len(rows)} questions) -> {out}/report.md")
            print(suite.table(results))
            print(suite.curve_table(suite.curve(rows)))
    if args.json:
        print(json.dumps(everything, ensure_ascii=False, indent=2))
    return 0


def cmd_status(args, settings) -> int:
    from importlib.metadata import version

    from assistant.llm.models import DEFAULT_GGUF_NAME, default_embedder_path, describe
    from index.embed import describe_folder

    from assistant.servers import index_root

    status: dict = {"data_dir": str(settings.data_dir), "index_dir": str(index_root(settings))}
    status["servers"] = {"chroma_url": settings.chroma_url, "llm_url": settings.llm_url}
    a = _assistant(settings, progress=False)
    docs = a.index.documents()
    status["documents"] = len(docs)
    status["chunks"] = a.index.count()
    status["sources"] = [{"source": d.source, "title": d.title, "chunks": d.chunks} for d in docs.values()]
    model = settings.model or settings.models_dir / DEFAULT_GGUF_NAME
    if model.exists():
        info = describe(model, settings.models_dir)
        status["model"] = {"path": str(info.path), "bytes": info.size, "sha256": info.sha256}
    else:
        status["model"] = {"path": str(model), "note": "not assembled yet; the first question assembles it"}
    status["embedder"] = describe_folder(settings.embed_model or default_embedder_path())
    status["llama_cpp_python"] = version("llama-cpp-python")
    import llama_cpp  # the C library's build: which CPU features it was compiled for

    from assistant.llm import cpu

    status["llama_cpp_system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    status["llama_cpp_faults"] = cpu.problems(cpu.compiled_features(status["llama_cpp_system_info"]), cpu.cpu_flags())
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0
    print(f"data folder:  {status['data_dir']}")
    where = f" on the Chroma server {settings.chroma_url}" if settings.chroma_url else ""
    print(f"index:        {status['chunks']} chunks from {status['documents']} documents{where}")
    for d in status["sources"]:
        print(f"  {d['source']}  {d['chunks']:>4} chunks  {d['title']}")
    m = status["model"]
    print(f"answer model: {m['path']}" + (f"  {m['bytes'] / 1e6:.0f} MB  sha256 {m['sha256'][:16]}…" if "sha256" in m else f"  ({m['note']})"))
    if settings.llm_url:
        print(f"              run by the model server {settings.llm_url} (this file gives the chat template and tokenizer)")
    e = status["embedder"]
    print(f"embedder:     {e['path']}  {e['bytes'] / 1e6:.0f} MB  ({e['model_type']})")
    print(f"llama.cpp:    llama-cpp-python {status['llama_cpp_python']}; {status['llama_cpp_system_info']}")
    fit = "; ".join(status["llama_cpp_faults"]) or "runs on this CPU"
    print(f"              {fit}" + (f" — rebuild: {cpu.REBUILD}" if status["llama_cpp_faults"] else ""))
    return 0


def cmd_privacy(args, settings) -> int:
    from assistant.privacy.report import format_report, privacy_report

    report = privacy_report(settings)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


def cmd_forget(args, settings) -> int:
    a = _assistant(settings, progress=False)
    known = a.index.documents()
    missing = [s for s in args.sources if s not in known]
    if missing:  # nothing is touched when one name is wrong
        print(f"error: not in the index: {', '.join(missing)} (`assistant status` lists the documents)", file=sys.stderr)
        return 1
    from assistant.privacy.report import describe_wipe
    from ingest.pipeline import last_wipe

    for source in args.sources:
        n = a.forget(source)
        note = a.index.store.files_note  # a Chroma server whose files only its admin can wipe
        wiped = last_wipe(a.index.root) or {}
        print(f"forgot {source}: {n} chunks removed; " + (f"note: {note}" if note else "its text is gone from the index files"))
        print(f"  {describe_wipe(wiped)}")
    return 0


def cmd_purge(args, settings) -> int:
    root = settings.data_dir
    keep = {settings.models_dir} if args.keep_models else set()
    doomed = [p for p in root.iterdir() if p not in keep] if root.is_dir() else []
    if not doomed:
        print(f"nothing to purge in {root}")
        return 0
    size = sum(f.stat().st_size for p in doomed for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: purge deletes everything the assistant stored; confirm with --yes", file=sys.stderr)
            return 2
        reply = input(f"Delete {size / 1e6:.1f} MB in {root} ({', '.join(p.name for p in doomed)})? Type yes: ")
        if reply.strip().lower() != "yes":
            print("nothing deleted")
            return 1
    for p in doomed:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    if not any(root.iterdir()):
        root.rmdir()
    kept = f"; kept {settings.models_dir}" if keep and settings.models_dir.exists() else ""
    print(f"purged {root}: {size / 1e6:.1f} MB removed{kept}. Your own documents were not touched.")
    return 0


def cmd_serve(args, settings) -> int:
    from assistant.serve import stack

    if args.stop:
        return stack.stop(settings)
    return stack.serve(settings, host=args.host, port=args.port, auth=args.auth, chroma_host=args.chroma_host,
                       chroma_port=args.chroma_port, llm_host=args.llm_host, llm_port=args.llm_port)


def cmd_ui(args, settings) -> int:
    from assistant.web import ui  # imports Gradio: only now, after contain() pointed its temp folder into the data folder

    return ui.serve(settings, host=args.host, port=args.port, auth=args.auth)


COMMANDS = {
    "ingest": cmd_ingest, "ask": cmd_ask, "chat": cmd_chat, "eval": cmd_eval, "status": cmd_status,
    "privacy": cmd_privacy, "forget": cmd_forget, "purge": cmd_purge, "ui": cmd_ui, "serve": cmd_serve,
}


if __name__ == "__main__":
    sys.exit(main())
