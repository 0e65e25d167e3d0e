"""`perfflow live`: the Dagster daemon (and optionally the UI) with the sensors on.

With `--simulate` (for trying it, the benchmark and the tests) the plant simulator serves
the sources in real time (records appear stamped with the wall clock as they are added),
a signed-webhook receiver stands in for the team chat and a local SMTP server for mail;
without it, the sources, webhook and mail come from the PERFFLOW_* environment. The
roster is loaded once (roster_job) so actions can be routed, then `dagster-daemon run`
starts: the source watch sensor polls the MES every few seconds and launches
alert_actions_job for each episode that fires. The acknowledgement endpoint runs beside
it when PERFFLOW_ACK_SECRET is set, or with `--simulate` (a generated secret, and the
links pointing at it).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.plant_calendar import TIMEZONE_ENV
from perf_orchestration.warehouse import embedded_url, make_engine

# The live instance: the queue is checked every second (the default is 5 s) and runs are
# launched in their own processes, at most four at a time.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
    dequeue_interval_seconds: 1
"""
WATCHED_SYSTEM = "/mes/"  # the source watch sensor reads the MES


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class LiveStack:
    """Everything `start_live` started; `stop()` ends it in reverse order."""

    out_dir: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    servers: list = field(default_factory=list)
    simulator: object | None = None
    webhook: object | None = None
    smtp: object | None = None
    ack: object | None = None

    @property
    def home(self) -> Path:
        return self.out_dir / "dagster_home"

    def wait_until_watching(self, timeout: float = 90.0) -> bool:
        """Wait for the source watch sensor's first read at the simulator."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.simulator is not None and any(
                    path.startswith(WATCHED_SYSTEM) for path in self.simulator.stats()["requests"]):
                return True
            if any(p.poll() is not None for p in self.processes):
                return False
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.processes):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for s in reversed(self.servers):
            s.stop()

    def __enter__(self) -> LiveStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _load_roster(env: dict[str, str], home: Path) -> None:
    """Run roster_job in process so the actions can be routed from the first tick."""
    import dagster as dg

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from perf_orchestration.definitions import defs

        instance = dg.DagsterInstance.from_config(str(home))
        result = defs.resolve_job_def("roster_job").execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        if not result.success:
            raise RuntimeError("roster_job failed; see the run in the Dagster UI")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def webserver_command(ui_port: int) -> list[str]:
    """The Dagster UI on loopback only: it runs jobs for whoever reaches it, so exposing it
    is a decision for a reverse proxy with authentication, not a default."""
    return [_bin("dagster-webserver"), "-m", "perf_orchestration.definitions",
            "-h", "127.0.0.1", "-p", str(ui_port)]


def start_live(out: str | Path, *, simulate: bool = True, ui_port: int | None = None,
               config_dir: str | None = None, warehouse: str | None = None,
               instance_config: str | None = None, ack_port: int = 0,
               say=lambda line: None, scenario: str | None = None) -> LiveStack:
    """Start the live stack under `out` (instance, warehouse, logs) and return it.

    `instance_config` (e.g. deploy/dagster.yaml) is checked and installed as the
    instance's dagster.yaml; without it the instance is embedded under `out`."""
    out_dir = Path(out).resolve()
    home = out_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if instance_config:  # a missing variable or an unreachable server fails here, in one line
        from perf_orchestration.cli.deploy import prepare_home

        for line in prepare_home(Path(instance_config).resolve(), home):
            say(line)
    elif not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {"DAGSTER_HOME": str(home),
           "PERFFLOW_WAREHOUSE_URL": warehouse or os.environ.get("PERFFLOW_WAREHOUSE_URL")
           or embedded_url(out_dir / "warehouse")}
    make_engine(env["PERFFLOW_WAREHOUSE_URL"]).dispose()  # a bad URL fails here, in one line
    if config_dir:
        env["PERFFLOW_CONFIG_DIR"] = str(Path(config_dir).resolve())
    stack = LiveStack(out_dir, env)
    try:
        if simulate:
            from perf_orchestration.scenarios.config import load_scenario
            from perf_orchestration.simulator import SimulatorServer
            from perf_orchestration.testing.smtp import SmtpReceiver
            from perf_orchestration.testing.webhook import WebhookReceiver

            plant = load_scenario(scenario)
            env[TIMEZONE_ENV] = plant.timezone  # the simulated plant's clock
            token, secret = secrets.token_urlsafe(16), secrets.token_hex(16)
            stack.simulator = SimulatorServer(plant, port=0, token=token).start()
            stack.webhook = WebhookReceiver(secret).start()
            stack.smtp = SmtpReceiver().start()
            stack.servers += [stack.simulator, stack.webhook, stack.smtp]
            env.update({"PERFFLOW_WEBHOOK_URL": stack.webhook.url,
                        "PERFFLOW_WEBHOOK_SECRET": secret, "PERFFLOW_SMTP_HOST": "127.0.0.1",
                        "PERFFLOW_SMTP_PORT": str(stack.smtp.port)})
            for system in SYSTEMS:
                env[f"PERFFLOW_{system.upper()}_URL"] = stack.simulator.url
                env[f"PERFFLOW_{system.upper()}_TOKEN"] = token
        _start_ack_server(stack, simulate, ack_port, config_dir)
        _load_roster(env, home)
        child_env = {**os.environ, **env}
        with open(out_dir / "daemon.log", "ab") as log:
            stack.processes.append(subprocess.Popen(
                [_bin("dagster-daemon"), "run", "-m", "perf_orchestration.definitions"],
                env=child_env, stdout=log, stderr=subprocess.STDOUT, cwd=out_dir))
        if ui_port is not None:
            with open(out_dir / "webserver.log", "ab") as log:
                stack.processes.append(subprocess.Popen(
                    webserver_command(ui_port),
                    env=child_env, stdout=log, stderr=subprocess.STDOUT, cwd=out_dir))
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_ack_server(stack: LiveStack, simulate: bool, port: int,
                      config_dir: str | None) -> None:
    """Serve the acknowledgement links; with --simulate the notifications' links point at
    it (a generated secret), else PERFFLOW_ACK_URL stays the plant's proxy address."""
    from perf_orchestration.alerting.notifications.ack_server import AckServer
    from perf_orchestration.alerting.notifications.notify import ACK_SECRET_ENV, ACK_URL_ENV
    from perf_orchestration.config.files import plant_rules

    secret = secrets.token_hex(16) if simulate else os.environ.get(ACK_SECRET_ENV)
    if not secret:
        return
    stack.ack = AckServer(stack.env["PERFFLOW_WAREHOUSE_URL"], secret, port=port,
                          rules=plant_rules(config_dir)).start()
    stack.servers.append(stack.ack)
    if simulate:
        stack.env.update({ACK_SECRET_ENV: secret, ACK_URL_ENV: stack.ack.url})
    elif not os.environ.get(ACK_URL_ENV):
        stack.env[ACK_URL_ENV] = stack.ack.url


