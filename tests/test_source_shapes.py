"""Every paging style, auth kind and time format of sources.yaml against a real HTTP server
on loopback that pages the way each style says (computed from the request, not scripted),
and the file's validation: one line per problem naming file, system, entity and field."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.client import SourceCallError
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.ingestion.sources import reader_for
from perf_orchestration.ingestion.sources.config import HttpSystem, load_sources_file
from perf_orchestration.ingestion.sources.times import BadTime, canonical_time, window_value
from perf_orchestration.testing.plant_sources import JsonHandler

TEAMS = [{"code": f"K{i:02d}", "label": f"Kolonne {i}", "line": f"L{i % 3}",
          "kind": "welding", "hall": "Halle 1", "changed": 1_793_520_000 + i}
         for i in range(23)]
FIELDS = {"team_id": "code", "name": "label", "line_id": "line", "line_type": "kind",
          "workshop": "hall", "updated_at": {"from": "changed", "time": "epoch_seconds"}}


class _Api:
    """Serves TEAMS in the paging style `style`; records every request's path and headers."""

    def __init__(self, style: str, key: str | None = None):
        self.style, self.key, self.seen = style, key, []
        api = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                api.seen.append((self.path, dict(self.headers)))
                if api.key and api.key not in (self.headers.get("X-Api-Key"), q.get("api_key")):
                    return self.send_json(403, {"error": "forbidden"})
                body, headers = api.answer(q)
                self.send_json(200, body, headers)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, q: dict) -> tuple[dict, dict]:
        if self.style == "page_number":
            page, size = int(q["p"]), int(q["per_page"])
            rows = TEAMS[(page - 1) * size: page * size]
            return {"result": {"teams": rows}, "pages": -(-len(TEAMS) // size)}, {}
        if self.style == "cursor":
            start = int(q.get("after", 0))
            rows = TEAMS[start:start + 5]
            more = start + 5 < len(TEAMS)
            return {"teams": rows, "paging": {"next": str(start + 5) if more else None}}, {}
        if self.style == "next_url":
            skip = int(q.get("$skip", 0))
            body = {"value": TEAMS[skip:skip + 7]}
            if skip + 7 < len(TEAMS):
                body["@odata.nextLink"] = f"{self.url}/odata/Teams?" + urlencode(
                    {"$skip": skip + 7})
            return body, {}
        if self.style == "link_header":
            page, size = int(q.get("page", 1)), int(q.get("size", 4))
            headers = {}
            if page * size < len(TEAMS):
                nxt = f"{self.url}/teams?" + urlencode({"page": page + 1, "size": size})
                headers["Link"] = f'<{nxt}>; rel="next"'
            return TEAMS[(page - 1) * size: page * size], headers
        raise AssertionError(self.style)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


SHAPES = {
    "page_number": ({"type": "page_number", "page_param": "p", "size_param": "per_page",
                     "page_size": 6, "total_pages_path": "$.pages"},
                    "$.result.teams", "/teams", 4),
    "cursor": ({"type": "cursor", "cursor_path": "$.paging.next", "cursor_param": "after"},
               "$.teams", "/teams", 5),
    "next_url": ({"type": "next_url", "next_url_path": "$['@odata.nextLink']"}, "$.value",
                 "/odata/Teams", 4),
    "link_header": ({"type": "link_header", "size_param": "size", "page_size": 4}, "$[*]",
                    "/teams", 6),
}


def _system(api: _Api, paging: dict, records: str, path: str, auth: dict | None = None,
            **extra) -> HttpSystem:
    return HttpSystem.model_validate({
        "kind": "http", "base_url": api.url, "auth": auth,
        "defaults": {"records": records, "paging": paging, "times": "epoch_seconds"},
        "entities": {"teams": {"path": path, "fields": FIELDS,
                               "window": {"start_param": None, "end_param": None}}},
        **extra})


@pytest.mark.parametrize("style", sorted(SHAPES))
def test_each_paging_style_reads_every_record_once(style):
    paging, records, path, pages = SHAPES[style]
    api = _Api(style)
    try:
        result = reader_for("hr", _system(api, paging, records, path)).fetch("teams")
    finally:
        api.close()
    assert [r["team_id"] for r in result.items] == [t["code"] for t in TEAMS]
    assert result.pages == pages == len(api.seen)
    assert result.items[0] == {
        "team_id": "K00", "name": "Kolonne 0", "line_id": "L0", "line_type": "welding",
        "workshop": "Halle 1",
        "updated_at": datetime.fromtimestamp(1_793_520_000, ZoneInfo("Asia/Shanghai"))
        .isoformat()}
    assert result.cursor == result.items[-1]["updated_at"]  # no cursor in the body: newest


@pytest.mark.parametrize("location", ["header", "query"])
def test_an_api_key_is_sent_where_the_file_says(location, monkeypatch):
    monkeypatch.setenv("TEAMS_KEY", "k-123")
    api = _Api("cursor", key="k-123")
    paging, records, path, _ = SHAPES["cursor"]
    auth = {"type": "api_key", "name": "X-Api-Key" if location == "header" else "api_key",
            "location": location, "key_env": "TEAMS_KEY"}
    try:
        result = reader_for("hr", _system(api, paging, records, path, auth)).fetch("teams")
        monkeypatch.setenv("TEAMS_KEY", "wrong")
        with pytest.raises(SourceCallError) as refused:
            reader_for("hr", _system(api, paging, records, path, auth)).fetch("teams")
    finally:
        api.close()
    assert len(result.items) == len(TEAMS)
    assert "HTTP 403" in str(refused.value) and "systems.hr.auth" in str(refused.value)
    assert "k-123" not in str(refused.value)  # the secret is never shown
    first_path = api.seen[0][0]
    assert ("api_key=k-123" in first_path) == (location == "query")


def test_the_rate_limit_spaces_requests():
    paging, records, path, _ = SHAPES["cursor"]
    api = _Api("cursor")
    try:
        began = time.monotonic()
        reader_for("hr", _system(api, paging, records, path,
                                 retries={"min_interval_seconds": 0.1})).fetch("teams")
        took = time.monotonic() - began
    finally:
        api.close()
    assert len(api.seen) == 5 and took >= 0.4  # 4 waits between 5 requests


def test_window_values_and_record_times_in_each_format():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime.fromisoformat("2026-10-25T00:30:00+00:00")  # 02:30 summer time
    assert window_value(start, "iso8601", berlin) == "2026-10-25T00:30:00+00:00"
    assert window_value(start, "naive_local", berlin) == "2026-10-25T02:30:00"
    assert window_value(start, "epoch_seconds", berlin) == 1792888200
    assert window_value(start, "epoch_millis", berlin) == 1792888200000
    # a naive local time in the repeated hour is its first occurrence (summer time)
    assert canonical_time("2026-10-25T02:30:00", "naive_local", berlin) == \
        "2026-10-25T02:30:00+02:00"
    assert canonical_time("2026-10-25 03:30:00", "naive_local", berlin) == \
        "2026-10-25T03:30:00+01:00"
    assert canonical_time(1792888200000, "epoch_millis", berlin) == "2026-10-25T02:30:00+02:00"
    assert canonical_time("1792888200", "epoch_seconds", berlin) == "2026-10-25T02:30:00+02:00"
    for value, fmt, says in [("25.10.2026 02:30", "naive_local", "not an ISO 8601"),
                             ("2026-10-25T02:30:00", "iso8601", "has no UTC offset"),
                             ("soon", "epoch_millis", "is not epoch millis"),
                             (True, "epoch_seconds", "is not epoch seconds")]:
        with pytest.raises(BadTime, match=says):
            canonical_time(value, fmt, berlin)


def test_the_file_gives_one_line_per_problem_naming_system_entity_and_field(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("""version: plant-1
systems:
  mes:
    kind: http
    base_url: ftp://mes.plant.local
    auth: {type: bearer}
    entities:
      production: {path: /api/output, paging: {type: offset, limit: 0}}
      output_hourly: {path: /api/hourly}
  qms:
    kind: sql
    url_env: QMS_DB
    entities:
      defects: {table: v_defects, query: "select * from v_defects"}
  scada:
    kind: http
    base_url: http://scada.plant.local
    entities: {}
""")
    with pytest.raises(ConfigError) as raised:
        load_sources_file(path)
    problems = raised.value.problems
    assert all(p.startswith(f"{path}: systems.") for p in problems), problems
    text = "\n".join(problems)
    assert "systems.mes.base_url" in text
    assert "systems.mes.auth.token_env" in text
    assert "systems.mes.entities.production.paging.limit" in text
    assert "systems.qms.entities.defects" in text and "either table" in text
    fixed = path.read_text().replace("ftp://", "http://").replace(
        "{type: bearer}", "{type: bearer, token_env: MES_TOKEN}").replace(
        "limit: 0", "limit: 100").replace(', query: "select * from v_defects"',
                                          ", time_column: found_at")
    path.write_text(fixed)
    with pytest.raises(ConfigError) as raised:
        load_sources_file(path)
    assert raised.value.problems == [
        f"{path}: systems.mes.entities.output_hourly: unknown entity (known for mes: "
        "production, first_article_inspections, equipment_events, equipment_checks, "
        "changeovers, planned_stops, process_measurements, maintenance_log)",
        f"{path}: systems.scada: unknown system (known: {', '.join(SYSTEMS)})"]
