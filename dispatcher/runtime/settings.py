"""Every setting of Pulse, read from ``PULSE_*`` environment variables at start-up.

The defaults run on one machine with nothing installed: a SQLite file, the
in-process worker and the outbox channel. Nothing here is read at import time;
call ``load_settings()`` where a process starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.outbound import OutboundPolicy

DEFAULT_SECRET_KEY = "change-me-pulse-development-secret"


class SettingsError(RuntimeError):
    """A setting is missing or wrong; the message names the variable and says what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", extra="ignore", env_file=None)

    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    database_url: str = "sqlite:///./pulse.db"
    # "inprocess" runs tasks and the scheduler inside the API process (pulse run);
    # "celery" hands them to Celery workers through the broker.
    worker: Literal["inprocess", "celery"] = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/0"
    redis_url: str | None = None  # rate limits and token buckets; in-memory when unset
    # How customers and providers reach us; unset, it is where `pulse run` listens (PULSE_HOST, PULSE_PORT).
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # "system" is wall time; "database" keeps a shared, movable clock in the
    # database so tests and the demo can move time for every process at once.
    clock: Literal["system", "database"] = "system"
    tick_seconds: float = Field(default=5.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # A message handed to a channel whose result was never recorded (the worker
    # died) is reported as "unknown" after this long, and never resent.
    sending_timeout_seconds: float = Field(default=600.0, gt=0)
    # How long Redis keeps a task a worker took before giving it to another worker
    # (Celery with Redis redelivers a dead worker's tasks only after this).
    broker_visibility_timeout: int = Field(default=3600, ge=1)
    # Each worker process writes a heartbeat this often; what a worker that stopped
    # beating for three periods held (messages in flight, step and selection claims)
    # is recovered at once. Work lost without a dead worker (a task dropped by the
    # broker) is handed out again after the broker's visibility timeout above.
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    provider_timeout_seconds: float = Field(default=10.0, gt=0)  # one request to SendGrid, Twilio, SMTP
    max_attempts: int = Field(default=8, ge=1)  # transient failures before a message fails
    link_ttl_days: int = Field(default=60, ge=1, le=3650)  # how long survey answer links work
    # Unsubscribe links outlive the survey: a year-old email's footer must still work.
    unsubscribe_ttl_days: int = Field(default=365, ge=1, le=3650)
    # Public answer endpoints (/r, /u, /v1/in-app): requests a minute per client IP,
    # and per link token or in-app contact; over either, 429 with Retry-After.
    answer_rate_per_ip: int = Field(default=600, ge=1)
    answer_rate_per_token: int = Field(default=30, ge=1)
    # The in-app widget: the product's pages carry the publishable key, and the
    # product's server signs each contact's external id with the secret
    # (HMAC-SHA256, hex), so nobody can read or answer another person's prompt.
    in_app_publishable_key: str | None = None
    in_app_secret: SecretStr | None = None

    # Logs: "auto" is one JSON object per line in production, readable lines elsewhere.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The console (/console): sign-in links expire in minutes; sessions last hours.
    console_link_minutes: int = Field(default=15, ge=1, le=1440)
    console_session_hours: int = Field(default=72, ge=1, le=24 * 90)
    share_link_days: int = Field(default=30, ge=1, le=365)  # read-only results links
    # The /outbox pages: always on in development; elsewhere only when this is true,
    # and then only for team members signed in to the console.
    outbox_pages: bool = False
    # Channel choice (dispatcher.routing): how fast old engagement fades, whether
    # Thompson sampling explores (off: always the best estimate), and the seed
    # every step's draws derive from (with the campaign and step), so runs replay.
    channel_half_life_days: float = Field(default=180.0, ge=30, le=3650)
    channel_explore: bool = True
    channel_seed: int = Field(default=0, ge=0)

    # What customers read: the company that asks, and who signs.
    company_name: str = "Acme"
    sender_name: str = "The Acme Customer Success team"
    support_contact: str = "support@acme.example"
    # Where a reply to a thank-you goes when the answer's follow-up has no owner
    # (thank-yous invite replies); unset: support_contact when it is an address.
    reply_to: str | None = None

    # Channels. A channel without credentials is unavailable.
    email_channel: Literal["outbox", "sendgrid", "smtp"] = "outbox"
    sms_channel: Literal["outbox", "twilio"] = "outbox"
    outbox_dir: Path = Path("./outbox")
    email_from: str = "Pulse <surveys@pulse.localhost>"
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_max_personalizations: int = Field(default=1000, ge=1, le=1000)  # per Mail Send request
    sendgrid_webhook_public_key: str | None = None  # base64 DER ECDSA key from SendGrid
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str | None = None  # set to point the SDK at a fake
    sms_mps: float = Field(default=1.0, gt=0)  # messages per second per sender (long code: 1)

    # Slack webhooks and outgoing webhooks never reach loopback, private, link-local
    # or metadata addresses, except these: comma-separated host names and networks
    # (e.g. "hooks.internal.example,10.0.5.0/24") for self-hosted targets.
    outbound_allow: str = ""

    @field_validator("outbound_allow")
    @classmethod
    def _known_destinations(cls, value: str) -> str:
        OutboundPolicy.parse(value.split(","))  # raises naming the bad entry
        return value

    @property
    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy.parse(self.outbound_allow.split(","))

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
            self.public_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _no_default_secret_outside_development(self) -> Settings:
        if (
            self.environment != "development"
            and self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY
        ):
            raise ValueError(
                "PULSE_SECRET_KEY is the development default; set a long random value "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.environment == "production")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; raise ``SettingsError`` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [str(part) for part in error["loc"] if part != "__root__"]
            name = "PULSE_" + location[0].upper() if location else "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("Invalid Pulse settings:\n  " + "\n  ".join(problems)) from None