def run_live(out: str, simulate: bool, ui_port: int | None, config_dir: str | None,
             warehouse: str | None, instance_config: str | None = None,
             ack_port: int = 0, scenario: str | None = None) -> int:
    if scenario and not simulate:
        raise SettingError("--scenario needs --simulate")
    stack = start_live(out, simulate=simulate, ui_port=ui_port, config_dir=config_dir,
                       warehouse=warehouse, instance_config=instance_config,
                       ack_port=ack_port, say=print, scenario=scenario)
    with stack:
        print(f"dagster-daemon running; instance {stack.home}, log {stack.out_dir / 'daemon.log'}")
        if ui_port is not None:
            print(f"Dagster UI on http://127.0.0.1:{ui_port}")
        if stack.simulator is not None:
            print(f"plant simulator on {stack.simulator.url} (add records: POST "
                  f"{stack.simulator.url}/_admin/records); team chat webhook "
                  f"{stack.webhook.url}; mail on 127.0.0.1:{stack.smtp.port}")
        if stack.ack is not None:
            print(f"acknowledgement links served on {stack.ack.url}")
        print("sensors: source_watch_sensor, alert_episode_sensor (on by default); "
              "Ctrl-C stops")
        try:
            while all(p.poll() is None for p in stack.processes):
                time.sleep(1)
        except KeyboardInterrupt:
            return 0
    failed = [p.args[0] for p in stack.processes if p.returncode not in (0, None)]
    print(f"perfflow live: {', '.join(failed) or 'a process'} stopped; see the logs in {out}",
          file=sys.stderr)
    return 1
