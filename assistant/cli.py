"""`assistant` command line: ingest, ask, chat, eval, status, privacy, forget, purge, kb, ui, api, api-key, serve.
A thin adapter over answer.Assistant.

Exit codes: 0 success (a refused answer is a success), 1 error, 2 bad usage or
settings, 3 index built by another embedder or chunker, 4 store unreadable,
5 model missing or unusable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.privacy import egress
from assistant.privacy.offline import contain, go_offline

EPILOG = """\
examples:
  assistant ask "开源大模型有哪些优势？"          ask the bundled corpus (ingested on first use)
  assistant ask --json "What is LLaMA's licence limit?"   one JSON object, for scripts
  assistant ingest ~/notes                       add a folder (txt, md, html); re-runs are incremental
  assistant ask --source report.pdf "…"          answer from one document (--under FOLDER: from a folder)
  assistant kb create team; assistant ingest --kb team ~/team-docs   a separate knowledge base
  assistant chat                                 a conversation; follow-up questions work
  assistant status                               what is indexed, which models, where data lives
  assistant ui                                   the web page, at http://127.0.0.1:7860
  assistant api-key create --kb default; assistant api   the OpenAI-compatible API, at http://127.0.0.1:8765/v1
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


def _data_dir(g) -> None:
    g.add_argument("--data-dir", type=Path, help="where the index, models and logs live (default ~/.local/share/private-assistant)")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings")
    _data_dir(g)
    g.add_argument("--kb", metavar="NAME", help="the knowledge base to use (default: default; `assistant kb list` shows them)")
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
    _documents(sub)
    _questions(sub)
    _data(sub)
    _kbs(sub)
    _pages(sub)
    return top


def _documents(sub) -> None:
    p = sub.add_parser("ingest", help="add documents to the index (incremental)", description="Read .txt, .md, .html, .pdf, .docx, .pptx, .xlsx, .csv and .epub files, clean and chunk them, and index them; each passage keeps its page, slide or sheet and rows. Scanned PDF pages are read by OCR (offline; seconds per page). Unchanged files are skipped; changed files are replaced; files that vanished from an ingested folder are removed.")
    p.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the bundled corpus/)")
    p.add_argument("--rebuild", action="store_true", help="delete the index and build it anew (needed after changing the embedder or chunking)")
    p.add_argument("--redact", action="store_const", const=True, help="replace phone numbers, e-mail addresses, ID-card and bank-card numbers and IP addresses by placeholders before anything is stored")
    p.add_argument("--no-ocr", dest="ocr", action="store_const", const=False, help="do not OCR scanned PDF pages (pages without a text layer); the summary counts the pages skipped")
    _common(p)


FOCUS_HELP = ("give the model the whole best passage and, of the others, only the sentences that bear on the "
              "question: the first word comes sooner (about 0.6-0.75x the wait), at some cost in accuracy (see README)")


def _questions(sub) -> None:
    p = sub.add_parser("ask", help="answer one question with citations", description="Answer a question from the indexed documents, citing passages as [n]. If the documents do not hold the answer, says so.")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print one JSON object (answer, citations, retrieved passages, timings, model)")
    p.add_argument("--focus", action="store_const", const=True, help=FOCUS_HELP)
    _scope(p)
    _common(p)

    p = sub.add_parser("chat", help="interactive conversation", description="Ask questions one after another; follow-ups are rewritten into standalone questions before retrieval. Empty line or Ctrl-D quits.")
    p.add_argument("--focus", action="store_const", const=True, help=FOCUS_HELP)
    _scope(p)
    _common(p)

    p = sub.add_parser("eval", help="measure retrieval and answer quality on gold questions", description="Run gold questions (JSON lines: id, lang, kind, question, sources, evidence, must_mention) through the real pipeline; print a table and write report.json, report.md and by_kind.png per question file.")
    p.add_argument("--questions", type=Path, action="append", help="a gold file; repeat for several (default: eval/dev.jsonl, eval/questions.jsonl and the conversations of eval/followups.jsonl)")
    p.add_argument("--out", type=Path, default=Path("eval-report"), help="folder for the reports (default ./eval-report)")
    p.add_argument("--limit", type=int, help="only the first N questions of each file (a quick check)")
    p.add_argument("--focus", action="store_const", const=True, help="answer with focused passages (the `focus` setting), to measure what it costs")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    _common(p)


