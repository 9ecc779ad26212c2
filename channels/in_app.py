"""In-app prompts: "sending" one stores it until the product asks for it.

The product's front end asks ``/v1/in-app/...`` for a contact's pending prompt;
this adapter only leaves the prompt there, valid until the end of its plan step.
``channels`` may not touch the database models, so the storage is an injected
``PromptStore``: the dispatcher passes a database-backed one, tests the
in-memory one below.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult


class PromptStoreUnavailable(Exception):
    """Raised by a ``PromptStore`` that cannot save right now (database down): worth retrying."""


class PromptStore(Protocol):
    def save_prompt(
        self,
        *,
        message_id: str,
        contact_external_id: str,
        payload: Mapping[str, Any],
        expires_at: datetime,
    ) -> str:
        """Store the pending prompt; return its id.

        Idempotent per ``message_id``: saving the same message again returns
        the id of the prompt already stored and changes nothing, so a
        redelivered send task cannot put two prompts in front of a contact.
        Raises ``PromptStoreUnavailable`` when the store cannot be reached.
        """
        ...


@dataclass(frozen=True)
class StoredPrompt:
    prompt_id: str
    message_id: str
    contact_external_id: str
    payload: Mapping[str, Any]
    expires_at: datetime


class InMemoryPromptStore:
    """A ``PromptStore`` in a dict, for tests and the embedded demo. Thread-safe."""

    def __init__(self) -> None:
        self.prompts: dict[str, StoredPrompt] = {}  # by message id
        self._lock = threading.Lock()

    def save_prompt(
        self,
        *,
        message_id: str,
        contact_external_id: str,
        payload: Mapping[str, Any],
        expires_at: datetime,
    ) -> str:
        with self._lock:
            existing = self.prompts.get(message_id)
            if existing is not None:
                return existing.prompt_id
            prompt = StoredPrompt(
                prompt_id=f"prompt_{uuid.uuid4().hex}",
                message_id=message_id,
                contact_external_id=contact_external_id,
                payload=dict(payload),
                expires_at=expires_at,
            )
            self.prompts[message_id] = prompt
            return prompt.prompt_id

    def pending_for(self, contact_external_id: str, now: datetime) -> list[StoredPrompt]:
        """The prompts a contact would be shown at ``now``, oldest first."""
        with self._lock:
            return [
                prompt
                for prompt in self.prompts.values()
                if prompt.contact_external_id == contact_external_id and prompt.expires_at > now
            ]


@dataclass(frozen=True)
class InAppConfig:
    name: str = "in_app"
    max_batch: int = 500


@dataclass(frozen=True)
class PromptRequest:
    """What ``send`` will ask the store to save for one message."""

    message_id: str
    contact_external_id: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InAppChannel:
    """The ``Channel`` for in-app prompts: ``to`` is the contact's external id."""

    medium = "in_app"

    def __init__(
        self,
        store: PromptStore,
        config: InAppConfig | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config or InAppConfig()
        self.name = self.config.name
        self.max_batch = self.config.max_batch
        self._store = store
        self._clock = clock

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[Any]:
        prompts: list[Any] = []
        for message in messages:
            filled = message.materialize()
            # The widget shows the rendered text above the scale; the payload
            # (question, scale, answer token) comes from the templates as is.
            payload: dict[str, Any] = {"text": filled.text, **filled.payload}
            if filled.subject:
                payload.setdefault("title", filled.subject)
            prompts.append(
                PromptRequest(
                    message_id=message.message_id,
                    contact_external_id=filled.to,
                    payload=payload,
                    expires_at=message.expires_at,
                )
            )
        return prompts

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Store one prompt per message; the result's provider id is the prompt id.

        Never raises for a store outage (TRANSIENT result). A message without a
        timezone-aware ``expires_at``, or one already past it, is PERMANENT:
        a prompt must disappear when its step ends.
        """
        return [self._send_one(request) for request in self.build_requests(messages)]

    def _send_one(self, request: PromptRequest) -> SendResult:
        def failed(kind: ErrorKind, code: str, text: str) -> SendResult:
            return SendResult(request.message_id, error=ChannelError(kind, code, text))

        expires_at = request.expires_at
        if expires_at is None or expires_at.tzinfo is None:
            return failed(
                ErrorKind.PERMANENT,
                "expiry_missing",
                "an in-app prompt needs expires_at with a timezone (the end of its step)",
            )
        if expires_at <= self._clock():
            return failed(
                ErrorKind.PERMANENT,
                "expired",
                f"the step ended at {expires_at.isoformat()}; prompt not stored",
            )
        if not request.contact_external_id:
            return failed(ErrorKind.PERMANENT, "no_contact", "the contact has no external id")
        try:
            prompt_id = self._store.save_prompt(
                message_id=request.message_id,
                contact_external_id=request.contact_external_id,
                payload=request.payload,
                expires_at=expires_at,
            )
        except PromptStoreUnavailable as exc:
            return failed(ErrorKind.TRANSIENT, "store_unavailable", str(exc))
        return SendResult(request.message_id, provider_message_id=prompt_id)

    def close(self) -> None:
        """Nothing to release: the store belongs to the caller."""
