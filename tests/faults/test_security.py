"""Security faults: hostile config values, unsafe YAML, forged webhooks and links, leaked
secrets, servers reachable from the network.

(a) every config value that reaches SQL as an identifier is refused by validation unless
    it is a plain name, in one line naming file and field; other values are bound;
(b) YAML is only safe-loaded: a `!!python/...` tag is refused and never runs;
(c) webhooks are signed, and a tampered body or a replayed request is rejected;
(d) acknowledgement links are signed and expire;
(e) no secret reaches the Dagster event log, run config, asset metadata, the messages sent
    or the warehouse's ops tables;
(f) every server the project starts binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml
from _hours import hours_run

import perf_orchestration
from perf_orchestration.config.files import NAMED_FILES, bundled_config_dir
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.scenarios.config import load_scenario

HOSTILE = "x'; drop table raw.mes_production; --"
REPO = Path(perf_orchestration.__file__).resolve().parents[1]
SQL_ROOT = REPO / "dbt_like_sql"


def _bundled(name: str) -> dict:
    return yaml.safe_load((bundled_config_dir() / name).read_text(encoding="utf-8"))


def _set(data, path: tuple, value) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _rename_key(data, path: tuple, new) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    old = next(iter(node[path[-1]]))
    node[path[-1]] = {new: node[path[-1]][old]}


# --- (a) identifiers from config ------------------------------------------------------

# (file, where the hostile value goes, a word the error line must name, why it reaches SQL)
IDENTIFIER_FIELDS = [
    ("rules.yaml", ("rules", 0, "id"), "id", "episode ids, run keys"),
    ("rules.yaml", ("rules", 0, "metric"), "metric", "metric -> mart and column names"),
    ("rules.yaml", ("rules", 0, "subject"), "subject", "subject -> mart grain column"),
    ("rules.yaml", ("rules", 0, "thresholds_by_line"), "thresholds_by_line", "line ids"),
    ("line_metrics.yaml", ("lines", 0, "id"), "id", "line id"),
    ("line_metrics.yaml", ("line_types", 0, "metrics", 0, "metric"), "metric",
     "metric -> mart and column names"),
    ("workbooks.yaml", ("kinds", 0, "id"), "id", "kind -> table raw.excel_<kind>"),
    ("workbooks.yaml", ("kinds", 0, "columns", 0, "name"), "name",
     "column of raw.excel_<kind>"),
    ("goals.yaml", ("templates", 0, "goals", 0, "id"), "id", "goal id"),
    ("goals.yaml", ("templates", 0, "goals", 0, "source", "metric"), "metric",
     "metric -> mart, numerator and denominator columns"),
    ("goals.yaml", ("templates", 0, "goals", 1, "source", "line"), "line",
     "subject (bound, and checked against the roster)"),
    ("routing.yaml", ("receivers", 0, "id"), "id", "receiver id"),
]


@pytest.mark.parametrize("name, path, field, why", IDENTIFIER_FIELDS,
                         ids=[f"{f}:{'.'.join(map(str, p))}" for f, p, _, _ in
                              IDENTIFIER_FIELDS])
def test_sql_injection_in_config_is_refused_by_validation(tmp_path, invariant, name, path,
                                                          field, why):
    data = _bundled(name)
    if path[0] == "lines" and "lines" not in data:  # the bundled file is per line type
        data["lines"] = [{"id": "LINE-1", "line_type": "welding",
                          "metrics": [{"metric": "oee", "yellow": 0.8, "red": 0.7}]}]
    if path[-1] == "thresholds_by_line":
        _set(data, path, {HOSTILE: 0.9})
    else:
        _set(data, path, HOSTILE)
    target = tmp_path / name
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                      encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        NAMED_FILES[name](target)
    problems = err.value.problems
    naming = [p for p in problems if p.startswith(f"{target}: ") and field in p]
    invariant(f"sql injection in {name} ({'.'.join(map(str, path))}: {why})",
              "refused by validation, one line naming file and field",
              holds=bool(naming) and all("\n" not in p for p in problems),
              tried=1, problems=len(problems))


MODEL_YML = """
config:
  materialized: incremental
  partition_by: {partition_by}
  unique_key: [{unique_key}]