def _scope(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scope (both may be repeated; default: every document of the knowledge base)")
    g.add_argument("--source", action="append", default=[], metavar="FILE",
                   help="answer from this document only: its name as `assistant status` lists it, or the path it was ingested from")
    g.add_argument("--under", action="append", default=[], metavar="FOLDER",
                   help="answer from the documents in this folder only (a folder of the source names, or on disk)")


def _data(sub) -> None:
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


def _kbs(sub) -> None:
    p = sub.add_parser("kb", help="knowledge bases: create, list, delete", description="Keep documents in separate knowledge bases, each with its own index; `--kb NAME` on ingest, ask, chat, eval, status and forget picks one. The default one is where an existing index already lives.")
    kb = p.add_subparsers(dest="kb_command", required=True, metavar="ACTION")
    q = kb.add_parser("create", help="make an empty knowledge base", description="Make an empty knowledge base; fill it with: assistant ingest --kb NAME PATH")
    q.add_argument("name", metavar="NAME", help="lower-case letters, digits, - and _ (at most 40)")
    _common(q)
    q = kb.add_parser("list", help="the knowledge bases, with their documents and chunks")
    q.add_argument("--json", action="store_true")
    _common(q)
    q = kb.add_parser("delete", help="delete a knowledge base and wipe its text", description="Delete a knowledge base: its chunks are removed and their text wiped from the index files (as `forget` does), then its folder is deleted. Uploaded copies go with it; your own files are never touched.")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(q)


def _pages(sub) -> None:
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
    _api_address(p)
    _common(p)
    p = sub.add_parser("api", help="the OpenAI-compatible API: answers, knowledge bases, uploads", description=API_DESCRIPTION,
                       epilog=API_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _api_address(p)
    _common(p)
    _api_keys(sub)


API_DESCRIPTION = ("Serve the assistant to other programs: POST /v1/chat/completions (the OpenAI chat format; `model` names "
                   "a knowledge base; checked citations in the extra field x_assistant), GET /v1/models, and "
                   "GET/POST/DELETE /v1/kb/NAME/documents. Every request needs an API key (assistant api-key create).")
API_EPILOG = """example (the official openai client):
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8765/v1", api_key="pa-...")
  r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "开源大模型有哪些优势？"}])
  print(r.choices[0].message.content, r.x_assistant["citations"])
"""


def _api_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-host", default="127.0.0.1", help="address of the API (default 127.0.0.1); any other needs API keys")
    p.add_argument("--api-port", type=int, default=8765, help="port of the API (default 8765)")


def _api_keys(sub) -> None:
    p = sub.add_parser("api-key", help="API keys: create, list, revoke", description="Keys for the API and, once any exist, the logins of the web page (the key's name and the key). A key reaches only the knowledge bases it was made for; it is shown once and stored hashed.")
    keys = p.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    q = keys.add_parser("create", help="make a key and print it (once)")
    q.add_argument("--kb", dest="reach", action="append", required=True, metavar="NAME", help="a knowledge base the key reaches; repeat for several")
    q.add_argument("--read-only", action="store_true", help="the key may ask and list, not upload or delete")
    q.add_argument("--name", help="the key's name, also its login on the web page (default key-N)")
    _data_dir(q.add_argument_group("settings"))
    q = keys.add_parser("list", help="the keys' names, knowledge bases and dates (never the keys)")
    q.add_argument("--json", action="store_true")
    _data_dir(q.add_argument_group("settings"))
    q = keys.add_parser("revoke", help="delete a key: requests with it are refused from now on")
    q.add_argument("name", metavar="NAME")
    _data_dir(q.add_argument_group("settings"))


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
        from assistant.commands import COMMANDS

        if args.command not in ("kb", "purge", "privacy", "api", "api-key"):
            from assistant import kb

            kb.require(settings)  # a mistyped --kb is an error, not a new empty index

        return COMMANDS[args.command](args, settings)
    except Error as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except egress.EgressRefused as err:  # a ConnectionRefusedError, so before OSError: not a disk problem
        print(f"error: {err}", file=sys.stderr)
        return 1
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
    shout = logging.StreamHandler()  # the guard's refusals and index repairs are also shown to the user
    shout.setLevel(logging.WARNING)
    logging.getLogger("assistant.privacy.egress").addHandler(shout)
    logging.getLogger("index.search").addHandler(shout)


if __name__ == "__main__":
    sys.exit(main())
