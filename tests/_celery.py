"""Real parts for runs on Celery: a Redis broker (Debian's redis-server) and dagster-celery
workers, each a process of its own, started the way an operator starts them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from perf_orchestration.cli import DAGSTER_ENV  # batched events, as every perfflow run

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_redis() -> None:
    """Skip (fail in CI, PERFFLOW_REQUIRE_REDIS=1) when Debian's redis-server is missing."""
    import shutil

    import pytest

    if shutil.which("redis-server"):
        return
    message = "Redis (redis-server) is not installed: apt-get install redis-server"
    if os.environ.get("PERFFLOW_REQUIRE_REDIS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def redis_server():
    """A throwaway Redis on a free loopback port (no persistence); yields its URL."""
    require_redis()
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.1)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def celery_workers(count: int, env: dict, folder: Path):
    """`count` dagster-celery workers (each one step at a time, in a pool process of its
    own) on the broker of env's PERFFLOW_CELERY_BROKER_URL; stopped afterwards."""
    config = ROOT / "deploy" / "celery" / "worker.yaml"
    procs = []
    logs = []
    for i in range(count):
        log = open(folder / f"worker{i}.log", "w")  # noqa: SIM115 - closed below
        logs.append(log)
        procs.append(subprocess.Popen(
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(config), "-n", f"perfflow{i}@%h", "-l", "WARNING", "--",
             "--pool=prefork", "--concurrency=1", f"--pidfile={folder / f'worker{i}.pid'}"],
            env={**os.environ, **DAGSTER_ENV, **env, "PATH": f"{BIN}:{os.environ['PATH']}"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        _wait_for_workers(count, env, folder)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        for log in logs:
            log.close()


def step_processes(folder: Path, count: int) -> list[int]:
    """The pool processes of the workers started in `folder`: where their steps run."""
    pids = []
    for i in range(count):
        main = (folder / f"worker{i}.pid").read_text().strip()
        children = Path(f"/proc/{main}/task/{main}/children")
        pids += [int(p) for p in children.read_text().split()] if children.exists() else []
    return pids


def _wait_for_workers(count: int, env: dict, folder: Path) -> None:
    from celery import Celery

    app = Celery(broker=env["PERFFLOW_CELERY_BROKER_URL"],
                 backend=env["PERFFLOW_CELERY_BACKEND_URL"])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answers = app.control.ping(timeout=1.0) or []
        if len(answers) >= count:
            return
        time.sleep(0.5)
    logs = "\n".join((folder / f"worker{i}.log").read_text()[-1500:] for i in range(count))
    raise RuntimeError(f"{count} Celery workers did not answer within 90 s:\n{logs}")


def run_flow(home: Path, env: dict, first: str, last: str, engine: str,
             instance_config: Path) -> tuple[int, dict | None, str]:
    """`perfflow backfill` of plant days [first, last] on `engine`, in a process of its own:
    exit code, the run's outcome (None if no run started) and what it wrote to stderr."""
    import json

    proc = subprocess.run([str(BIN / "perfflow"), "backfill", first, last, "--engine", engine,
                           "--instance-config", str(instance_config), "--home", str(home),
                           "--json"],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, json.loads(lines[-1]) if lines else None, proc.stderr
