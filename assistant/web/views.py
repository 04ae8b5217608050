"""HTML fragments of the web page: answers with their citations, sources, library, privacy.

Everything that came from a document, the model or the user is escaped here. Text
goes out as one HTML block without blank lines, so the chat's Markdown renderer
leaves it alone: a document that talks the model into writing ``![](http://…)``
gets text on the page, not an image fetched from elsewhere.
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape

from assistant import cite
from assistant.result import Answer
from assistant.web.library import Row
from assistant.web.text import TEXT
from ingest.chunk import split_sentences
from ingest.location import label

CSS = """
.refused { border-left: 4px solid var(--color-accent); padding-left: .6em; }
.cites { margin-top: .6em; }
.cite img.page { display: block; max-width: 100%; border: 1px solid var(--border-color-primary); margin-top: .4em; }
.cite summary { cursor: pointer; font-size: .92em; }
.cite .passage, .sources .passage { white-space: pre-wrap; font-size: .92em; margin: .3em 0 .6em; }
.cite mark { padding: 0 .1em; }
.preview { color: var(--body-text-color-subdued); border-left: 3px solid var(--border-color-primary); padding-left: .6em; margin-bottom: .6em; }
.preview .label { font-size: .82em; }
.meta, .notices { color: var(--body-text-color-subdued); font-size: .82em; margin-top: .5em; }
.sources ol { padding-left: 1.4em; }
.sources li { margin-bottom: .8em; }
.library table, .privacy table { width: 100%; border-collapse: collapse; font-size: .92em; }
.library th, .library td, .privacy th, .privacy td { text-align: left; padding: .3em .5em; border-bottom: 1px solid var(--border-color-primary); vertical-align: top; }
.library td.num { text-align: right; }
.library, .privacy, .sources { overflow-x: auto; }
.library code, .privacy code, .cite code, .sources code { word-break: break-all; }
"""


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}"


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def plain(text: str) -> str:
    """Text as one escaped HTML block: line breaks kept, never read as Markdown or HTML."""
    return '<div class="plain">' + escape(text.strip()).replace("\n", "<br>") + "</div>"


def streaming(preview: str, streamed: str, lang: str) -> str:
    """The answer while it is written: quotes from the documents first (assistant.preview), then the model's text."""
    quotes = ""
    if preview:
        quotes = f'<div class="preview"><div class="label">{escape(TEXT[lang]["preview"])}</div>{plain(preview)}</div>'
    return quotes + (plain(streamed) if streamed.strip() else "")


def error(message: str, lang: str) -> str:
    return f'<div class="error">{escape(TEXT[lang]["error"])}: {escape(message)}</div>'


def supporting_span(claims: list[str], passage: str) -> tuple[int, int] | None:
    """The passage sentence that best supports any of the answer's sentences citing it.

    None when no sentence shares a content unit (an English answer to Chinese
    passages, say): highlighting an arbitrary sentence would mislead.
    """
    best, span = 0.0, None
    for start, end in split_sentences(passage):
        for claim in claims:
            score = cite.support(claim, passage[start:end])
            if score > best:
                best, span = score, (start, end)
    if span is None:
        return None
    start, end = span
    while end > start and passage[end - 1].isspace():
        end -= 1
    return start, end


def _highlighted(passage: str, span: tuple[int, int] | None) -> str:
    if span is None:
        return escape(passage)
    s, e = span
    return f"{escape(passage[:s])}<mark>{escape(passage[s:e])}</mark>{escape(passage[e:])}"


def _rank(answer: Answer, passage) -> int:
    ids = [h.chunk.id for h in answer.hits]
    return min((ids.index(h.chunk.id) + 1 for h in passage.hits if h.chunk.id in ids), default=0)


def citations(answer: Answer, lang: str, page_image=None) -> str:
    t = TEXT[lang]
    sentences = cite.cited_sentences(answer.text)
    items = []
    for c in answer.citations:
        passage = answer.passages[c["n"] - 1]
        claims = [s for s, cited in sentences if c["n"] in cited]
        rank = _rank(answer, passage)
        title = f"《{escape(c['title'])}》 · " if c["title"] else ""
        head = (
            f"[{c['n']}] {title}{t['cited_file']} <code>{escape(c['source'])}</code>"
            + (f' · <span class="where">{escape(c["location"])}</span>' if c.get("location") else "")
            + f" · {t['score']} {passage.score:.3f}" + (f" ({t['rank']} {rank})" if rank else "")
        )
        body = _highlighted(passage.text, supporting_span(claims, passage.text))
        image = page_image(c, passage) if page_image and c.get("page") else None
        if image:  # the original page, rendered on this machine, the passage marked
            body += f'<img class="page" alt="{escape(c["location"])}" src="data:image/jpeg;base64,{base64.b64encode(image).decode()}">'
        items.append(f'<details class="cite"><summary>{head}</summary><div class="passage">{body}</div></details>')
    return '<div class="cites">' + "".join(items) + "</div>"


