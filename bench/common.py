"""What every benchmark needs: the project on the path, offline mode, a data folder
with the corpus indexed and the default model assembled, and a way to print and save a table."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.privacy.offline import go_offline  # noqa: E402

go_offline()

from assistant.evaluation.metrics import percentile  # noqa: E402

DEFAULT_DATA = ROOT / "bench-data"  # gitignored; reused between runs


def assistant(data_dir: Path, **settings):
    """An Assistant over ``data_dir`` with the corpus indexed (built on first use)."""
    from assistant import Assistant, Settings

    a = Assistant(Settings.load({"data_dir": data_dir, **settings}), progress=True)
    a.model_path()
    a.ensure_ingested()
    return a


def dev_questions(limit: int | None = None) -> list:
    from assistant.evaluation.metrics import load_gold

    return load_gold(ROOT / "eval" / "dev.jsonl")[:limit]


def median(xs) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def p90(xs) -> float:
    xs = list(xs)
    return percentile(xs, 90) if xs else float("nan")  # nearest rank, as `assistant eval` reports it


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table; floats with one decimal."""
    def cell(v):
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    widths = [max(len(c), *(len(cell(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(cell(r.get(c, "")).rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def save(path: Path | None, payload: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=1))
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":  # prepare a data folder from another process: python bench/common.py DIR
    assistant(Path(sys.argv[1]))
