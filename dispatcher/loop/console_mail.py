"""Emailing a team member their console sign-in link, through the configured email channel."""

from __future__ import annotations

import secrets
from datetime import timedelta
from html import escape

from sqlalchemy import select

from campaigns.access.console import find_member, issue_sign_in_link, recent_links
from campaigns.programs.models import Message
from dispatcher.loop.alerts import internal_message
from dispatcher.runtime.core import Runtime
from dispatcher.sending.stored_contents import store_content
from templates import RenderedMessage

LINKS_PER_HOUR = 5


def sign_in_url(runtime: Runtime, secret: str) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}/console/sign-in/{secret}"


def email_sign_in_link(runtime: Runtime, *, email: str) -> bool:
    """Send a one-time sign-in link to ``email`` if it is an active team member's.

    Returns whether a link was sent; the caller must not tell the visitor which
    (that would reveal who is on the team). Commits, then queues the send.
    """
    settings = runtime.settings
    if "email" not in runtime.available_media:
        return False
    with runtime.sessions() as session:
        member = find_member(session, email)
        if member is None:
            return False
        now = runtime.clock.now()
        if recent_links(session, member=member, since=now - timedelta(hours=1)) >= LINKS_PER_HOUR:
            return False  # someone keeps asking: the member's inbox is not a target
        secret = issue_sign_in_link(session, member=member, now=now, ttl=timedelta(minutes=settings.console_link_minutes))
        url = sign_in_url(runtime, secret)
        minutes = settings.console_link_minutes
        text = (f"Hello {member.name},\n\nOpen this link to sign in to the Pulse console. It works once, "
                f"for {minutes} minutes:\n\n{url}\n\nIf you did not ask for it, ignore this email.\n")
        html = (f"<p>Hello {escape(member.name)},</p><p>Open this link to sign in to the Pulse console. "
                f"It works once, for {minutes} minutes:</p><p><a href=\"{escape(url)}\">Sign in to Pulse</a></p>"
                "<p>If you did not ask for it, ignore this email.</p>")
        content = store_content(session, RenderedMessage(subject="Your Pulse sign-in link", text=text, html=html))
        key = f"sign_in:{secrets.token_hex(12)}"
        internal_message(runtime, session, key=key, campaign=None, step="sign_in", medium="email",
                         recipient=member.email, content_id=content, now=now)
        session.commit()
        message_id = session.scalar(select(Message.id).where(Message.idempotency_key == key))
    if message_id is not None:
        runtime.submit("send_messages", [message_id])
    return True
