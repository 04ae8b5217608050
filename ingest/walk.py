"""The paths given to ingest -> the files to read, each with its source name, and what was skipped.

Folders are walked in name order, hidden entries left out; symbolic links are
followed only to targets inside the folder that was named, and never twice to
the same file or folder.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Iterable

from ingest.load import SUFFIXES
from ingest.raw import file_kind

_UNSUPPORTED = f"supported: {' '.join(sorted(SUFFIXES))}"


def shown(path: Path | str) -> str:
    """A path as one printable line: control characters and undecodable bytes escaped."""
    s = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", lambda m: repr(m.group(0))[1:-1], s)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _link_problem(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "symbolic link loop: not followed"
    if err.errno == errno.ENOENT:
        return "broken symbolic link: its target does not exist"
    return f"cannot follow symbolic link: {err.strerror or err}"


class _Walk:
    """One walk of a folder: the files found, what was skipped, and the links still to look at."""

    def __init__(self, root: Path) -> None:
        self.real_root = os.path.realpath(root)
        self.files: list[tuple[Path, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self.links: list[tuple[Path, str]] = []
        self.file_names: dict[str, str] = {}  # real path -> source name
        self.walked: dict[str, str] = {}  # real folder -> name it was walked under

    def folder(self, folder: Path, rel: str, real: str) -> None:
        self.walked[real] = rel or "the ingested folder itself"
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            self.skipped.append((shown(folder), f"cannot read folder: {err.strerror or err}"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            path, name = folder / e.name, f"{rel}/{e.name}" if rel else e.name
            if e.is_symlink():
                self.links.append((path, name))
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as err:
                self.skipped.append((shown(path), f"cannot read: {err.strerror or err}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                self.folder(path, name, os.path.join(real, e.name))
            elif stat.S_ISREG(st.st_mode):
                self.files.append((path, name))
                self.file_names[os.path.join(real, e.name)] = name
            else:
                self.skipped.append((shown(path), f"not a regular file ({file_kind(st.st_mode)})"))

    def link(self, path: Path, name: str) -> None:
        try:
            st = os.stat(path)  # follows the whole chain; ELOOP for a cycle of links
        except OSError as err:
            self.skipped.append((shown(path), _link_problem(err)))
            return
        target = os.path.realpath(path)
        if not _inside(target, self.real_root):
            self.skipped.append((shown(path), f"symbolic link to {shown(target)}, outside the folder: not followed"))
        elif stat.S_ISDIR(st.st_mode):
            here = os.path.realpath(path.parent)
            if _inside(here, target):
                self.skipped.append((shown(path), f"symbolic link loop: points to {self.walked.get(target, shown(target))}, which contains it"))
            elif target in self.walked:
                self.skipped.append((shown(path), f"symbolic link to the folder {self.walked[target]}, ingested under that name"))
            else:
                self.folder(path, name, target)
        elif stat.S_ISREG(st.st_mode):
            if target in self.file_names:
                self.skipped.append((shown(path), f"symbolic link to {self.file_names[target]}, ingested under that name"))
            else:
                self.files.append((path, name))
                self.file_names[target] = name
        else:
            self.skipped.append((shown(path), f"not a regular file ({file_kind(st.st_mode)})"))


def _walk(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Regular files under the folder ``root`` as (path, name relative to root); hidden ones left out.

    Symbolic links are followed only to targets inside the folder (checked on the
    resolved path, so ``../`` and absolute targets are caught); a link to a file or
    folder already found under its own name is not followed twice, and a link to
    a folder that contains it (a loop) is reported, not walked. Links are looked at
    after the real tree, so a file keeps its real name when a link also reaches it.
    """
    walk = _Walk(root)
    walk.folder(root, "", walk.real_root)
    while walk.links:
        walk.link(*walk.links.pop(0))
    return walk.files, walk.skipped


def discover(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Files under the given paths as (path, source name), and what was skipped with why.

    A source name is the path relative to the folder that was named (a file named
    directly is known by its file name), so the same folder gives the same names
    wherever it lives. A file or folder named directly is followed even when it is
    a symbolic link: the user chose it.
    """
    found: dict[str, Path] = {}
    skipped: list[tuple[str, str]] = []
    for root in paths:
        root = Path(root)
        try:
            st = os.stat(root)
        except OSError as err:
            if os.path.islink(root):
                skipped.append((shown(root), _link_problem(err)))
            elif err.errno == errno.ENOENT:
                skipped.append((shown(root), "no such file or folder"))
            else:
                skipped.append((shown(root), f"cannot read: {err.strerror or err}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            candidates, problems = _walk(root)
            skipped += problems
        elif stat.S_ISREG(st.st_mode):
            candidates = [(root, root.name)]
        else:
            skipped.append((shown(root), f"not a regular file ({file_kind(st.st_mode)})"))
            continue
        for path, source in candidates:
            suffix = next((s for s in (path.suffix, Path(os.path.realpath(path)).suffix) if s.lower() not in SUFFIXES), None)
            if suffix is not None:  # a link must also point at a supported type: the target is what is read
                skipped.append((shown(path), f"unsupported file type {suffix or '(none)'}; {_UNSUPPORTED}"))
            elif not _valid_name(source):
                skipped.append((shown(path), "the file name is not valid UTF-8: rename the file"))
            elif source in found and found[source].resolve() != path.resolve():
                skipped.append((shown(path), f"another file is already ingested as {shown(source)}"))
            else:
                found[source] = path
    return [(p, s) for s, p in found.items()], skipped


def _valid_name(source: str) -> bool:
    """Undecodable bytes in a name become lone surrogates in Python; the store needs real UTF-8."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

