"""Opening the files of a drop folder: content hash, lock and encryption, the reader.

Everything that can go wrong with a file before its rows are judged (an owner file
showing it is open in Excel, no read permission, a corrupt zip, a password) ends as a
status and a one-line reason, never as an exception, so one bad file never stops the
others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from perf_orchestration.workbooks.config import WorkbookConfig
from perf_orchestration.workbooks.read import UnreadableWorkbook, WorkbookRead, load, read_workbook

OWNER_PREFIX = "~$"


@dataclass
class OpenedFile:
    """One file as found: its hash and either what the reader made of it or why not."""

    path: Path
    file_hash: str
    status: str  # read, locked, unreadable, corrupt, encrypted
    reason: str | None = None
    read: WorkbookRead | None = None


def owner_files(path: Path) -> list[Path]:
    """The owner ("lock") files Excel keeps beside a workbook while it is open."""
    names = {OWNER_PREFIX + path.name, OWNER_PREFIX + path.name[2:]}
    return [path.with_name(n) for n in sorted(names)]


def is_locked(path: Path) -> Path | None:
    return next((p for p in owner_files(path) if p.exists()), None)


def workbook_files(directory: Path) -> list[Path]:
    """The .xlsx workbooks under a folder (sub-folders too), owner files left out."""
    return sorted(p for p in directory.rglob("*.xlsx")
                  if p.is_file() and not p.name.startswith(OWNER_PREFIX))


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def path_key(path: Path) -> str:
    """A stand-in for the hash of a file that could not be read: stable per path."""
    return "unreadable:" + hashlib.sha256(str(path).encode()).hexdigest()[:32]


def open_file(path: Path, config: WorkbookConfig) -> OpenedFile:
    """Hash and read one workbook; problems become a status and a reason."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        return OpenedFile(path, path_key(path), "unreadable",
                          f"{path.name}: cannot be read: {exc.strerror or type(exc).__name__}")
    digest = content_hash(content)
    owner = is_locked(path)
    if owner is not None:
        return OpenedFile(path, digest, "locked",
                          f"{path.name}: open in Excel (owner file {owner.name}); read once "
                          "it is saved and closed")
    try:
        book = load(content)
    except UnreadableWorkbook as bad:
        return OpenedFile(path, digest, bad.status, f"{path.name}: {bad.reason}")
    try:
        read = read_workbook(book, config, path.name)
    finally:
        book.close()
    for sheet in read.sheets:
        for record in sheet.records:
            record["file_hash"] = digest
            record["source_file"] = str(path)
    return OpenedFile(path, digest, "read", read=read)