columns:
  - name: {column}
"""


@pytest.mark.parametrize("field", ["partition_by", "unique_key", "column"])
def test_sql_injection_in_sql_model_config_is_refused(tmp_path, invariant, field):
    from perf_orchestration.sqlmodels import load_project

    root = tmp_path / "models"
    shutil.copytree(SQL_ROOT, root)
    values = {"partition_by": "day_start", "unique_key": "team_id", "column": "team_id",
              field: f'"{HOSTILE}"'}
    yml = root / "marts" / "team_daily_quality.yml"
    yml.write_text(MODEL_YML.format(**values), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_project(root)
    named = [p for p in err.value.problems if p.startswith(f"{yml}: ") and "SQL name" in p]
    invariant(f"sql injection in a SQL model's yml ({field})",
              "refused by validation, one line naming file and field",
              holds=len(named) == 1, tried=1, problems=len(err.value.problems))


@pytest.mark.parametrize("value", ["team_id\n", "Team_Id", "1team", "team id", "team;id", ""])
def test_sql_names_match_whole(value):
    from pydantic import ValidationError

    from perf_orchestration.sqlmodels.config import ColumnSpec

    with pytest.raises(ValidationError):
        ColumnSpec(name=value)


def test_free_text_config_values_reach_sql_only_as_bound_parameters(invariant):
    """A goal's subject and sales channel are data, not names: the hostile text stays out
    of the statement and travels as a parameter."""
    from perf_orchestration.goals.config import GoalsFile
    from perf_orchestration.goals.scores import goal_query

    goals = GoalsFile.model_validate({"version": "v", "templates": [{
        "id": "t", "name": "t", "goals": [
            {"id": "sales", "name": "Follow-up", "level": "company",
             "source": {"metric": "sales_follow_up_compliance", "person": HOSTILE,
                        "channel": HOSTILE, "target": 0.9, "direction": "higher"}},
            {"id": "line", "name": "Line FPY", "level": "company",
             "source": {"metric": "first_pass_yield", "line": HOSTILE, "target": 0.9,
                        "direction": "higher"}}]}]}).goals
    leaks = 0
    for goal in goals:
        clause, params, _ = goal_query(goal)
        leaks += HOSTILE in str(clause) or "drop table" in str(clause)
        bound = [v for value in params.values()
                 for v in (value if isinstance(value, list) else [value])]
        assert HOSTILE in bound
    invariant("hostile subject and channel in goals.yaml", "bound as parameters, never in "
              "the SQL text", holds=leaks == 0, tried=len(goals))


def test_warehouse_tables_survive_a_hostile_value_through_the_real_query(sqlite_url, invariant):
    """The same goal query run on the embedded warehouse: the hostile subject matches
    nothing, raw.mes_production is still there, and the real line still measures."""
    from perf_orchestration.goals.config import GoalsFile
    from perf_orchestration.goals.scores import measure
    from perf_orchestration.plant_calendar import calendar_rows
    from perf_orchestration.tables import metadata, upsert_calendar
    from perf_orchestration.warehouse import ensure_schemas, make_engine

    engine = make_engine(sqlite_url)
    ensure_schemas(engine, metadata)
    with engine.begin() as conn:
        conn.execute(sa.text("create table marts.line_daily_quality (line_id text, "
                             "local_date text, good_count int, total_count int)"))
        conn.execute(sa.text("insert into marts.line_daily_quality values "
                             "('WLD', '2026-11-02', 9, 10)"))
        upsert_calendar(conn, calendar_rows(datetime(2026, 11, 2, 1, tzinfo=UTC),
                                            datetime(2026, 11, 2, 2, tzinfo=UTC)))
    hostile, control = GoalsFile.model_validate({"version": "v", "templates": [{
        "id": "t", "name": "t", "goals": [
            {"id": f"line-{i}", "name": "Line FPY", "level": "company",
             "source": {"metric": "first_pass_yield", "line": line, "target": 0.9,
                        "direction": "higher"}}
            for i, line in enumerate([HOSTILE, "WLD"])]}]}).goals
    with engine.connect() as conn:
        measured = measure(conn, hostile, ["2026-11-02"])
        fine = measure(conn, control, ["2026-11-02"])
    tables = sa.inspect(engine).get_table_names(schema="raw")
    engine.dispose()
    assert fine["2026-11-02"].actual == pytest.approx(0.9)
    invariant("hostile line id run through the goal query on SQLite",
              "matches nothing; raw.mes_production intact",
              holds=measured == {} and "mes_production" in tables, tried=2)


# --- (b) YAML -----------------------------------------------------------------------------

UNSAFE_LOAD = re.compile(r"yaml\.(load|unsafe_load|full_load|load_all)\(|Loader\s*=|"
                         r"yaml\.(Unsafe|Full)?Loader\b")


def test_yaml_is_only_safe_loaded():
    offenders = []
    for folder in ("perf_orchestration", "assets", "sensors", "resources", "jobs", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if UNSAFE_LOAD.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("name", sorted([*NAMED_FILES, "scenarios/default.yaml"]))
def test_python_tags_are_refused_and_never_run(tmp_path, invariant, name):
    marker = tmp_path / "ran"
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"version: !!python/object/apply:os.system ['touch {marker}']\n"
                      "extra: !!python/object:collections.OrderedDict {}\n", encoding="utf-8")
    loader = load_scenario if name.startswith("scenarios/") else NAMED_FILES[name]
    with pytest.raises(ConfigError) as err:
        loader(target)
    (line,) = err.value.problems
    invariant(f"!!python/object tag in {name}", "refused naming file and line; never run",
              holds=line.startswith(f"{target}: line 1,") and not marker.exists(), tried=1)


# --- (c) webhook signatures ---------------------------------------------------------------


def test_webhook_signature_verified_and_tampering_rejected(invariant):
    from perf_orchestration.delivery import Message, WebhookChannel
    from perf_orchestration.delivery.webhook import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        sign,
        verify,
    )
    from perf_orchestration.testing.webhook import WebhookReceiver

    secret = "whsec-test-8f2b"
    with WebhookReceiver(secret) as hook:
        channel = WebhookChannel(hook.url, secret, backoff_seconds=0.01)
        result = channel.send(Message(idempotency_key="k-1", recipient="E1",
                                      recipient_name="Li Na", subject="FAI low", body="T3"))
        channel.close()
        assert result.status == "delivered" and len(hook.received) == 1
        ts = str(int(time.time()))
        body = b'{"idempotency_key": "k-2", "subject": "ok"}'
        good = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body),
                "Content-Type": "application/json", "Idempotency-Key": "k-2"}
        tampered = body.replace(b"ok", b"pay")
        stale_ts = str(int(time.time()) - 3600)
        attempts = {
            "tampered body": (good, tampered),
            "signature of another secret": ({**good, SIGNATURE_HEADER: sign("other", ts, body)},
                                            body),
            "no signature": ({k: v for k, v in good.items() if k != SIGNATURE_HEADER}, body),
            "replayed an hour later": ({**good, TIMESTAMP_HEADER: stale_ts,
                                        SIGNATURE_HEADER: sign(secret, stale_ts, body)}, body),
        }
        statuses = {what: requests.post(hook.url, data=data, headers=headers, timeout=5)
                    .status_code for what, (headers, data) in attempts.items()}
        accepted = requests.post(hook.url, data=body, headers=good, timeout=5).status_code
        assert hook.rejected == len(attempts)
    assert not verify(secret, ts, tampered, good[SIGNATURE_HEADER])
    invariant("forged or tampered webhook requests", "rejected with 401; the signed one "
              "accepted", holds=set(statuses.values()) == {401} and accepted == 200,
              tried=len(attempts) + 1, rejected=len(attempts))


# --- (d) acknowledgement links ------------------------------------------------------------


def test_ack_links_are_signed_and_expire(invariant):
    from perf_orchestration.alerting.notifications.escalation import (
        ACK_LINK_TTL,
        AckError,
        ack_link,
        verify_ack_link,
    )

    secret, episode = "ack-secret-31", "fai-below-92-5|T3|2026-11-02T01:00:00"
    now = datetime(2026, 11, 2, 3, 0)
    link = ack_link("https://plant1.example/ack", secret, episode, "E41",
                    expires_at=now + ACK_LINK_TTL)
    assert verify_ack_link(secret, link, now=now) == (episode, "E41")
    assert verify_ack_link(secret, link, now=now + ACK_LINK_TTL) == (episode, "E41")
    exp = re.search(r"exp=(\d+)", link).group(1)
    refusals = {
        "expired": (link, now + ACK_LINK_TTL + timedelta(seconds=1), "expired"),
        "expiry pushed back": (link.replace(f"exp={exp}", f"exp={int(exp) + 86400}"), now,
                               "signature"),
        "another person": (link.replace("by=E41", "by=E51"), now, "signature"),
        "another episode": (link.replace("T3", "T4"), now, "signature"),
        "no expiry": (re.sub(r"&exp=\d+", "", link), now, "lacks"),
        "another secret": (ack_link("https://plant1.example/ack", "other", episode, "E41",
                                    now + ACK_LINK_TTL), now, "signature"),
    }
    refused = 0
    for what, (url, at, reason) in refusals.items():
        with pytest.raises(AckError, match=reason) as err:
            verify_ack_link(secret, url, now=at)
        assert "\n" not in str(err.value), what
        refused += 1
    # links made now (the notification path) expire ACK_LINK_TTL from the wall clock
    fresh = ack_link("https://plant1.example/ack", secret, episode, "E41")
    expires = datetime.fromtimestamp(int(re.search(r"exp=(\d+)", fresh).group(1)))
    assert abs(expires - (datetime.now() + ACK_LINK_TTL)) < timedelta(minutes=1)
    invariant("acknowledgement links forged, altered or old", "refused: signed payload "
              "holds episode, person and expiry", holds=refused == len(refusals),
              tried=len(refusals) + 2)


# --- (e) secrets --------------------------------------------------------------------------

WEBHOOK_SECRET = "whsec-SENTINEL-7c41d9"
ACK_SECRET = "acksec-SENTINEL-52e0aa"
SMTP_USER = "perfflow-alerts"
SMTP_PASSWORD = "smtppw-SENTINEL-93b1f7"
WRONG_SMTP_PASSWORD = "smtpwrong-SENTINEL-5c2a90"  # a mistyped password the server refuses
PG_PASSWORD = "pgpw-SENTINEL-0d6e28"
SECRETS = (WEBHOOK_SECRET, ACK_SECRET, SMTP_PASSWORD, WRONG_SMTP_PASSWORD, PG_PASSWORD)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def secret_env(tmp_path, monkeypatch, pg_url):
    """A plant whose secrets are distinctive, a PostgreSQL warehouse URL carrying a
    password (the local server trusts, so any password connects), and receivers (the mail
    server requires SMTP AUTH with the plant's user and password)."""
    from perf_orchestration.testing.smtp import SmtpReceiver
    from perf_orchestration.testing.webhook import WebhookReceiver

    url = sa.make_url(pg_url).set(password=PG_PASSWORD).render_as_string(hide_password=False)
    config = tmp_path / "config"
    config.mkdir()
    routing = _bundled("routing.yaml")
    routing["route"]["group_wait_seconds"] = 0  # each run sends its own notifications
    routing["route"]["group_interval_seconds"] = 0
    (config / "routing.yaml").write_text(yaml.safe_dump(routing, sort_keys=False),
                                         encoding="utf-8")
    with WebhookReceiver(WEBHOOK_SECRET) as hook, \
            SmtpReceiver(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        for key, value in {"PERFFLOW_WAREHOUSE_URL": url, "PERFFLOW_WEBHOOK_URL": hook.url,
                           "PERFFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
                           "PERFFLOW_SMTP_HOST": "127.0.0.1",
                           "PERFFLOW_SMTP_PORT": str(smtp.port),
                           "PERFFLOW_SMTP_USER": SMTP_USER,
                           "PERFFLOW_SMTP_PASSWORD": SMTP_PASSWORD,
                           "PERFFLOW_ACK_URL": "https://plant1.example/ack",
                           "PERFFLOW_ACK_SECRET": ACK_SECRET,
                           "PERFFLOW_CONFIG_DIR": str(config)}.items():
            monkeypatch.setenv(key, value)
        yield url, hook, smtp


def _seed_episode(url: str) -> str:
    from perf_orchestration.tables import metadata
    from perf_orchestration.testing.rows import land_people
    from perf_orchestration.warehouse import ensure_schemas, make_engine

    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    people = [("E1", "Li Na", "T3", "team_leader"), ("E2", "Wang Wei", "T3", "qa_engineer"),
              ("E3", "Sun Li", "T3", "production_planner")]
    land_people(engine, people)
    engine.dispose()
    return _fire_episode(url, datetime(2026, 11, 2, 1))


def _fire_episode(url: str, start: datetime) -> str:
    """A first-article episode of T3 firing two hours after `start`."""
    from perf_orchestration.tables import alert_episodes
    from perf_orchestration.warehouse import make_engine

    engine = make_engine(url)
    episode = f"fai-below-92-5|T3|{start.isoformat()}"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode, rule_id="fai-below-92-5", rule_version="test", subject="T3",
            state="firing", episode_start=start, fired_at=start + timedelta(hours=2),
            detected_at=start + timedelta(hours=2), value=0.85, threshold=0.925))
    engine.dispose()
    return episode


