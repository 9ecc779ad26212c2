"""Opening the unsubscribe link again after unsubscribing says so, with no button to press again."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_links import survey


def test_reopening_the_link_after_unsubscribing_says_you_are_unsubscribed(runtime: Runtime, link_client: TestClient) -> None:
    item = survey(runtime, email="ana@example.com")
    assert '<form method="post"' in link_client.get(item.unsubscribe_path).text

    link_client.post(item.unsubscribe_path)
    again = link_client.get(item.unsubscribe_path)

    assert again.status_code == 200
    assert "You are unsubscribed" in again.text
    assert "<form" not in again.text and "<button" not in again.text


def test_in_german_too(runtime: Runtime, link_client: TestClient) -> None:
    item = survey(runtime, email="ben@example.com", locale="de")
    link_client.post(item.unsubscribe_path)
    again = link_client.get(item.unsubscribe_path)
    assert "Sie sind abgemeldet" in again.text and "<form" not in again.text
