"""The per-question usage ledger and the debug log, written as questions are answered.

The ledger (DATA/logs/usage.jsonl) holds numbers only, never text: when, which
session, how many bytes of prompt a cloud model would have needed, bytes sent (0).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from assistant import servers
from assistant.config import Settings
from assistant.privacy import egress
from index.files import append_line

SESSION = f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"  # this process
USAGE_LOG = "usage.jsonl"
EGRESS_LOG = "egress.jsonl"
API_REFUSED_LOG = "api_refused.jsonl"  # requests the API refused: status and a reason code, no text


def egress_log(settings: Settings) -> Path:
    return settings.logs_dir / EGRESS_LOG


def refused_count() -> int:
    """Connections the egress guard has refused so far in this process."""
    guard = egress.current()
    return guard.count if guard else 0


def account(settings: Settings, answer, refused_before: int) -> dict:
    """One answer's privacy figures, recorded in the ledger (and the debug log when asked for).

    What a hosted model would have had to receive: every prompt built for this answer
    (rewrite or translation included); what left the machine: nothing, unless the model
    runs on a server elsewhere (llm_url): then those prompts."""
    made = answer.privacy
    privacy = {
        "would_upload_bytes": made.get("prompt_bytes", 0) or len(answer.question.encode("utf-8")),
        "document_bytes": made.get("document_bytes", 0),
        "sent_bytes": made.get("prompt_bytes", 0) if servers.off_machine(settings.llm_url) else 0,
        "refused_attempts": refused_count() - refused_before,
    }
    record_question(settings, privacy)
    debug_record(settings, answer)
    return privacy


def record_question(settings: Settings, privacy: dict) -> None:
    """Append one question's byte counts (no text) to the usage ledger."""
    line = {"time": round(time.time(), 3), "session": SESSION, **{k: privacy[k] for k in ("would_upload_bytes", "sent_bytes")}}
    append_line(settings.logs_dir / USAGE_LOG, json.dumps(line))


def debug_record(settings: Settings, answer) -> None:
    """Only with debug_log on (the user asked for it): the question, answer and sources, as text."""
    if not settings.debug_log:
        return
    line = {"time": round(time.time(), 3), "question": answer.question, "answer": answer.text,
            "sources": [c["source"] for c in answer.citations], "timings": answer.timings}
    append_line(settings.logs_dir / "debug.jsonl", json.dumps(line, ensure_ascii=False))


def record_refused_request(settings: Settings, status: int, reason: str) -> None:
    """One refused API request (a wrong key, a body too large...): its HTTP status and reason code only."""
    line = {"time": round(time.time(), 3), "session": SESSION, "status": status, "reason": reason}
    append_line(settings.logs_dir / API_REFUSED_LOG, json.dumps(line))


def refused_requests(settings: Settings) -> dict:
    """API requests refused in this process and since install, and since install by HTTP status."""
    rows = _rows(settings.logs_dir / API_REFUSED_LOG)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[str(r.get("status"))] = by_status.get(str(r.get("status")), 0) + 1
    return {"session": sum(r.get("session") == SESSION for r in rows), "since_install": len(rows),
            "by_status": dict(sorted(by_status.items()))}


def _rows(path: Path) -> list[dict]:
    rows = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash costs that line only
    except FileNotFoundError:
        pass
    return rows


def usage_totals(settings: Settings) -> tuple[dict, dict]:
    """(this or the latest session's totals, totals since install) from the ledger."""
    rows = _rows(settings.logs_dir / USAGE_LOG)
    sessions = [r.get("session") for r in rows]
    latest = SESSION if SESSION in sessions else (sessions[-1] if sessions else SESSION)

    def total(rs: list[dict]) -> dict:
        return {
            "questions": len(rs),
            "would_upload_bytes": sum(int(r.get("would_upload_bytes", 0)) for r in rs),
            "sent_bytes": sum(int(r.get("sent_bytes", 0)) for r in rs),
        }

    return {"id": latest, **total([r for r in rows if r.get("session") == latest])}, total(rows)


