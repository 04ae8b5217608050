"""What each `assistant` command does, once cli.py has read the flags and the settings."""

from __future__ import annotations

import json
import shutil
import sys

from assistant.answer import Assistant
from assistant.config import DEFAULT_KB
from assistant.preview import LABEL as PREVIEW_LABEL
from assistant.terminal import LiveAnswer


def _assistant(settings, *, progress=True, preload=False) -> Assistant:
    return Assistant(settings, progress=progress, preload=preload)


def cmd_ingest(args, settings) -> int:
    paths = args.paths or [settings.corpus]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # nothing is touched when a named path is wrong
        print(f"error: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.rebuild and settings.chroma_url:  # the server's collection, then this client's side of it
        from assistant.servers import collection, index_root
        from index.store import drop

        from ingest.lock import clear_index

        drop(settings.chroma_url, collection(settings))
        if index_root(settings).is_dir():
            clear_index(index_root(settings))  # under the ingest lock, as below
    elif args.rebuild and settings.index_dir.exists():
        from ingest.lock import clear_index

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
    a, sources = _ready(settings, args)
    if args.json:
        print(json.dumps(a.ask(args.question, sources=sources).to_json(), ensure_ascii=False, indent=2))
        return 0
    live = LiveAnswer()
    _print_checked(a.ask(args.question, on_token=live.token, on_preview=_previewer(live), sources=sources), live)
    return 0


def _ready(settings, args):
    """The Assistant, its model loading in the background, and the question's scope.

    What can be refused at once (a bad --model, an empty knowledge base, a scope that
    matches nothing) is, before the model loads: llama.cpp silences stderr while it loads."""
    a = _assistant(settings)
    a.model_path()  # a bad --model fails now, before any ingest work
    filled = a.index.count() or settings.kb != DEFAULT_KB  # else the bundled corpus is ingested first
    if filled:
        a.ensure_ingested()
        scope = a.scope(sources=args.source, under=args.under)
    a.models.preload()  # while the bundled corpus is ingested on first use
    _print_report_if_any(a.ensure_ingested())
    return a, scope if filled else a.scope(sources=args.source, under=args.under)


def _previewer(live: LiveAnswer):
    """Quotes from the documents while the model reads (shown on a terminal only, where they can be erased)."""
    return lambda text, lang: live.preview(text, PREVIEW_LABEL[lang])


def _print_checked(answer, live: LiveAnswer) -> None:
    """The checked answer, in place of the streamed one, then its notes and sources."""
    live.finish(answer.text, "Checked answer:" if answer.lang != "zh" else "核对后的回答：")
    for notice in answer.notices:
        print(f"note: {notice}", file=sys.stderr)
    _print_sources(answer, sys.stdout)


def cmd_chat(args, settings) -> int:
    a, sources = _ready(settings, args)
    history: list[dict] = []
    print("Ask about your documents. Empty line or Ctrl-D to quit.", file=sys.stderr)
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        live = LiveAnswer()
        answer = a.ask(question, history=history, on_token=live.token, on_preview=_previewer(live), sources=sources)
        _print_checked(answer, live)
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
            print(suite.curve_table(suite.refusal_curve(rows)))
    if args.json:
        print(json.dumps(everything, ensure_ascii=False, indent=2))
    return 0


def cmd_status(args, settings) -> int:
    from importlib.metadata import version

    from assistant.llm.models import DEFAULT_GGUF_NAME, default_embedder_path, describe
    from index.embed import describe_folder

    from assistant.servers import index_root

    status: dict = {"data_dir": str(settings.data_dir), "kb": settings.kb, "index_dir": str(index_root(settings))}
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
    from assistant.llm import cpu
    from assistant.llm.llama import system_info

    status["llama_cpp_system_info"] = system_info()  # the C library's build: which CPU features it was compiled for
    status["llama_cpp_faults"] = cpu.problems(cpu.compiled_features(status["llama_cpp_system_info"]), cpu.cpu_flags())
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0
    print(f"data folder:  {status['data_dir']}")
    where = f" on the Chroma server {settings.chroma_url}" if settings.chroma_url else ""
    print(f"index:        {status['chunks']} chunks from {status['documents']} documents{where} (knowledge base {settings.kb})")
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
    from ingest.wipe import last_wipe

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


def cmd_kb(args, settings) -> int:
    from assistant import kb

    if args.kb_command == "create":
        made = kb.create(settings, args.name)
        print(f"created the knowledge base {args.name} in {made.kb_dir}; add documents with: assistant ingest --kb {args.name} PATH")
        return 0
    if args.kb_command == "list":
        rows = [kb.info(settings, name) for name in kb.names(settings)]
        if args.json:
            print(json.dumps([vars(r) for r in rows], ensure_ascii=False, indent=2))
            return 0
        for r in rows:
            mark = "*" if r.name == settings.kb else " "
            print(f"{mark} {r.name:<20} {r.documents:>5} documents {r.chunks:>7} chunks" + (f"  created {r.created}" if r.created else ""))
        return 0
    kb.require(kb.of(settings, args.name))
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"error: kb delete removes every document of {args.name}; confirm with --yes", file=sys.stderr)
            return 2
        if input(f"Delete the knowledge base {args.name} and wipe its text? Type yes: ").strip().lower() != "yes":
            print("nothing deleted")
            return 1
    record = kb.delete(settings, args.name)
    from assistant.privacy.report import describe_wipe

    print(f"deleted the knowledge base {args.name}: {record['chunks']} chunks removed and their text wiped")
    print(f"  {describe_wipe(record)}")
    return 0


