"""`perfflow ack-server`: serve the signed acknowledgement links of notifications."""

from __future__ import annotations

import logging
import os
import sys

from perf_orchestration.alerting.notifications.ack_server import AckServer
from perf_orchestration.alerting.notifications.notify import ACK_SECRET_ENV, ACK_URL_ENV
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.config.files import plant_rules


def run_ack_server(host: str, port: int, warehouse: str | None, path: str,
                   config_dir: str | None = None) -> int:
    secret = os.environ.get(ACK_SECRET_ENV)
    if not secret:
        print(f"perfflow ack-server: {ACK_SECRET_ENV} is not set: set it to the secret the "
              "notifications sign their links with", file=sys.stderr)
        return 1
    rules = plant_rules(config_dir)
    try:
        server = AckServer(warehouse or default_warehouse_url(), secret, host=host, port=port,
                           path=path, rules=rules)
    except (OSError, ValueError) as err:
        print(f"perfflow ack-server: cannot serve on {host}:{port}{path}: {err}",
              file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    public = os.environ.get(ACK_URL_ENV)
    print(f"acknowledgement links served on {server.url}; "
          + (f"{ACK_URL_ENV}={public} must reach it (reverse proxy)" if public
             else f"set {ACK_URL_ENV} to the address your reverse proxy gives it"),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
