"""The explicit registry: channel name → adapter class, and which medium each serves.

Adding a provider: write ``channels/<provider>.py`` with a config dataclass and
a class implementing ``channels.base.Channel``; add it here; teach
``dispatcher/runtime/channel_setup.py`` how to build its config from settings; test it
against a fake of the provider's HTTP API in ``tests/fakes``.
"""

from __future__ import annotations

from channels.in_app import InAppChannel
from channels.outbox import OutboxChannel
from channels.sendgrid import SendGridChannel
from channels.slack import SlackChannel
from channels.smtp import SMTPChannel
from channels.twilio_sms import TwilioSmsChannel

ADAPTERS: dict[str, type] = {
    "sendgrid": SendGridChannel,
    "smtp": SMTPChannel,
    "outbox_email": OutboxChannel,
    "twilio": TwilioSmsChannel,
    "outbox_sms": OutboxChannel,
    "in_app": InAppChannel,
    "slack": SlackChannel,
}
