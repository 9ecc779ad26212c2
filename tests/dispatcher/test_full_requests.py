"""Mail Send requests leave full: a step's batches gather each content's messages across batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.scheduler import tick
from tests.backends import Backend
from tests.conftest import make_settings
from tests.dispatcher.test_delivery_outcomes import launch
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake


@pytest.fixture
def sendgrid() -> Iterator[SendGridFake]:
    fake = SendGridFake()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def mailing(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, runtime: Runtime) -> Iterator[Runtime]:
    settings = make_settings(backend, tmp_path, email_channel="sendgrid", sendgrid_api_key=FAKE_API_KEY, sendgrid_base_url=sendgrid.base_url, batch_size=200)
    mail = attach_inline_queue(build_runtime(settings))
    yield mail
    mail.close()


def test_requests_carry_a_content_s_messages_from_many_batches(mailing: Runtime, session: Session, sendgrid: SendGridFake) -> None:
    """1,500 contacts in batches of 200, a quarter in German: 1,125 English invites go out as
    1,000 + 125 and 375 German ones as one request — not two half-empty requests per batch."""
    campaign_id = launch(mailing, 1500)
    with mailing.sessions() as setup:
        setup.execute(update(Contact).where(Contact.id % 4 == 0).values(locale="de"))
        setup.commit()

    tick(mailing)

    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 1500}
    sizes = sorted(len(r.body["personalizations"]) for r in sendgrid.requests)
    assert sizes == [125, 375, 1000]
