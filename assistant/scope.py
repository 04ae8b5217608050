"""A question's scope: the documents `ask --source FILE` and `--under FOLDER` (or the page's
document filter, or the API) restrict retrieval to, on both the dense and the lexical side.

A document is named by its source name, as `assistant status` lists it
("reports/2024/q1.pdf"), or by the path it was ingested from. A name or folder that
matches no indexed document is an error: a silent empty scope would read as
"the documents do not say".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from index.errors import Error
from ingest.manifest import record_path


class ScopeError(Error):
    exit_code = 2


def _under(folder: str, source: str, path: str | None) -> bool:
    name = folder.replace("\\", "/").strip("/")
    if name and (source == name or source.startswith(name + "/")):
        return True
    if path and os.path.isdir(folder):
        real = os.path.realpath(folder)
        return path.startswith(real.rstrip(os.sep) + os.sep)
    return False


def _is(file: str, source: str, path: str | None) -> bool:
    if source == file.replace("\\", "/"):
        return True
    return bool(path) and Path(file).exists() and path == record_path(Path(file).absolute())


def resolve(documents: Iterable[str], paths: dict[str, str], *, sources: Iterable[str] = (), under: Iterable[str] = ()) -> frozenset[str] | None:
    """The source names in scope, or None (no restriction) when neither was given.

    ``documents``: the indexed source names; ``paths``: where each was ingested from
    (the manifest's record). Every --source and every --under must match something.
    """
    sources, under = list(sources), list(under)
    if not sources and not under:
        return None
    documents = list(documents)
    chosen: set[str] = set()
    unmatched: list[str] = []
    for given, test, flag in [*((s, _is, "--source") for s in sources), *((u, _under, "--under") for u in under)]:
        hit = {d for d in documents if test(given, d, paths.get(d))}
        if not hit:
            unmatched.append(f"{flag} {given}")
        chosen |= hit
    if unmatched:
        raise ScopeError(f"no indexed document matches {', '.join(unmatched)} (`assistant status` lists the documents)")
    return frozenset(chosen)
