"""A send task's next chunk is claimed, built and posted while the previous Mail Send request is still out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    # Requests of 25 and step batches of 100: each send task carries four requests.
    settings = make_settings(backend, tmp_path, email_channel="sendgrid", sendgrid_api_key=FAKE_API_KEY,
                             sendgrid_base_url=sendgrid.base_url, sendgrid_max_personalizations=25, batch_size=100)
    mail = attach_inline_queue(build_runtime(settings))
    yield mail
    mail.close()


def test_the_next_request_leaves_while_the_previous_one_is_out(mailing: Runtime, session: Session, sendgrid: SendGridFake) -> None:
    campaign_id = launch(mailing, 100)
    sendgrid.stall(1.0)  # the first request is held: the second is answered before it

    tick(mailing)

    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 100}
    requests = sendgrid.requests
    assert [len(r.body["personalizations"]) for r in requests] == [25, 25, 25, 25]
    recipients = [address for r in requests for address in r.recipients]
    assert len(recipients) == len(set(recipients)) == 100  # each message in exactly one request
    first_chunk = min(requests, key=lambda r: min(int(p["custom_args"]["pulse_message_id"]) for p in r.body["personalizations"]))
    assert requests[0] is not first_chunk  # answered first, though sent second
    assert requests[0].connection_id != first_chunk.connection_id
