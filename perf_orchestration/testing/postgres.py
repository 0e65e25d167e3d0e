"""A PostgreSQL server of its own, for tests and benchmarks that restart it at will.

The shared server at 127.0.0.1:5432 serves every other test; restarting it would fail
them. This one is a real server all the same (initdb and pg_ctl of the machine's
PostgreSQL), on a free port of loopback, its data in a temporary folder owned by the
`postgres` user (PostgreSQL refuses to run as root), with fsync off for speed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa


def _bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.glob("*/bin/pg_ctl")) if root.is_dir() else []
    return versions[-1].parent if versions else None


def unavailable() -> str | None:
    """Why a private server cannot be had here, or None."""
    if _bin_dir() is None:
        return "PostgreSQL's initdb/pg_ctl are not installed"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user to run a private server as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "a private server needs root (to run it as postgres) or the postgres user"
    return None


class PrivatePostgres:
    def __init__(self):
        self.bin = _bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="perfflow-pg-", dir="/tmp"))
        self.data = self.folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        shutil.chown(self.folder, "postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "--no-sync", "-E", "UTF8")

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _ctl(self, action: str) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-o", options,
                 "-l", str(self.folder / "server.log"), action)

    def start(self) -> PrivatePostgres:
        self._ctl("start")
        return self

    def restart(self) -> None:
        """A real restart: every connection is cut, the server comes back on the same port."""
        self._ctl("restart")

    def stop(self) -> None:
        self._ctl("stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
        engine.dispose()
        return self.url(name)
