"""Wipe deleted text out of Chroma's SQLite file. Run as its own process, standard library only:
``python -I sqlite_wipe.py DB < ids.json``; prints what it did as one JSON line. The ids
(of the deleted chunks, a JSON list) are optional: with none, nothing is checked in the log.
The administrator of a Chroma server runs it on the server's file, even while it serves:
``python3 -I sqlite_wipe.py PATH/chroma.sqlite3 < /dev/null``.

Why a process of its own: Chroma's Rust core links its own copy of SQLite and keeps
the file open. Two copies of SQLite in one process break each other's POSIX locks
(closing one's file descriptor drops the other's locks: sqlite.org/howtocorrupt.html,
2.2.1); between processes SQLite's locking is sound, so Chroma (in this process or in
a `chroma run` server) simply waits while this one holds the file.

What stays after Chroma deletes a document, found by scanning every byte of the file:
- its trigrams in the full-text index (embedding_fulltext_search): FTS5 only marks
  rows deleted until its segments are merged, so 'optimize' merges them into one;
- its text in the cells and pages Chroma's deletes freed (metadata rows, the log of
  writes, the full-text content table): VACUUM rewrites the file from its live rows;
- old pages in a write-ahead log, if the file is in WAL mode: checkpoint(TRUNCATE).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

FTS = "embedding_fulltext_search"
DELETE = 3  # Chroma's operation code for a delete in its log (embeddings_queue)


def _log_records(con: sqlite3.Connection, ids: list[str]) -> int:
    """Records of ``ids`` other than deletes still in Chroma's log (they hold the text)."""
    left = 0
    for i in range(0, len(ids), 500):  # SQLite caps the number of parameters
        part = ids[i : i + 500]
        q = f"SELECT count(*) FROM embeddings_queue WHERE operation != ? AND id IN ({','.join('?' * len(part))})"
        left += con.execute(q, [DELETE, *part]).fetchone()[0]
    return left


def wipe(db: str, ids: list[str]) -> dict:
    if not os.path.isfile(db):  # connect() would make an empty database there
        return {"ok": False, "error": f"no such database file: {db}"}
    seconds = {}
    con = sqlite3.connect(db, timeout=600, isolation_level=None)  # autocommit: VACUUM needs no open transaction
    try:
        con.execute("PRAGMA busy_timeout = 600000")
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        left = _log_records(con, ids)
        if left:  # the text is in live rows: compacting would keep it
            return {"ok": False, "log_records": left, "error": f"{left} deleted chunks are still in the vector store's log"}
        fts = con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (FTS,)).fetchone()[0] > 0
        t = time.perf_counter()
        if fts:
            con.execute(f"INSERT INTO {FTS}({FTS}) VALUES('optimize')")
        seconds["fts_optimize"] = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("VACUUM")
        seconds["vacuum"] = time.perf_counter() - t
        busy = 0
        if mode == "wal":
            busy = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()
    wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
    return {
        "ok": not free and not wal and not busy,
        "journal_mode": mode,
        "log_records": 0,
        "fts_optimized": fts,
        "free_pages": free,
        "wal_bytes": wal,
        "db_bytes": os.path.getsize(db),
        "step_seconds": {k: round(v, 3) for k, v in seconds.items()},
        **({"error": "the write-ahead log could not be emptied: another process was reading"} if busy else {}),
    }


def main() -> int:
    try:
        raw = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        report = wipe(sys.argv[1], json.loads(raw) if raw.strip() else [])
    except (sqlite3.Error, ValueError) as err:
        report = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
