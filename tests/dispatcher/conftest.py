"""Fixtures the dispatcher's tests share."""

from __future__ import annotations

import pytest

from tests.fakes.fixtures_email import sendgrid_fake  # noqa: F401 (a fixture, used by ``sendgrid``)
from tests.fakes.sendgrid_fake import SendGridFake


@pytest.fixture
def sendgrid(sendgrid_fake: SendGridFake) -> SendGridFake:  # noqa: F811
    """SendGrid's fake at its HTTP boundary (the channels' fixture, under the name these tests use)."""
    return sendgrid_fake