def _scan_run(instance, result) -> list[str]:
    """Every stored event of the run (messages, metadata, errors) and its run config."""
    from dagster._serdes import serialize_value

    texts = [serialize_value(e) for e in instance.all_logs(result.run_id)]
    texts.append(serialize_value(instance.get_run_by_id(result.run_id).run_config))
    return [s for text in texts for s in _leaks(text)]


def test_no_secret_in_event_log_run_config_metadata_messages_or_tables(secret_env, invariant,
                                                                      capfd, monkeypatch):
    import dagster as dg

    from assets.sql_models import plant_calendar_asset
    from jobs.actions import alert_actions_job, notification_dispatch_job
    from perf_orchestration.tables import action_log, metadata
    from perf_orchestration.warehouse import make_engine
    from resources.delivery import delivery_resource
    from resources.warehouse import WarehouseResource, _engine

    url, hook, smtp = secret_env
    _engine.cache_clear()
    episode = _seed_episode(url)
    resources = {"warehouse": WarehouseResource(url=dg.EnvVar("PERFFLOW_WAREHOUSE_URL")),
                 "delivery": delivery_resource()}
    instance = dg.DagsterInstance.ephemeral()
    results = [
        alert_actions_job.execute_in_process(
            run_config={"ops": {"deliver_episode_actions": {"config": {"episode_id": episode}}}},
            resources=resources, instance=instance, raise_on_error=False),
        notification_dispatch_job.execute_in_process(resources=resources, instance=instance,
                                                     raise_on_error=False),
        dg.materialize([plant_calendar_asset], **hours_run("2026-11-02T09:00"),
                       resources=resources, instance=instance, raise_on_error=False),
    ]
    # a run failing on an unreachable warehouse: its error must not quote the URL's password
    bad = sa.make_url(url).set(port=1).render_as_string(hide_password=False)
    results.append(dg.materialize(
        [plant_calendar_asset], **hours_run("2026-11-02T09:00"), instance=instance,
        resources={"warehouse": WarehouseResource(url=bad)}, raise_on_error=False))
    assert smtp.logins == {"accepted": 1} and len(smtp.messages) == 1  # logged in, sent
    # a mistyped SMTP password: the next episode's e-mail is refused at login
    monkeypatch.setenv("PERFFLOW_SMTP_PASSWORD", WRONG_SMTP_PASSWORD)
    refused = _fire_episode(url, datetime(2026, 11, 2, 5))
    results.append(alert_actions_job.execute_in_process(
        run_config={"ops": {"deliver_episode_actions": {"config": {"episode_id": refused}}}},
        resources=resources, instance=instance, raise_on_error=False))
    assert [r.success for r in results] == [True, True, True, False, False]
    sent = [str(m) for m in hook.received] + [m.as_string() for m in smtp.messages]
    assert sent, "nothing was delivered, so nothing was checked"
    assert any("Acknowledge" in s or "ack_url" in s for s in sent)  # the ack secret was used
    leaks = [s for r in results for s in _scan_run(instance, r)]
    leaks += [s for text in sent for s in _leaks(text)]
    engine = make_engine(url)
    with engine.connect() as conn:
        failed = conn.execute(sa.select(action_log.c.detail).where(
            action_log.c.episode_id == refused, action_log.c.channel == "email")).scalar()
        for table in metadata.sorted_tables:
            if table.schema == "ops":
                for row in conn.execute(sa.select(table)):
                    leaks += _leaks(repr(tuple(row)))
    engine.dispose()
    out, err = capfd.readouterr()
    leaks += _leaks(out + err)

    @dg.op
    def careless(context) -> None:
        context.log.info(f"secret is {WEBHOOK_SECRET}")

    control = dg.GraphDefinition("careless", node_defs=[careless]).to_job().execute_in_process(
        instance=instance)
    assert _scan_run(instance, control) == [WEBHOOK_SECRET]  # the scan does see a leak
    _engine.cache_clear()
    where = f"SMTP 127.0.0.1:{smtp.port}"
    invariant("SMTP login refused (a wrong PERFFLOW_SMTP_PASSWORD)",
              "a visible failed delivery naming the server, without the password",
              holds=(failed or "").startswith(where) and "authentication failed" in failed
              and WRONG_SMTP_PASSWORD not in failed and len(smtp.messages) == 1,
              detail=failed, refused_logins=smtp.logins["refused"])
    invariant("secrets in the environment of a run (webhook, ack, SMTP, PostgreSQL password)",
              "absent from event log, run config, asset metadata, messages, ops tables, "
              "output", holds=leaks == [], tried=len(results), runs=len(results),
              messages=len(sent), leaks=len(leaks))