def _meta(answer: Answer, lang: str) -> str:
    t = TEXT[lang]
    timings, privacy = answer.timings, answer.privacy
    parts = []
    if "ttft_ms" in timings:
        parts.append(f"{t['first_token']} {timings['ttft_ms'] / 1000:.1f} s")
    parts.append(f"{t['total']} {timings['total_ms'] / 1000:.1f} s")
    parts.append(f"{t['sent']} {_size(privacy['sent_bytes'])}")
    parts.append(f"{t['would_upload']} {_size(privacy['would_upload_bytes'])}")
    if answer.search_query and answer.search_query != answer.question:
        parts.append(f"{t['searched_for']}: {escape(answer.search_query)}")
    meta = '<div class="meta">' + " · ".join(parts) + "</div>"
    if answer.notices:
        meta += f'<div class="notices">{t["notices"]}: {escape("; ".join(answer.notices))}</div>'
    return meta


def answer(answer: Answer, lang: str, page_image=None) -> str:
    """A finished answer: checked text, [n] citations that open their passage (and, for a
    PDF, ``page_image(citation, passage)``'s picture of the page), timings."""
    if answer.refused:
        body = f'<div class="refused"><strong>{TEXT[lang]["refused"]}</strong><br>{escape(answer.text)}</div>'
    else:
        body = plain(answer.text) + citations(answer, lang, page_image)
    return body + _meta(answer, lang)


def sources(answer: Answer | None, lang: str) -> str:
    t = TEXT[lang]
    if answer is None or not answer.hits:
        return f'<div class="sources"><h3>{t["sources"]}</h3><p>{t["sources_empty"]}</p></div>'
    items = "".join(
        f"<li><div>{t['score']} {h.score:.3f} · 《{escape(h.chunk.title)}》 <code>{escape(h.chunk.source)}</code>"
        + (f' · <span class="where">{escape(label(h.chunk.location))}</span>' if h.chunk.location else "") + "</div>"
        f'<div class="passage">{escape(h.chunk.text)}</div></li>'
        for h in answer.hits
    )
    return f'<div class="sources"><h3>{t["sources"]}</h3><ol>{items}</ol></div>'


def library(rows: list[Row], lang: str) -> str:
    t = TEXT[lang]
    if not rows:
        return f'<div class="library"><p>{t["library_empty"]}</p></div>'
    head = "".join(f"<th>{t[k]}</th>" for k in ("col_title", "col_file", "col_chunks", "col_chars", "col_ingested"))
    body = "".join(
        f"<tr><td>{escape(r.title)}</td><td><code>{escape(r.source)}</code></td>"
        f'<td class="num">{r.chunks}</td><td class="num">{r.chars}</td><td>{_local_time(r.ingested)}</td></tr>'
        for r in rows
    )
    count = t["library_count"].format(docs=len(rows), chunks=sum(r.chunks for r in rows))
    return f'<div class="library"><p>{count}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def results(lines: list[tuple[str, str]]) -> str:
    """Per-file outcomes of an upload or re-ingest: (file, what happened)."""
    items = "".join(f"<li><code>{escape(name)}</code>: {escape(what)}</li>" for name, what in lines)
    return f'<div class="results"><ul>{items}</ul></div>'


def privacy(report: dict, lang: str) -> str:
    t = TEXT[lang]
    guard, session = report["guard"], report["session"]
    rows = [
        (t["guard"], t["guard_on"] if guard["on"] else t["guard_off"]),
        (t["refused_session"], str(guard["refused_session"])),
        (t["refused_total"], str(guard["refused_since_install"])),
        (t["questions"], str(session["questions"])),
        (t["would_upload_total"], _size(session["would_upload_bytes"])),
        (t["sent_total"], _size(session["sent_bytes"])),
        (t["data_dir"], f"<code>{escape(report['data_dir'])}</code>"),
        (t["data_bytes"], _size(report["data_bytes"])),
    ]
    rows += [
        (f"{t['stores']}: {escape(kind)}", f"<code>{escape(store['path'])}</code> · {_size(store['bytes'])}")
        for kind, store in report["stores"].items()
    ]
    rows += [
        (f"{t['models']}: {escape(m['role'])}",
         f"<code>{escape(m['path'])}</code> · {_size(m['bytes'])} · sha256 <code>{escape((m['sha256'] or '—')[:16])}</code> · {escape(m['origin'])}")
        for m in report["models"]
    ]
    rows += [  # the configured servers, the only hosts besides loopback the guard lets through
        (escape(srv["role"]), f"<code>{escape(srv['url'])}</code> · {escape(srv['scope'])}"
         + (f' · <strong>{escape(srv["warning"])}</strong>' if srv["warning"] else ""))
        for srv in report.get("servers", [])
    ]
    rows += [(f"{t['commands']}: {escape(name)}", f"<code>{escape(cmd)}</code>") for name, cmd in report["commands"].items()]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    stamp = datetime.now().strftime("%H:%M:%S")
    return f'<div class="privacy"><table>{body}</table><p class="meta">{t["updated"]} {stamp}</p></div>'
