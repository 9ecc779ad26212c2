"""Slack incoming webhooks, for the CS team's internal messages (kickoff, summary, alerts).

``OutgoingMessage.to`` is the webhook URL and ``text`` the JSON payload that the
``slack`` templates render. One POST per message; Slack answers 200 "ok".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult


@dataclass(frozen=True)
class SlackConfig:
    timeout: float = 10.0


class SlackChannel:
    name = "slack"
    medium = "slack"
    max_batch = 50

    def __init__(self, config: SlackConfig | None = None, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config or SlackConfig()
        self._client = httpx.Client(timeout=self.config.timeout, transport=transport)

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[dict[str, Any]]:
        requests = []
        for message in messages:
            filled = message.materialize()
            try:
                body = json.loads(filled.text)
            except ValueError:
                body = {"text": filled.text}  # plain mrkdwn is a valid payload too
            requests.append({"url": message.to, "json": body})
        return requests

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message, request in zip(messages, self.build_requests(messages)):
            results.append(SendResult(message.message_id, error=self._post(request)))
        return results

    def _post(self, request: dict[str, Any]) -> ChannelError | None:
        try:
            response = self._client.post(request["url"], json=request["json"])
        except httpx.TimeoutException as exc:
            return ChannelError(ErrorKind.TRANSIENT, "timeout", str(exc) or "Slack did not answer in time")
        except httpx.HTTPError as exc:
            return ChannelError(ErrorKind.TRANSIENT, "connection", str(exc))
        if response.status_code == 200:
            return None
        text = response.text[:300]
        if response.status_code == 429:
            retry = response.headers.get("Retry-After")
            return ChannelError(ErrorKind.TRANSIENT, "429", text, float(retry) if retry and retry.isascii() and retry.isdigit() else None)
        if response.status_code >= 500:
            return ChannelError(ErrorKind.TRANSIENT, str(response.status_code), text)
        # 403 invalid_token, 404 no_service, 410 channel_is_archived: the webhook is gone.
        if response.status_code in (403, 404, 410):
            return ChannelError(ErrorKind.MISCONFIGURED, str(response.status_code), f"Slack refused the webhook: {text}")
        return ChannelError(ErrorKind.PERMANENT, str(response.status_code), text)

    def close(self) -> None:
        self._client.close()
