"""Shared fixtures: an embedded warehouse per test and a real PostgreSQL database.

PostgreSQL tests skip with a printed reason when no server answers, unless
PERFFLOW_REQUIRE_POSTGRES=1 (set by .ci/run), where a missing server fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.warehouse import SCHEMAS, embedded_url

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking"]
PG_ADMIN_URL = os.environ.get("PERFFLOW_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


# Files that read the session's demo (`demo_dir`) run on one xdist worker, so the demo is
# built once; every other file keeps its tests together on one worker, so the tests of a
# file share its module fixtures (as `--dist loadfile` does).
DEMO_READERS = ("tests/test_demo.py", "tests/test_dagster_ui.py", "tests/test_reports.py")


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class _DemoReadersTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "demo readers" if path in DEMO_READERS else path

    return _DemoReadersTogether(config, log)


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    problem = _pg_reachable()
    if problem:
        msg = f"PostgreSQL at {PG_ADMIN_URL} not reachable: {problem}"
        if os.environ.get("PERFFLOW_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    name = f"perfflow_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_database):
    """The session's PostgreSQL database with the warehouse schemas emptied."""
    engine = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()
    # the warehouse resource creates the schemas once per URL and process: forget that
    from resources.warehouse import _engine

    _engine.cache_clear()
    return pg_database


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh embedded (SQLite) warehouse in a temporary folder."""
    return embedded_url(tmp_path / "warehouse")


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path):
    """Each test using this runs once on the embedded warehouse and once on PostgreSQL."""
    if request.param == "sqlite":
        return embedded_url(tmp_path / "warehouse")
    return request.getfixturevalue("pg_url")


@contextmanager
def _instance_database(pg_database: str, suffix: str):
    """A PostgreSQL database of its own for a Dagster instance, as deploy/dagster.yaml's
    environment variables; dropped afterwards."""
    url = sa.make_url(pg_database)
    name = f"{url.database}_{suffix}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield {"PERFFLOW_DAGSTER_PG_HOST": url.host or "127.0.0.1",
               "PERFFLOW_DAGSTER_PG_PORT": str(url.port or 5432),
               "PERFFLOW_DAGSTER_PG_DB": name,
               "PERFFLOW_DAGSTER_PG_USER": url.username or "postgres",
               "PERFFLOW_DAGSTER_PG_PASSWORD": url.password or ""}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_instance_env(pg_database):
    """Environment for deploy/dagster.yaml: a Dagster instance database of its own."""
    with _instance_database(pg_database, "dagster") as env:
        yield env


@pytest.fixture
def fresh_pg_instance_env(pg_database):
    """Like pg_instance_env, but an empty instance database for this test alone."""
    with _instance_database(pg_database, "dagster_fresh") as env:
        yield env


@pytest.fixture
def second_pg_instance_env(pg_database):
    """Another empty instance database: a second plant's deployment beside the first."""
    with _instance_database(pg_database, "dagster_second") as env:
        yield env


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """One `perfflow demo` on the embedded default, shared by every module that reads it
    (a module that re-runs the demo into it leaves an equally valid output).

    PERFFLOW_TEST_DEMO_DIR names an existing demo output to use instead, to iterate on
    tests that only read it."""
    if os.environ.get("PERFFLOW_TEST_DEMO_DIR"):
        return Path(os.environ["PERFFLOW_TEST_DEMO_DIR"])
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([str(Path(sys.executable).with_name("perfflow")), "demo", "--out",
                           str(out)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return out


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium driven by Playwright (no browser download). Skips with the
    reason when it is not installed, unless PERFFLOW_REQUIRE_BROWSER=1 (set by .ci/run)."""
    binary = os.environ.get("PERFFLOW_CHROMIUM") or shutil.which("chromium")
    if not binary:
        msg = "Chromium not installed (apt-get install chromium) for the browser test"
        if os.environ.get("PERFFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield browser
        browser.close()

