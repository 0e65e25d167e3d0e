"""Delivery channels as a resource: a signed webhook and SMTP, fed by environment variables."""

import dagster as dg
from pydantic import Field


class DeliveryResource(dg.ConfigurableResource):
    """Where actions go: the chat webhook (signed with HMAC-SHA256) and the mail server."""

    webhook_url: str = Field(description="Chat bot or integration URL receiving alerts")
    webhook_secret: str | None = Field(default=None, description="HMAC secret (EnvVar)")
    webhook_flavor: str = Field(default="generic",
                                description="generic, wecom, dingtalk, feishu or slack")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "perfflow@plant1.example.com"
    max_retries: int = 3
    backoff_seconds: float = 0.5

    def channels(self) -> dict:
        from perf_orchestration.delivery import EmailChannel, WebhookChannel

        return {
            "webhook": WebhookChannel(self.webhook_url, self.webhook_secret,
                                      flavor=self.webhook_flavor, max_retries=self.max_retries,
                                      backoff_seconds=self.backoff_seconds,
                                      secret_env="PERFFLOW_WEBHOOK_SECRET"),
            "email": EmailChannel(self.smtp_host, self.smtp_port, self.smtp_sender,
                                  max_retries=self.max_retries,
                                  backoff_seconds=self.backoff_seconds),
        }


def delivery_resource() -> DeliveryResource:
    return DeliveryResource(
        webhook_url=dg.EnvVar("PERFFLOW_WEBHOOK_URL"),
        webhook_secret=dg.EnvVar("PERFFLOW_WEBHOOK_SECRET"),
        smtp_host=dg.EnvVar("PERFFLOW_SMTP_HOST"),
        smtp_port=dg.EnvVar.int("PERFFLOW_SMTP_PORT"),
    )
