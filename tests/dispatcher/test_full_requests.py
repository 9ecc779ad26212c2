"""Mail Send requests leave full (a step's batches gather each content's messages across batches), two at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Message
from dispatcher.runtime.core import Runtime, build_runtime
from dispatcher.runtime.tasks import attach_inline_queue
from dispatcher.sending.handoff import send_messages, take_step_messages
from dispatcher.sending.scheduler import tick
from dispatcher.sending.step_batch import run_step_batch
from tests.backends import Backend
from tests.conftest import make_settings
from tests.dispatcher.test_delivery_outcomes import launch
from tests.dispatcher.test_recovery import LosingQueue
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake


def _mailing(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, **changes: object) -> Runtime:
    settings = make_settings(backend, tmp_path, email_channel="sendgrid", sendgrid_api_key=FAKE_API_KEY, sendgrid_base_url=sendgrid.base_url, **changes)
    return attach_inline_queue(build_runtime(settings))


@pytest.fixture
def mailing(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, runtime: Runtime) -> Iterator[Runtime]:
    mail = _mailing(backend, tmp_path, sendgrid, batch_size=200)
    yield mail
    mail.close()


@pytest.fixture
def small_requests(backend: Backend, tmp_path: Path, sendgrid: SendGridFake, runtime: Runtime) -> Iterator[Runtime]:
    """Requests of 25 and step batches of 100: each send task carries four requests."""
    mail = _mailing(backend, tmp_path, sendgrid, sendgrid_max_personalizations=25, batch_size=100)
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


def test_the_next_request_leaves_while_the_previous_one_is_out(small_requests: Runtime, session: Session, sendgrid: SendGridFake) -> None:
    """A send task's next chunk is claimed, built and posted while the previous request is out."""
    campaign_id = launch(small_requests, 100)
    sendgrid.stall(1.0)  # the first request is held: the second is answered before it

    tick(small_requests)

    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 100}
    requests = sendgrid.requests
    assert [len(r.body["personalizations"]) for r in requests] == [25, 25, 25, 25]
    recipients = [address for r in requests for address in r.recipients]
    assert len(recipients) == len(set(recipients)) == 100  # each message in exactly one request
    held = [r for r in requests if r.stalled]
    assert len(held) == 1  # the request that reached the fake first, whichever chunk it carried
    assert requests[0] is not held[0]  # another was answered first: it left while the held one was out
    assert requests[0].connection_id != held[0].connection_id


def test_a_batch_posts_the_earlier_batches_requests_while_it_writes_its_own(
    backend: Backend, small_requests: Runtime, session: Session, sendgrid: SendGridFake
) -> None:
    """Two step batches of 100, requests of 25: the first batch's four requests leave from the
    second batch, while it plans; the first of them is held until the second batch's rows are
    written, which happens while it is out (not after the request is answered)."""
    if not backend.is_postgres:
        pytest.skip("SQLite takes one writer at a time: there the earlier requests leave before planning")
    campaign_id = launch(small_requests, 200)

    def second_batch_written() -> bool:
        with small_requests.sessions() as probe:
            return probe.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id, Message.step == "invite")) == 200

    sendgrid.hold(second_batch_written, limit=5.0)  # under the client's 10 s timeout: a request held in vain is still answered

    tick(small_requests)

    assert sendgrid.holds == [True]
    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 200}
    recipients = [address for r in sendgrid.requests for address in r.recipients]
    assert len(recipients) == len(set(recipients)) == 200  # each message in exactly one request
    assert [len(r.body["personalizations"]) for r in sendgrid.requests] == [25] * 8


def test_a_batch_posts_its_own_requests_while_the_earlier_ones_are_still_out(
    backend: Backend, small_requests: Runtime, session: Session, sendgrid: SendGridFake
) -> None:
    """Three step batches of 100, requests of 25: while the second batch's sender is held up with the
    first batch's requests, the second batch posts the requests its own rows completed instead of
    waiting for it — messages are recorded sent while the held request is still out."""
    if not backend.is_postgres:
        pytest.skip("SQLite takes one writer at a time: there a batch sends from one thread")
    campaign_id = launch(small_requests, 300)

    def some_sent() -> bool:
        with small_requests.sessions() as probe:
            return (probe.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id, Message.state == "sent")) or 0) >= 25

    sendgrid.hold(some_sent, limit=5.0)

    tick(small_requests)

    assert sendgrid.holds == [True]
    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 300}
    recipients = [address for r in sendgrid.requests for address in r.recipients]
    assert len(recipients) == len(set(recipients)) == 300
    assert [len(r.body["personalizations"]) for r in sendgrid.requests] == [25] * 12


def test_a_step_s_batches_share_their_sender_threads_and_connections(
    backend: Backend, small_requests: Runtime, session: Session, sendgrid: SendGridFake
) -> None:
    """Twenty step batches post their earlier batches' requests from the runtime's sender threads,
    which outlive the batch: their SendGrid clients (one per thread) keep their connections, so the
    step opens a handful of connections, not one more per batch (nor an adapter left per batch)."""
    if not backend.is_postgres:
        pytest.skip("SQLite takes one writer at a time: there a batch sends from one thread")
    campaign_id = launch(small_requests, 2000)

    tick(small_requests)

    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 2000}
    assert len(sendgrid.requests) == 80
    # The batch's own thread and the runtime's two sender threads, each a client with a pool of two.
    assert sendgrid.stats()["connections"] <= 6


def test_two_batches_that_took_the_same_whole_requests_send_each_message_once(
    backend: Backend, small_requests: Runtime, session: Session, sendgrid: SendGridFake
) -> None:
    """A batch's whole requests are not stamped as handed out, so two batches can take the same
    rows: their claims take each row once, whole chunks (four requests of 25, not split), and the
    step's last batch sends the rest."""
    losing = LosingQueue(small_requests.queue, "run_step_batch", count=2)  # type: ignore[arg-type]
    small_requests.queue = losing
    campaign_id = launch(small_requests, 200)
    tick(small_requests)  # selection, then the invite's two batches of 100 (held back here)
    first, last = losing.lost
    run_step_batch(small_requests, *first)  # plans 100 rows; no batch before it left whole requests

    step_id = first[0]
    taken = [take_step_messages(small_requests, session, step_id, small_requests.clock.now(), whole_requests_only=True) for _ in range(2)]
    assert taken[0] == taken[1] and len(taken[0]) == 100  # nothing marks them taken until a claim
    if backend.is_postgres:  # both senders at once: the claims meet on the rows' locks
        with ThreadPoolExecutor(max_workers=2) as senders:
            list(senders.map(lambda ids: send_messages(small_requests, ids), taken))
    else:  # one writer at a time
        for ids in taken:
            send_messages(small_requests, ids)
    assert [len(r.body["personalizations"]) for r in sendgrid.requests] == [25] * 4

    run_step_batch(small_requests, *last)
    session.rollback()
    assert Counter(session.scalars(select(Message.state).where(Message.campaign_id == campaign_id, Message.step == "invite"))) == {"sent": 200}
    recipients = [address for r in sendgrid.requests for address in r.recipients]
    assert len(recipients) == len(set(recipients)) == 200  # each message in exactly one request
    assert [len(r.body["personalizations"]) for r in sendgrid.requests] == [25] * 8
