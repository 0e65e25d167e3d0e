"""Opening the files of a drop folder: content hash, lock and encryption, the reader.

Everything that can go wrong with a file before its rows are judged (an owner file
showing it is open in Excel, no read permission, a corrupt zip, a password) ends as a
status and a one-line reason, never as an exception, so one bad file never stops the
others.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from perf_orchestration.workbooks.config import WorkbookConfig
from perf_orchestration.workbooks.limits import check_container, check_file_size
from perf_orchestration.workbooks.read import UnreadableWorkbook, WorkbookRead, load, read_workbook

OWNER_PREFIX = "~$"
PARALLEL_FROM_FILES = 4  # below this, worker start-up costs more than it saves


@dataclass
class OpenedFile:
    """One file as found: its hash and either what the reader made of it or why not."""

    path: Path
    file_hash: str
    status: str  # read, locked, unreadable, corrupt, encrypted, refused
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


def file_hash(path: Path) -> str:
    """content_hash of a file, streamed: a huge file dropped in the folder costs no memory."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def path_key(path: Path) -> str:
    """A stand-in for the hash of a file that could not be read: stable per path."""
    return "unreadable:" + hashlib.sha256(str(path).encode()).hexdigest()[:32]


def open_file(path: Path, config: WorkbookConfig) -> OpenedFile:
    """Hash and read one workbook; problems become a status and a reason."""
    path = Path(path)
    try:
        check_file_size(path.stat().st_size, config.limits)
        content = path.read_bytes()
    except UnreadableWorkbook as bad:
        return OpenedFile(path, path_key(path), bad.status, f"{path.name}: {bad.reason}")
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
        check_container(content, config.limits)
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


def open_files(paths: list[Path], config: WorkbookConfig) -> list[OpenedFile]:
    """open_file for each path, spread over the machine's cores when there are several files.

    Reading a workbook is CPU-bound Python (openpyxl parses the XML), so processes, not
    threads; they are forked, so the workers start without importing anything again.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if len(paths) < PARALLEL_FROM_FILES or cores < 2 \
            or "fork" not in multiprocessing.get_all_start_methods():
        return [open_file(p, config) for p in paths]
    with ProcessPoolExecutor(max_workers=min(cores, 8),
                             mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(open_file, paths, [config] * len(paths)))
