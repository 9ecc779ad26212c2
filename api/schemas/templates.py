"""Request bodies of /v1/templates."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from campaigns.db import ID_MAX

MAX_SOURCE = 200_000  # characters per part; a rich email is ~20 KB


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: dict[str, str] = Field(description="part → Jinja source: subject, txt, html (email), txt (sms, in_app), mrkdwn (slack); parts left out stay as they are")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: dict[str, str] | None = Field(default=None, description="unsaved text to preview; the saved draft when left out")
    contact_id: int | None = Field(default=None, ge=1, le=ID_MAX, description="a real contact's name in the preview instead of sample data (nothing is sent to them)")


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000, description="what changed and why, shown in the history")


class RollbackIn(PublishIn):
    version: int = Field(ge=1, le=ID_MAX, description="the version whose text becomes current again")


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=3, max_length=320, description="your own email address or phone number (never a contact's)")
    parts: dict[str, str] | None = None
    contact_id: int | None = Field(default=None, ge=1, le=ID_MAX)


class ConsoleTestSendIn(BaseModel):
    """The console's test-send: email goes to the signed-in member, so ``to`` is only an SMS number."""

    model_config = ConfigDict(extra="forbid")
    to: str | None = Field(default=None, max_length=320)
    parts: dict[str, str] | None = None
    contact_id: int | None = Field(default=None, ge=1, le=ID_MAX)


class LocaleProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    company_name: str | None = Field(default=None, max_length=200)
    sender_name: str | None = Field(default=None, max_length=200, description="the signature under every email, in this locale's language")
    support_contact: str | None = Field(default=None, max_length=320)