def test_no_password_in_the_urls_users_see(invariant):
    """The demo writes `redacted(url)` into summary.json and report.md, the CLI prints it."""
    from perf_orchestration.warehouse import WarehouseError, make_engine, redacted

    url = f"postgresql://perfflow:{PG_PASSWORD}@db.plant1.example:5432/warehouse"
    shown = [redacted(url), redacted(sa.make_url(url))]
    try:
        make_engine(url.replace("postgresql", "mysql"))
    except WarehouseError as err:
        shown.append(str(err))
    demo = (REPO / "perf_orchestration" / "cli" / "demo.py").read_text(encoding="utf-8")
    assert "warehouse_url=redacted(url)" in demo  # what build_summary receives
    invariant("a PostgreSQL password in the warehouse URL", "never in what users see",
              holds=len(shown) == 3 and not any(PG_PASSWORD in s for s in shown),
              tried=len(shown))


# --- (f) loopback ---------------------------------------------------------------------------


def _listening(port: int) -> set[str]:
    """Addresses this machine listens on at `port`, read from the kernel's socket tables."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port and len(address) == width:
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux socket tables")
def test_every_server_binds_to_loopback_by_default(invariant, sqlite_url):
    from perf_orchestration.alerting.notifications.ack_server import AckServer
    from perf_orchestration.cli import _parser
    from perf_orchestration.cli.live import webserver_command
    from perf_orchestration.simulator import SimulatorServer
    from perf_orchestration.testing.smtp import SmtpReceiver
    from perf_orchestration.testing.webhook import WebhookReceiver

    bound = {}
    with SimulatorServer(load_scenario()) as sim, WebhookReceiver("s") as hook, \
            SmtpReceiver() as smtp, AckServer(sqlite_url, "k3y") as ack:
        for what, port in (("simulator", sim.port), ("webhook receiver", hook.port),
                           ("SMTP receiver", smtp.port), ("acknowledgement endpoint", ack.port)):
            bound[what] = _listening(port)
    assert all(bound.values()), bound
    simulate = _parser().parse_args(["simulate"])
    ack_server = _parser().parse_args(["ack-server", "--port", "8080"])
    ui = webserver_command(3000)
    exposed = {what: a for what, a in bound.items() if not a <= LOOPBACK}
    invariant("servers the project starts (simulator, receivers, acknowledgement endpoint, "
              "perfflow simulate, perfflow ack-server, perfflow live UI)",
              "bound to 127.0.0.1 by default",
              holds=not exposed and simulate.host == "127.0.0.1"
              and ack_server.host == "127.0.0.1"
              and ui[ui.index("-h") + 1] == "127.0.0.1", tried=len(bound) + 3)
