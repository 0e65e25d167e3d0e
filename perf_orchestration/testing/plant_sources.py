"""Source systems shaped unlike the simulator, serving the simulator's plant records.

Two shapes a real plant might have, for the tests that show the same records read through
any shape give the same marts:

- `PlantApi`: an HTTP API with camelCase field names (one nested), coded values, times in
  epoch milliseconds, `from`/`to`/`changedAfter` window parameters, offset/limit paging with
  a total, records under `data.rows`, behind HTTP basic auth, at /api/v2/<system>/<entity>.
- `load_plant_database`: MES database tables of another shape (PascalCase column names,
  naive local times, coded results, table names of its own, one entity behind a query),
  written to PostgreSQL or SQLite through SQLAlchemy.

Each comes with the sources.yaml that describes it, written as a plant engineer would.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml

from perf_orchestration.ingestion.entities import ENTITIES, SYSTEMS, Entity
from perf_orchestration.simulator.server import SimulatorServer
from perf_orchestration.simulator.state import Query

FAI_CODES = {"pass": "OK", "fail": "NG"}  # the API's codes for a first-article result
DB_FAI_CODES = {"pass": "P", "fail": "F"}  # the database's
NESTED = {("mes", "production", "station_id"): ("station", "id")}  # station: {id: ...}
USER, PASSWORD = "plant-reader", "s3cret-Pa55"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def pascal(name: str) -> str:
    return "".join(p.title() for p in name.split("_"))


def _millis(value: str | None) -> int | str | None:
    """Epoch milliseconds of an ISO time; a value that is no ISO time is served as it is
    (a record typed by hand in another format, as the tests of bad times add)."""
    try:
        return None if value is None else int(datetime.fromisoformat(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return value


def _api_record(entity: Entity, record: dict) -> dict:
    out: dict = {}
    for column in entity.columns:
        if column.name not in record:
            continue
        value = record[column.name]
        if column.type == "datetime":
            value = _millis(value)
        if (entity.table, column.name) == ("mes_first_article_inspections", "result"):
            value = FAI_CODES.get(value, value)
        nested = NESTED.get((entity.system, entity.name, column.name))
        if nested:
            out.setdefault(nested[0], {})[nested[1]] = value
        else:
            out[camel(column.name)] = value
    return out


def api_path(entity: Entity) -> str:
    return f"/api/v2/{entity.system}/{entity.name.replace('_', '-')}"


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet loopback handler answering JSON, for the test servers of source shapes."""

    def send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class PlantApi:
    """The plant's HTTP API on loopback over a running simulator's records."""

    def __init__(self, simulator: SimulatorServer):
        self.state = simulator.state
        self.tz = simulator.scenario.tz
        self.requests: list[str] = []
        by_path = {api_path(e): e for e in ENTITIES}
        api = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802
                api.requests.append(self.path)
                url = urlsplit(self.path)
                if self.headers.get("Authorization") != expected:
                    return self.send_json(401, {"message": "Unauthorized"})
                entity = by_path.get(url.path)
                if entity is None:
                    return self.send_json(404, {"message": f"Not Found: {url.path}"})
                self.send_json(200, api.page(entity, parse_qs(url.query)))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def page(self, entity: Entity, params: dict[str, list[str]]) -> dict:
        def moment(name: str) -> datetime | None:
            value = params.get(name, [None])[0]
            return None if value is None else datetime.fromtimestamp(int(value) / 1000, UTC)

        query = Query(start=moment("from"), end=moment("to"), since=moment("changedAfter"),
                      limit=10**9)
        rows = self.state.query(entity, query)["items"]
        offset, limit = int(params.get("offset", ["0"])[0]), int(params.get("limit", ["100"])[0])
        return {"data": {"rows": [_api_record(entity, r) for r in rows[offset:offset + limit]]},
                "meta": {"total": len(rows), "offset": offset}}

    def __enter__(self) -> PlantApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def api_sources(systems: tuple[str, ...] = SYSTEMS) -> dict:
    """The sources.yaml of PlantApi, as its plant would write it."""
    out = {}
    for system in systems:
        entities = {}
        for e in (e for e in ENTITIES if e.system == system):
            fields = {c.name: camel(c.name) for c in e.columns if camel(c.name) != c.name}
            for (s, n, column), path in NESTED.items():
                if (s, n) == (e.system, e.name):
                    fields[column] = ".".join(path)
            if e.table == "mes_first_article_inspections":
                fields["result"] = {"from": "result",
                                    "values": {v: k for k, v in FAI_CODES.items()}}
            spec: dict = {"path": api_path(e), "fields": fields}
            if not e.partitioned:
                spec["window"] = {"start_param": None, "end_param": None,
                                  "format": "epoch_millis", "since_param": "changedAfter"}
            entities[e.name] = spec
        out[system] = {
            "kind": "http", "base_url_env": f"PLANT_{system.upper()}_API",
            "auth": {"type": "basic", "username_env": "PLANT_API_USER",
                     "password_env": "PLANT_API_PASSWORD"},
            "defaults": {
                "records": "$.data.rows", "times": "epoch_millis",
                "window": {"start_param": "from", "end_param": "to", "format": "epoch_millis",
                           "since_param": "changedAfter"},
                "paging": {"type": "offset", "offset_param": "offset", "limit_param": "limit",
                           "limit": 40, "total_path": "$.meta.total"}},
            "entities": entities}
    return {"version": "plant-api-1", "systems": out}


