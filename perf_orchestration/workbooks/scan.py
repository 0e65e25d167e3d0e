"""Polling the drop folder: which workbooks are new or changed since the last look.

The cursor keeps each file's (modified time, size, locked) so an unchanged file costs a
stat, not a read, and a tick costs the same however many workbooks the folder keeps.
A run key is the content hash, so the same content is consolidated once whatever its
name, and a file saved again unchanged launches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perf_orchestration.workbooks.intake import file_hash, is_locked, path_key, workbook_files

RUN_KEY_PREFIX = "workbook:"


@dataclass(frozen=True)
class FileRequest:
    """A file to consolidate, with the run key that de-duplicates it."""

    path: str
    run_key: str
    state: str  # new, changed, locked or unreadable


def poll_folder(directory: Path, seen: dict[str, list], limit: int = 50
                ) -> tuple[list[FileRequest], dict[str, list]]:
    """Files new or changed since `seen`, at most `limit`; and the cursor to keep.

    Files beyond the limit keep their old cursor entry, so the next poll finds them.
    A locked file gets its own run key (it is recorded as locked, not read) and is
    consolidated again under its content key once Excel closes it.
    """
    directory = Path(directory)
    requests: list[FileRequest] = []
    after: dict[str, list] = {}
    for path in workbook_files(directory):
        key = str(path)
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished between listing and stat
        signature = [stat.st_mtime_ns, stat.st_size, is_locked(path) is not None]
        if seen.get(key) == signature:
            after[key] = signature
            continue
        if len(requests) >= limit:
            if key in seen:
                after[key] = seen[key]
            continue
        try:
            digest = file_hash(path)
            run_key = RUN_KEY_PREFIX + digest + (":locked" if signature[2] else "")
            state = "locked" if signature[2] else ("changed" if key in seen else "new")
        except OSError:
            run_key = f"{RUN_KEY_PREFIX}{path_key(path)}:{stat.st_mtime_ns}"
            state = "unreadable"
        requests.append(FileRequest(key, run_key, state))
        after[key] = signature
    return requests, after