def cmd_serve(args, settings) -> int:
    from assistant.serve import stack

    if args.stop:
        return stack.stop(settings)
    return stack.serve(settings, host=args.host, port=args.port, auth=args.auth, chroma_host=args.chroma_host,
                       chroma_port=args.chroma_port, llm_host=args.llm_host, llm_port=args.llm_port,
                       api_host=args.api_host, api_port=args.api_port)


def cmd_api(args, settings) -> int:
    from assistant.api import server

    return server.serve(settings, host=args.api_host, port=args.api_port)


def cmd_api_key(args, settings) -> int:
    from assistant import kb, keys

    if args.key_command == "create":
        for name in args.reach:
            kb.require(kb.of(settings, name))
        key, secret = keys.create(settings, args.reach, name=args.name, read_only=args.read_only)
        print(secret)
        print(f"the key {key.name} ({'read-only, ' if key.read_only else ''}reaches {', '.join(key.kbs)}): shown this once, "
              "stored hashed; give it as Authorization: Bearer KEY, or log in to the page with its name and the key",
              file=sys.stderr)
        return 0
    if args.key_command == "list":
        found = keys.load(settings)
        if args.json:
            print(json.dumps([{"name": k.name, "kbs": list(k.kbs), "read_only": k.read_only, "created": k.created} for k in found], indent=2))
            return 0
        if not found:
            print("no API keys; make one with: assistant api-key create --kb NAME", file=sys.stderr)
        for k in found:
            print(f"{k.name:<20} {'read-only ' if k.read_only else 'read-write'}  {', '.join(k.kbs) or '(none)':<30} created {k.created}")
        return 0
    if not keys.revoke(settings, args.name):
        print(f"error: no API key named {args.name!r} (assistant api-key list shows them)", file=sys.stderr)
        return 2
    print(f"revoked the key {args.name}: requests with it are refused from now on")
    return 0


def cmd_ui(args, settings) -> int:
    from assistant.web import ui  # imports Gradio: only now, after contain() pointed its temp folder into the data folder

    return ui.serve(settings, host=args.host, port=args.port, auth=args.auth)


COMMANDS = {
    "ingest": cmd_ingest, "ask": cmd_ask, "chat": cmd_chat, "eval": cmd_eval, "status": cmd_status,
    "privacy": cmd_privacy, "forget": cmd_forget, "purge": cmd_purge, "kb": cmd_kb, "ui": cmd_ui, "serve": cmd_serve,
    "api": cmd_api, "api-key": cmd_api_key,
}
