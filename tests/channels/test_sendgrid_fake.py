"""The SendGrid fake refuses what SendGrid refuses, so the adapter tests mean something."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake, mail_send_errors


def valid_body(recipients: int = 1) -> dict[str, Any]:
    return {
        "personalizations": [
            {"to": [{"email": f"r{n}@customer.example"}], "substitutions": {"-n-": str(n)}}
            for n in range(recipients)
        ],
        "from": {"email": "surveys@pulse.example"},
        "subject": "Hi -n-",
        "content": [
            {"type": "text/plain", "value": "Hi"},
            {"type": "text/html", "value": "<p>Hi</p>"},
        ],
    }


def post(
    url: str,
    body: Any,
    key: str = FAKE_API_KEY,
    path: str = "/v3/mail/send",
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    payload = raw if raw is not None else json.dumps(body).encode()
    connection.request(
        "POST",
        path,
        payload,
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), json.loads(data) if data else None


def fields(body: Any) -> set[str | None]:
    return {field for field, _ in mail_send_errors(body)}


# -- the rules, checked directly ---------------------------------------------------------


def test_a_valid_body_has_no_errors() -> None:
    assert mail_send_errors(valid_body(3)) == []


def test_a_personalization_without_to_is_refused_by_the_spec() -> None:
    body = valid_body()
    body["personalizations"][0] = {"cc": [{"email": "x@customer.example"}]}
    assert fields(body) == {"personalizations.0.to"}


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text/plain", "value": "Hi"},  # an object, not a list
        [{"type": "text/plain"}],  # no value
        [{"mime": "text/plain", "value": "Hi"}],  # no type
        [{"type": "text/plain", "value": ""}],  # empty value
    ],
)
def test_content_of_the_wrong_shape_is_refused(content: Any) -> None:
    assert "content" in {f.split(".")[0] for f in fields({**valid_body(), "content": content}) if f}


def test_html_before_text_and_no_content_are_refused() -> None:
    html_first = [
        {"type": "text/html", "value": "<p>Hi</p>"},
        {"type": "text/plain", "value": "Hi"},
    ]
    assert fields({**valid_body(), "content": html_first}) == {"content"}
    assert fields({**valid_body(), "content": []}) == {"content"}


def test_limits_the_schema_cannot_express() -> None:
    body = valid_body(2)
    body["personalizations"][1]["to"][0]["email"] = "R0@customer.example"
    assert fields(body) == {"personalizations"}  # the same address twice
    many_cc = valid_body(600)
    for p in many_cc["personalizations"]:
        p["cc"] = [{"email": f"cc-{p['to'][0]['email']}"}]
    assert fields(many_cc) == {"personalizations"}  # 1,200 recipients
    assert fields(valid_body(1001)) == {"personalizations"}
    big = valid_body()
    big["personalizations"][0]["substitutions"] = {"-n-": "x" * 10_000}
    big["personalizations"][0]["custom_args"] = {"id": "y" * 10_000}
    assert fields(big) == {"personalizations.0.substitutions", "personalizations.0.custom_args"}
    typed = valid_body()
    typed["personalizations"][0]["substitutions"] = {"-n-": 5}
    assert fields(typed) == {"personalizations.0.substitutions"}


def test_reserved_headers_are_refused() -> None:
    assert fields({**valid_body(), "headers": {"Subject": "x"}}) == {"headers.Subject"}
    body = valid_body()
    body["personalizations"][0]["headers"] = {"List-Unsubscribe": "<https://x>", "From": "x"}
    assert fields(body) == {"personalizations.0.headers.From"}


# -- over HTTP ---------------------------------------------------------------------------


def test_an_invalid_body_gets_400_in_sendgrids_error_shape(sendgrid_fake: SendGridFake) -> None:
    body = valid_body()
    del body["personalizations"][0]["to"]
    status, _, answer = post(sendgrid_fake.base_url, body)
    assert status == 400
    assert answer["errors"][0]["field"] == "personalizations.0.to"
    assert set(answer["errors"][0]) == {"message", "field", "help"}
    assert sendgrid_fake.requests == [] and len(sendgrid_fake.rejected) == 1


def test_a_valid_body_gets_202_with_a_message_id_and_is_recorded(
    sendgrid_fake: SendGridFake,
) -> None:
    status, headers, answer = post(sendgrid_fake.base_url, valid_body(2))
    assert (status, answer) == (202, None)
    (record,) = sendgrid_fake.requests
    assert headers["X-Message-Id"] == record.message_id
    assert record.recipients == ["r0@customer.example", "r1@customer.example"]


def test_wrong_key_unknown_path_and_oversized_body(sendgrid_fake: SendGridFake) -> None:
    url = sendgrid_fake.base_url
    assert post(url, valid_body(), key="SG.wrong")[0] == 401
    assert post(url, valid_body(), path="/v3/mail/batch")[0] == 404
    assert post(url, None, raw=b"{" + b" " * (30 * 1024 * 1024) + b"}")[0] == 413
    assert post(url, None, raw=b"not json")[0] == 400


def test_fail_next_answers_the_next_requests_then_stops(sendgrid_fake: SendGridFake) -> None:
    sendgrid_fake.fail_next(503, times=2)
    sendgrid_fake.fail_next(429, headers={"X-RateLimit-Reset": "1800000000"})
    statuses = [post(sendgrid_fake.base_url, valid_body()) for _ in range(4)]
    assert [s for s, _, _ in statuses] == [503, 503, 429, 202]
    assert statuses[2][1]["X-RateLimit-Reset"] == "1800000000"
    assert statuses[0][2]["errors"][0]["message"]


def test_connections_are_counted_and_kept_alive(sendgrid_fake: SendGridFake) -> None:
    parts = urlsplit(sendgrid_fake.base_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    headers = {"Authorization": f"Bearer {FAKE_API_KEY}", "Content-Type": "application/json"}
    for _ in range(3):
        connection.request("POST", "/v3/mail/send", json.dumps(valid_body()), headers)
        assert connection.getresponse().read() == b""
    connection.close()
    post(sendgrid_fake.base_url, valid_body())
    assert sendgrid_fake.connections_opened == 2
    assert [r.connection_id for r in sendgrid_fake.requests] == [1, 1, 1, 2]


def test_the_command_line_entry_point_serves_and_reports_stats() -> None:
    command = [
        sys.executable,
        "-m",
        "tests.fakes.sendgrid_fake",
        "--port",
        "0",
        "--latency",
        "0.01",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert post(url, valid_body(3))[0] == 202
            connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
            connection.request("GET", "/__fake__/stats")
            stats = json.loads(connection.getresponse().read())
            connection.close()
            assert stats == {
                "received": 1, "requests": 1, "personalizations": 3, "rejected": 0, "connections": 2,
            }  # fmt: skip
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