# --- the MES database ---------------------------------------------------------------------

def db_table(entity: Entity) -> str:
    return "Mes" + pascal(entity.name)


def load_plant_database(url: str, simulator: SimulatorServer, schema: str | None = None) -> None:
    """Write the simulator's MES records as the plant's own tables (naive local times)."""
    tz = simulator.scenario.tz
    engine = sa.create_engine(url)
    meta = sa.MetaData(schema=schema)
    types = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float,
             "datetime": sa.DateTime, "date": sa.Date}
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.text(f'create schema if not exists "{schema}"'))
            for e in (e for e in ENTITIES if e.system == "mes"):
                table = sa.Table(db_table(e), meta, *[
                    sa.Column(pascal(c.name), types[c.type]()) for c in e.columns])
                table.drop(conn, checkfirst=True)
                table.create(conn)
                rows = [_db_row(e, r, tz) for r in simulator.dataset.tables[e.table]]
                if rows:
                    conn.execute(table.insert(), rows)
    finally:
        engine.dispose()


def _db_row(entity: Entity, record: dict, tz: ZoneInfo) -> dict:
    out = {}
    for c in entity.columns:
        value = record.get(c.name)
        if c.type == "datetime" and value is not None:
            value = datetime.fromisoformat(value).astimezone(tz).replace(tzinfo=None)
        if (entity.table, c.name) == ("mes_first_article_inspections", "result"):
            value = DB_FAI_CODES.get(value, value)
        out[pascal(c.name)] = value
    return out


def db_sources(schema: str | None = None) -> dict:
    """The sources.yaml of the MES database: tables by name, one entity by a query."""
    prefix = f'"{schema}".' if schema else ""
    entities = {}
    for e in (e for e in ENTITIES if e.system == "mes"):
        fields: dict = {c.name: pascal(c.name) for c in e.columns}
        if e.table == "mes_first_article_inspections":
            fields["result"] = {"from": "Result",
                                "values": {v: k for k, v in DB_FAI_CODES.items()}}
        spec: dict = {"fields": fields}
        if e.name == "production":  # read through a query, as a view's SQL might be given
            t = pascal(e.event_time)
            spec["query"] = (f'SELECT * FROM {prefix}"{db_table(e)}" WHERE "{t}" >= :start '
                             f'AND "{t}" < :end ORDER BY "StationId", "{t}"')
        else:
            spec["table"] = f"{schema}.{db_table(e)}" if schema else db_table(e)
            if e.event_time:  # a snapshot entity (the maintenance log) is read whole
                spec["time_column"] = pascal(e.event_time)
        entities[e.name] = spec
    return {"version": "mes-db-1", "systems": {"mes": {
        "kind": "sql", "url_env": "PLANT_MES_DB", "times": "naive_local", "chunk_rows": 25,
        "entities": entities}}}


def write_sources(directory, document: dict) -> None:
    """sources.yaml into a plant config folder."""
    (directory / "sources.yaml").write_text(yaml.safe_dump(document, sort_keys=False,
                                                           allow_unicode=True))
