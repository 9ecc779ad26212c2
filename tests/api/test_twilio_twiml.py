"""The SMS reply's TwiML is written by hand; it must stay what the Twilio SDK writes."""

from __future__ import annotations

import pytest
from twilio.twiml.messaging_response import MessagingResponse

from api.routers.webhooks import twiml_reply


def _sdk(text: str | None) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


@pytest.mark.parametrize("text", [
    None, "", "Thanks! What could we do better?", "a & b <c> \"q\" 's' é 😀\n\tx", "]]>", "&amp; already escaped", "\r",
])
def test_twiml_reply_is_what_the_twilio_sdk_writes(text: str | None) -> None:
    assert twiml_reply(text) == _sdk(text)
