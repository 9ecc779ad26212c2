"""Slack webhooks and outgoing webhooks never reach loopback, private, link-local or metadata addresses.

The receivers here are real servers on 127.0.0.1; the suite's settings allow
127.0.0.1 (``outbound_allow``), so these tests take the allowance away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient

from campaigns.access.models import Role
from channels.base import OutgoingMessage
from channels.outbound import ForbiddenDestination, GuardedTransport, OutboundPolicy
from channels.slack import SlackChannel
from dispatcher.runtime.core import Runtime


class Hits:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def local_server() -> Iterator[tuple[str, Hits]]:
    """A server on 127.0.0.1: POST /hook answers 200; POST /redirect sends to /hook."""
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.count += 1
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/redirect":
                self.send_response(307)
                self.send_header("Location", "/hook")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _slack(policy: OutboundPolicy, url: str) -> str | None:
    channel = SlackChannel(transport=GuardedTransport(policy))
    (result,) = channel.send([OutgoingMessage(message_id="1", channel="slack", to=url, text='{"text": "hi"}')])
    channel.close()
    return None if result.error is None else result.error.text


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.8", "192.168.1.1", "100.100.100.200", "[::ffff:127.0.0.1]"])
def test_non_public_destinations_are_refused_before_connecting(host: str) -> None:
    error = _slack(OutboundPolicy(), f"http://{host}:9/hook")
    assert error is not None and "non-public" in error


def test_a_name_is_judged_by_the_addresses_it_resolves_to(local_server: tuple[str, Hits]) -> None:
    address, hits = local_server
    port = address.rsplit(":", 1)[1]
    error = _slack(OutboundPolicy(), f"http://localhost:{port}/hook")
    assert error is not None and "resolves to 127.0.0.1" in error
    assert hits.count == 0


def test_the_allow_list_lets_a_self_hosted_target_through(local_server: tuple[str, Hits]) -> None:
    address, hits = local_server
    assert _slack(OutboundPolicy.parse(["127.0.0.0/8"]), f"http://{address}/hook") is None
    port = address.rsplit(":", 1)[1]
    assert _slack(OutboundPolicy.parse(["localhost"]), f"http://localhost:{port}/hook") is None
    assert hits.count == 2


def test_a_redirect_is_checked_like_the_first_request(local_server: tuple[str, Hits]) -> None:
    """Even a client that follows redirects passes every hop through the guard."""
    address, hits = local_server
    with httpx.Client(transport=GuardedTransport(OutboundPolicy.parse(["127.0.0.1"])), follow_redirects=True) as allowed:
        assert allowed.post(f"http://{address}/redirect").status_code == 200
    assert hits.count == 2
    with httpx.Client(transport=GuardedTransport(OutboundPolicy()), follow_redirects=True) as strict, pytest.raises(ForbiddenDestination):
        strict.post(f"http://{address}/redirect")
    assert hits.count == 2


def test_a_bad_allow_list_entry_is_named() -> None:
    with pytest.raises(ValueError, match="neither a host name"):
        OutboundPolicy.parse(["hooks.example/*"])


def test_an_internal_address_is_refused_when_configured(runtime: Runtime, client: TestClient, auth: Callable[[Role], dict[str, str]]) -> None:
    runtime.settings.outbound_allow = ""
    headers = auth(Role.ADMIN)
    hook = client.post("/v1/webhooks", json={"url": "http://169.254.169.254/latest/meta-data", "events": ["response.created"]}, headers=headers)
    assert hook.status_code == 422 and hook.json()["error"]["fields"][0]["field"] == "url"
    campaign = client.post("/v1/campaigns", json={
        "name": "x", "survey": {"kind": "nps"}, "audience": {"contact_ids": [1]},
        "internal_recipients": {"slack_webhook_url": "https://localhost/hook"},
    }, headers=headers)
    assert campaign.status_code == 422, campaign.text
    assert campaign.json()["error"]["fields"][0]["field"] == "internal_recipients.slack_webhook_url"


def test_a_url_httpx_cannot_parse_is_refused_when_configured(runtime: Runtime, client: TestClient, auth: Callable[[Role], dict[str, str]]) -> None:
    """httpx.URL raised InvalidURL for the first four (a 500); it read the others, which no delivery could use (accepted)."""
    headers = auth(Role.ADMIN)
    for url in ("https://[::1", "https://[zz]/hook", "https://example.com/\t", "https://\u3002.com/hook",
                "https://example.com:99999/hook", "https://example.com:0/hook", "https://exa mple.com/hook"):
        hook = client.post("/v1/webhooks", json={"url": url, "events": ["response.created"]}, headers=headers)
        assert hook.status_code == 422, (url, hook.text)
        assert hook.json()["error"]["fields"][0] == {"field": "url", "reason": hook.json()["error"]["fields"][0]["reason"]}
        assert "is not a URL Pulse can call" in hook.json()["error"]["message"]
        campaign = client.post("/v1/campaigns", json={
            "name": "x", "survey": {"kind": "nps"}, "audience": {"contact_ids": [1]}, "internal_recipients": {"slack_webhook_url": url},
        }, headers=headers)
        assert campaign.status_code == 422, (url, campaign.text)
        assert campaign.json()["error"]["fields"][0]["field"] == "internal_recipients.slack_webhook_url"
    assert client.get("/v1/webhooks", headers=headers).json() == []
    assert client.get("/v1/campaigns", headers=headers).json()["items"] == []
