"""The answer link in survey emails: GET shows, only a person's POST records."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from campaigns.programs.models import Episode
from dispatcher.answers.tokens import make_token
from dispatcher.runtime.clock import DatabaseClock
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_links import person_form, response_count, responses, survey


def test_the_link_shows_the_scale_with_the_score_preselected_and_records_nothing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    page = link_client.get(item.answer_path, params={"score": 9})

    assert page.status_code == 200
    assert 'value="9" checked' in page.text
    assert [f'id="score-{n}"' in page.text for n in range(11)] == [True] * 11
    assert "How likely are you to recommend Acme" in page.text
    assert "What is the main reason for your score?" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert 'name="viewport"' in page.text
    assert response_count(session) == 0


def test_head_records_nothing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    assert link_client.head(f"{item.answer_path}?score=3").status_code == 200
    assert response_count(session) == 0


def test_the_page_speaks_the_contacts_language(runtime: Runtime, link_client: TestClient) -> None:
    item = survey(runtime, locale="de-AT")

    page = link_client.get(item.answer_path, params={"score": 4})

    assert '<html lang="de">' in page.text
    assert "Wie wahrscheinlich ist es" in page.text
    assert "Äußerst wahrscheinlich" in page.text
    assert "Senden" in page.text


def test_a_score_off_the_scale_preselects_nothing(runtime: Runtime, link_client: TestClient) -> None:
    item = survey(runtime, kind="csat")

    page = link_client.get(item.answer_path, params={"score": 9})

    assert page.status_code == 200
    assert '" checked' not in page.text
    assert 'id="score-5"' in page.text and 'id="score-6"' not in page.text


def test_a_persons_post_records_once_and_redirects_to_the_thank_you(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=9, comment=" Great support "), follow_redirects=False)

    assert posted.status_code == 303
    assert posted.headers["referrer-policy"] == "no-referrer"
    [stored] = responses(session, item)
    assert (stored.score, stored.comment, stored.category, stored.medium, stored.current) == (9, "Great support", "promoter", "email", True)
    thanks = link_client.get(f"{item.answer_path}/thanks")
    assert thanks.status_code == 200 and "Thank you!" in thanks.text and "9" in thanks.text
    assert response_count(session) == 1


def test_a_second_answer_replaces_the_first_and_keeps_the_history(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)
    link_client.post(item.answer_path, data=person_form(runtime, item, score=3, comment="slow"), follow_redirects=False)

    link_client.post(item.answer_path, data=person_form(runtime, item, score=8, comment="better now"), follow_redirects=False)

    first, second = responses(session, item)
    assert (first.score, first.current) == (3, False)
    assert (second.score, second.current, second.comment) == (8, True, "better now")
    assert "You already answered 8" in link_client.get(item.answer_path).text


def test_an_auto_submitted_form_without_the_interaction_proof_records_nothing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)
    page = link_client.get(item.answer_path, params={"score": 9})
    ticket = page.text.split('name="ticket" value="')[1].split('"')[0]

    posted = link_client.post(item.answer_path, data={"score": "9", "comment": "", "ticket": ticket, "human": ""})

    assert posted.status_code == 400
    assert "Please press Send to confirm your answer." in posted.text
    assert 'value="9" checked' in posted.text  # a person only has to press Send
    assert response_count(session) == 0


def test_a_post_sooner_than_a_person_reads_records_nothing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=9, read_for=timedelta(0)))

    assert posted.status_code == 400
    assert response_count(session) == 0


def test_a_post_without_a_ticket_or_with_another_episodes_records_nothing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item, other = survey(runtime), survey(runtime)
    borrowed = person_form(runtime, other, score=9)

    assert link_client.post(item.answer_path, data={"score": "9"}).status_code == 400
    assert link_client.post(item.answer_path, data=borrowed).status_code == 400
    assert response_count(session) == 0


def test_a_post_without_a_score_asks_for_one(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    for score in (None, "11", "nine", "-1"):
        posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=score, comment="kept"))
        assert posted.status_code == 422
        assert "Please choose a score first." in posted.text and ">kept</textarea>" in posted.text
    assert response_count(session) == 0


def test_a_comment_over_the_limit_is_refused(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=5, comment="x" * 5001))

    assert posted.status_code == 422
    assert response_count(session) == 0


def test_expired_tampered_and_unknown_tokens_get_the_same_page(runtime: Runtime, clock: DatabaseClock, link_client: TestClient) -> None:
    item = survey(runtime)
    secret = runtime.settings.secret_key.get_secret_value()
    unknown = make_token(secret, purpose="answer", subject="no-such-episode-0123456", expires_at=clock.now() + timedelta(days=5))
    tampered = item.answer_path.rsplit("/", 1)[1][:-1] + ("A" if not item.answer_path.endswith("A") else "B")
    wrong_purpose = item.unsubscribe_path.rsplit("/", 1)[1]
    clock.advance(timedelta(days=61))
    expired = item.answer_path.rsplit("/", 1)[1]

    pages = [link_client.get(f"/r/{token}") for token in (expired, tampered, unknown, wrong_purpose, "garbage")]
    posts = [link_client.post(f"/r/{token}", data={"score": "9"}) for token in (expired, tampered, unknown)]

    assert {p.status_code for p in pages + posts} == {404}
    assert len({p.content for p in pages + posts}) == 1
    assert "This link doesn" in pages[0].text
    assert pages[0].headers["referrer-policy"] == "no-referrer"


def test_an_erased_contacts_link_no_longer_works(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)
    contact = session.get(Contact, item.contact_id)
    assert contact is not None
    contact.erased_at = runtime.clock.now()
    session.commit()

    assert link_client.get(item.answer_path).status_code == 404
    assert link_client.post(item.answer_path, data=person_form(runtime, item, score=9)).status_code == 404
    assert response_count(session) == 0


def test_a_cancelled_episode_takes_no_answer(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)
    episode = session.get(Episode, item.episode_id)
    assert episode is not None
    episode.state = "cancelled"
    session.commit()

    assert link_client.get(item.answer_path).status_code == 410
    assert link_client.post(item.answer_path, data=person_form(runtime, item, score=9)).status_code == 410
    assert response_count(session) == 0


def test_the_ticket_does_not_outlive_a_day(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=9, read_for=timedelta(hours=25)))

    assert posted.status_code == 400
    assert "Please press Send to confirm your answer." in posted.text  # with a fresh ticket
    assert response_count(session) == 0


def test_no_sequential_id_appears_in_a_link(runtime: Runtime) -> None:
    item = survey(runtime)

    for url in (item.answer_url, item.unsubscribe_url):
        token = url.rsplit("/", 1)[1]
        assert token.split(".")[0] == item.public_id
        assert str(item.episode_id) not in url.split("/")


def test_the_form_is_read_as_four_form_fields_would_be(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    """The answer's form is parsed by the route's own dependency (no per-field validation): a
    multipart body is accepted as before, a repeated field gives its last value, an empty comment
    is none, a file where text belongs is 422 and a body that does not parse is 400."""
    item, again = survey(runtime), survey(runtime)
    form = person_form(runtime, item, score=7, comment="")

    posted = link_client.post(item.answer_path, files={name: (None, value) for name, value in form.items()}, follow_redirects=False)
    assert posted.status_code == 303
    [stored] = responses(session, item)
    assert (stored.score, stored.comment) == (7, None)

    repeated = person_form(runtime, again, score=2, comment="first")
    body = urlencode([*repeated.items(), ("score", "9"), ("comment", "last")])
    posted = link_client.post(again.answer_path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert posted.status_code == 303
    [stored] = responses(session, again)
    assert (stored.score, stored.comment) == (9, "last")

    third = survey(runtime)
    as_file = {**person_form(runtime, third, score=5)}
    del as_file["comment"]
    refused = link_client.post(third.answer_path, data=as_file, files={"comment": ("comment.txt", b"a file")})
    assert refused.status_code == 422
    broken = link_client.post(third.answer_path, content=b"--x\r\nnot a part", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 400
    unbounded = link_client.post(third.answer_path, content=b"score=5", headers={"Content-Type": "multipart/form-data"})
    assert unbounded.status_code == 400 and "Missing boundary" in unbounded.json()["error"]["message"], unbounded.text  # the parser's own words
    assert responses(session, third) == []


def test_a_score_ticket_or_token_no_page_could_send_gets_a_page_not_a_500(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    """"²" passes ``str.isdigit`` and ``int`` refuses it; ``hmac.compare_digest`` raises for
    non-ASCII text: each of these answered 500."""
    item = survey(runtime)

    for score in ("²", "9" * 5000):
        page = link_client.get(item.answer_path, params={"score": score})
        assert page.status_code == 200 and '" checked' not in page.text
        refused = link_client.post(item.answer_path, data=person_form(runtime, item, score=score), follow_redirects=False)
        assert refused.status_code == 422 and "Please choose a score first." in refused.text, refused.text[:300]
    for field, value in (("ticket", "1.é"), ("human", "é")):
        refused = link_client.post(item.answer_path, data={**person_form(runtime, item, score=9), field: value}, follow_redirects=False)
        assert refused.status_code == 400, (field, refused.text[:300])
    for path in ("/r/é.é.é", "/u/é.é.é", "/r/é.é.é/thanks"):
        assert link_client.get(path).status_code == 404, path
    assert link_client.post("/u/é.é.é").status_code == 404
    assert response_count(session) == 0


def test_nul_characters_in_a_comment_are_dropped(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=9, comment="Great\x00 support"), follow_redirects=False)

    assert posted.status_code == 303, posted.text[:300]
    [stored] = responses(session, item)
    assert (stored.score, stored.comment) == (9, "Great support")
