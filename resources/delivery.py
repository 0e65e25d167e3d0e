"""Delivery channels as a resource: a signed webhook and SMTP, fed by environment variables."""

import dagster as dg
from pydantic import Field

# Optional SMTP login, read when a run builds its channels (never at load, never into run
# config): unset, the mail server is used without AUTH, as on a plant's internal relay.
SMTP_USER = dg.EnvVar("PERFFLOW_SMTP_USER")
SMTP_PASSWORD = dg.EnvVar("PERFFLOW_SMTP_PASSWORD")
SMTP_STARTTLS = dg.EnvVar("PERFFLOW_SMTP_STARTTLS")
SMTP_TLS = dg.EnvVar("PERFFLOW_SMTP_TLS")  # none, starttls or implicit (port 465)
SMTP_CA_FILE = dg.EnvVar("PERFFLOW_SMTP_CA_FILE")
TLS_MODES = ("none", "starttls", "implicit")
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off", "")


class DeliveryResource(dg.ConfigurableResource):
    """Where actions go: the chat webhook (signed with HMAC-SHA256) and the mail server."""

    webhook_url: str = Field(description="Chat bot or integration URL receiving alerts")
    webhook_secret: str | None = Field(default=None, description="HMAC secret (EnvVar)")
    webhook_flavor: str = Field(default="generic",
                                description="generic, wecom, dingtalk, feishu or slack")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "perfflow@plant1.example.com"
    smtp_user: str | None = Field(default=None, description=(
        "SMTP AUTH user; unset: PERFFLOW_SMTP_USER if set, else no login"))
    smtp_password: str | None = Field(default=None, repr=False, description=(
        "SMTP AUTH password (pass a dg.EnvVar); unset: PERFFLOW_SMTP_PASSWORD"))
    smtp_starttls: bool | None = Field(default=None, description=(
        "STARTTLS before login; unset: PERFFLOW_SMTP_STARTTLS (true/false, default false)"))
    max_retries: int = 3
    backoff_seconds: float = 0.5

    def channels(self) -> dict:
        from perf_orchestration.delivery import EmailChannel, WebhookChannel

        user = self.smtp_user if self.smtp_user is not None else SMTP_USER.get_value()
        password = (self.smtp_password if self.smtp_password is not None
                    else SMTP_PASSWORD.get_value())
        mode = _tls_mode() if self.smtp_starttls is None else (
            "starttls" if self.smtp_starttls else "none")
        return {
            "webhook": WebhookChannel(self.webhook_url, self.webhook_secret,
                                      flavor=self.webhook_flavor, max_retries=self.max_retries,
                                      backoff_seconds=self.backoff_seconds,
                                      secret_env="PERFFLOW_WEBHOOK_SECRET"),
            "email": EmailChannel(self.smtp_host, self.smtp_port, self.smtp_sender,
                                  username=user or None, password=password or None,
                                  starttls=mode == "starttls",
                                  implicit_tls=mode == "implicit",
                                  ca_file=SMTP_CA_FILE.get_value() or None,
                                  max_retries=self.max_retries,
                                  backoff_seconds=self.backoff_seconds,
                                  password_env=SMTP_PASSWORD.env_var_name,
                                  user_env=SMTP_USER.env_var_name),
        }


def _tls_mode() -> str:
    """PERFFLOW_SMTP_TLS, else STARTTLS when PERFFLOW_SMTP_STARTTLS is true, else none."""
    from perf_orchestration.delivery import DeliveryError

    mode = (SMTP_TLS.get_value() or "").strip().lower()
    if mode:
        if mode not in TLS_MODES:
            raise DeliveryError(f"{SMTP_TLS.env_var_name}: expected one of "
                                f"{', '.join(TLS_MODES)}, got {SMTP_TLS.get_value()!r}")
        return mode
    value = (SMTP_STARTTLS.get_value() or "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise DeliveryError(f"{SMTP_STARTTLS.env_var_name}: expected true or false, got "
                            f"{SMTP_STARTTLS.get_value()!r}")
    return "starttls" if value in _TRUE else "none"


def delivery_resource() -> DeliveryResource:
    return DeliveryResource(
        webhook_url=dg.EnvVar("PERFFLOW_WEBHOOK_URL"),
        webhook_secret=dg.EnvVar("PERFFLOW_WEBHOOK_SECRET"),
        smtp_host=dg.EnvVar("PERFFLOW_SMTP_HOST"),
        smtp_port=dg.EnvVar.int("PERFFLOW_SMTP_PORT"),
    )
