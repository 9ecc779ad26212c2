"""The in-app adapter stores a contact's pending prompt until the end of its step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from channels.base import ErrorKind, OutgoingMessage
from channels.in_app import (
    InAppChannel,
    InMemoryPromptStore,
    PromptRequest,
    PromptStoreUnavailable,
)

MessageFactory = Callable[..., OutgoingMessage]


def test_the_prompt_is_stored_with_its_expiry_and_the_prompt_id_is_the_provider_id(
    prompt_store: InMemoryPromptStore, in_app_message: MessageFactory
) -> None:
    step_ends = datetime(2031, 3, 14, 18, 0, tzinfo=UTC)
    message = in_app_message(message_id="msg_7", to="contact-42", expires_at=step_ends)

    [result] = InAppChannel(prompt_store).send([message])

    assert result.ok, result.error
    stored = prompt_store.prompts["msg_7"]
    assert result.provider_message_id == stored.prompt_id
    assert (stored.contact_external_id, stored.expires_at) == ("contact-42", step_ends)
    assert stored.payload == {
        "text": message.text,
        "kind": "nps",
        "scale": [0, 10],
        "token": "tok_abc",
    }
    assert prompt_store.pending_for("contact-42", step_ends - timedelta(seconds=1)) == [stored]
    assert prompt_store.pending_for("contact-42", step_ends) == []


def test_sending_the_same_message_twice_keeps_one_prompt(
    prompt_store: InMemoryPromptStore, in_app_message: MessageFactory
) -> None:
    message = in_app_message()
    channel = InAppChannel(prompt_store)

    [first] = channel.send([message])
    [again] = channel.send([message])

    assert first.provider_message_id == again.provider_message_id
    assert len(prompt_store.prompts) == 1


def test_build_requests_fills_placeholders_without_storing(
    prompt_store: InMemoryPromptStore, in_app_message: MessageFactory
) -> None:
    message = in_app_message(
        text="Hi -first-!", subject="Quick question", substitutions={"-first-": "Ana"}
    )
    [request] = InAppChannel(prompt_store).build_requests([message])
    assert isinstance(request, PromptRequest)
    assert request.payload["text"] == "Hi Ana!"
    assert request.payload["title"] == "Quick question"
    assert prompt_store.prompts == {}


def test_a_prompt_without_an_expiry_is_refused(
    prompt_store: InMemoryPromptStore, in_app_message: MessageFactory
) -> None:
    naive = datetime(2031, 1, 1, 12, 0)
    results = InAppChannel(prompt_store).send(
        [in_app_message(expires_at=None), in_app_message(expires_at=naive)]
    )
    assert [(r.error.kind, r.error.code) for r in results if r.error] == [
        (ErrorKind.PERMANENT, "expiry_missing"),
        (ErrorKind.PERMANENT, "expiry_missing"),
    ]
    assert prompt_store.prompts == {}


def test_a_prompt_whose_step_already_ended_is_not_stored(
    prompt_store: InMemoryPromptStore, in_app_message: MessageFactory
) -> None:
    now = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    channel = InAppChannel(prompt_store, clock=lambda: now)

    [result] = channel.send([in_app_message(expires_at=now)])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.PERMANENT, "expired")
    assert prompt_store.prompts == {}


def test_a_store_outage_is_transient(in_app_message: MessageFactory) -> None:
    class DownStore:
        def save_prompt(
            self,
            *,
            message_id: str,
            contact_external_id: str,
            payload: Mapping[str, Any],
            expires_at: datetime,
        ) -> str:
            raise PromptStoreUnavailable("database unreachable")

    [result] = InAppChannel(DownStore()).send([in_app_message()])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.TRANSIENT, "store_unavailable")
