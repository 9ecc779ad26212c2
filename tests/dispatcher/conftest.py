"""Fixtures the dispatcher's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.sendgrid_fake import SendGridFake


@pytest.fixture
def sendgrid() -> Iterator[SendGridFake]:
    """SendGrid's fake at its HTTP boundary, checking requests against SendGrid's own spec."""
    fake = SendGridFake()
    fake.start()
    yield fake
    fake.stop()
