"""The SendGrid SDK's client, sending over kept-alive connections.

Why: ``python_http_client.Client`` (under ``sendgrid.SendGridAPIClient``)
builds a fresh ``urllib`` opener for every call, and urllib sends
``Connection: close``, so each Mail Send pays a new TCP and TLS handshake
(SendGrid's own sendgrid-python PR #109 measured keep-alive at about 5x
faster). ``Client._make_request`` is the seam the library keeps for swapping
the transport ("separated into its own function, so we can mock it"): it
receives the finished ``urllib.request.Request``; we send that same request
through one urllib3 pool and answer as urllib would, raising the SDK's
``HTTPError`` subclasses for 4xx and 5xx. URL building and headers stay the
SDK's; Mail Send bodies arrive already serialised (``send_payload``: the
adapter writes each request's JSON once). No retries: the dispatcher owns them.
"""

from __future__ import annotations

from typing import Any

import python_http_client
import sendgrid
import urllib3
from python_http_client.exceptions import HTTPError


class KeepAliveClient(python_http_client.Client):
    """``python_http_client.Client`` whose requests all go through one urllib3 pool."""

    def __init__(self, pool: urllib3.PoolManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool = pool

    def _build_client(self, name: str | None = None) -> KeepAliveClient:
        # The base class makes a plain Client per URL segment (client.mail.send),
        # which would drop the pool.
        return KeepAliveClient(
            self._pool,
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=self._url_path + [name] if name else self._url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
        )

    def _make_request(self, opener: Any, request: Any, timeout: float | None = None) -> Any:
        return self._send(request.get_method(), request.full_url, request.data, dict(request.header_items()), timeout)

    def post_json(self, payload: bytes) -> Any:
        """POST a body already serialised as JSON to this client's URL (``client.mail.send``),
        with the SDK's headers; answers and raises as ``post(request_body=...)`` does."""
        headers = {**self.request_headers, "Content-Type": "application/json"}
        return python_http_client.client.Response(self._send("POST", self._build_url(None), payload, headers, None))

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float | None) -> Any:
        seconds = timeout or self.timeout
        reply = self._pool.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=seconds, read=seconds),
            retries=False,
            redirect=False,
        )
        if reply.status >= 400:
            error_class = python_http_client.exceptions.err_dict.get(reply.status, HTTPError)
            raise error_class(reply.status, reply.reason, reply.data, reply.headers)
        return _UrllibStyleReply(reply)


class _UrllibStyleReply:
    """What ``python_http_client.Response`` reads from a urllib response."""

    def __init__(self, reply: urllib3.BaseHTTPResponse) -> None:
        self._reply = reply

    def getcode(self) -> int:
        return self._reply.status

    def read(self) -> bytes:
        return self._reply.data

    def info(self) -> Any:
        return self._reply.headers


class KeepAliveSendGridClient(sendgrid.SendGridAPIClient):
    """``SendGridAPIClient`` over kept-alive connections; ``close()`` drops them.

    Raises what the SDK raises (``python_http_client.exceptions.HTTPError``
    subclasses for 4xx/5xx) plus urllib3's errors for timeouts and connections.
    """

    def __init__(self, *, api_key: str, host: str, timeout: float) -> None:
        super().__init__(api_key=api_key, host=host)
        self._pool = urllib3.PoolManager(num_pools=2, maxsize=2)
        # The attribute the SDK itself reassigns (set_sendgrid_data_residency).
        self.client = KeepAliveClient(
            self._pool,
            host=host,
            request_headers=self._default_headers,
            version=3,
            timeout=timeout,
        )

    def send_payload(self, payload: bytes) -> Any:
        """``send`` for a Mail Send body already serialised (one ``json.dumps`` per request, ours)."""
        return self.client.mail.send.post_json(payload)

    def close(self) -> None:
        """Close the pooled connections; the next request opens a new one."""
        self._pool.clear()
