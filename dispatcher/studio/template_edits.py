"""Published template edits as the renderer sees them: one in-memory snapshot per process.

The renderer asks for a key's edit on every render; a query each time would
cost more than the render. The snapshot holds the latest published version of
every key and is reloaded when something was published: at once in the process
that published (``invalidate``), within ``ttl`` seconds in every other worker
(one cheap query tells whether anything changed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from campaigns.studio import service
from campaigns.studio.models import TemplateVersion
from templates import Overrides, RenderedMessage, TemplateKey, TemplateRenderer, locale_chain

log = logging.getLogger(__name__)

Scope = tuple[str, str, str, str, int | None]  # channel, kind, step, locale, campaign id (None: everyone)


@dataclass(frozen=True)
class Edit:
    id: int
    number: int
    parts: Mapping[str, str]


def scope_of(key: TemplateKey, campaign_id: int | None = None) -> Scope:
    return (key.channel, key.kind, key.step, key.locale, campaign_id)


@dataclass(frozen=True)
class EditSnapshot:
    """The edits in force: per scope, one published version."""

    edits: Mapping[Scope, Edit] = field(default_factory=dict)

    @classmethod
    def of(cls, versions: Iterable[TemplateVersion]) -> EditSnapshot:
        return cls({(v.channel, v.kind, v.step, v.locale, v.campaign_id): Edit(v.id, v.number or 0, dict(v.parts)) for v in versions})

    def replacing(self, edits: Mapping[Scope, Edit | None]) -> EditSnapshot:
        """This snapshot with some scopes pinned to another version (None: no edit)."""
        merged = {**self.edits, **edits}
        return EditSnapshot({scope: edit for scope, edit in merged.items() if edit is not None})

    def overrides(self, campaign_id: int | None = None) -> Overrides:
        """The renderer's hook: a campaign's own parts over the company-wide edit of the key."""

        def lookup(key: TemplateKey) -> Mapping[str, str] | None:
            merged: dict[str, str] = {}
            for scope in self._scopes(key, campaign_id):
                edit = self.edits.get(scope)
                if edit is not None:
                    merged.update(edit.parts)
            return merged or None

        return lookup

    def used(self, key: TemplateKey, campaign_id: int | None = None) -> list[int]:
        """Ids of the versions a render of ``key`` reads, along its locale chain."""
        return sorted(
            self.edits[scope].id
            for locale in locale_chain(key.locale)
            for scope in self._scopes(key.with_locale(locale), campaign_id)
            if scope in self.edits
        )

    @staticmethod
    def _scopes(key: TemplateKey, campaign_id: int | None) -> list[Scope]:
        scopes = [scope_of(key)]
        if campaign_id is not None:
            scopes.append(scope_of(key, campaign_id))
        return scopes


class PublishedTemplates:
    """The process's view of published edits; thread-safe."""

    def __init__(self, sessions: sessionmaker[Session], *, ttl: float = 1.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._lock = threading.Lock()
        self._snapshot = EditSnapshot()
        self._change: tuple[int, int] | None = None
        self._checked = 0.0

    def snapshot(self, session: Session | None = None) -> EditSnapshot:
        """The published edits, at most ``ttl`` seconds old once loaded.

        Only the first load waits. Later, one thread refreshes while the others go on
        with the snapshot they have: a refresh needs a second database connection, and
        threads that hold their request's connection must never queue behind it (under
        load that exhausts the pool and every request times out). Pass the caller's
        ``session`` when it holds locks: the refresh then reads on that connection
        instead of waiting for another one while the locks are held.
        """
        if time.monotonic() - self._checked < self._ttl:
            return self._snapshot
        loaded = self._change is not None
        if not self._lock.acquire(blocking=not loaded):
            return self._snapshot
        try:
            if time.monotonic() - self._checked >= self._ttl:
                self._refresh(session)
            return self._snapshot
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        """Reload on next use (call after committing a publish)."""
        with self._lock:
            self._checked = 0.0
            self._change = None  # the next render loads them before it goes on

    def lookup(self, key: TemplateKey) -> Mapping[str, str] | None:
        """The company-wide edit of ``key`` (the ``overrides=`` hook of the runtime's renderer).

        The hook runs deep inside transactions that may hold locks, with no session at
        hand: once loaded it never waits for a connection; a stale copy is refreshed by a
        short-lived thread and the next render sees it.
        """
        if self._change is None:
            return self.snapshot().overrides()(key)
        if time.monotonic() - self._checked >= self._ttl and self._lock.acquire(blocking=False):
            threading.Thread(target=self._refresh_and_release, name="pulse-template-edits", daemon=True).start()
        return self._snapshot.overrides()(key)

    def _refresh_and_release(self) -> None:
        try:
            self._refresh(None)
        except Exception:  # the next render tries again; the copy it has stays valid
            log.warning("could not reload the published template edits", exc_info=True)
        finally:
            self._lock.release()

    def _refresh(self, session: Session | None) -> None:
        if session is None:
            with self._sessions() as own:
                self._read(own)
        else:
            self._read(session)
        self._checked = time.monotonic()

    def _read(self, session: Session) -> None:
        change = service.latest_change(session)
        if change != self._change:
            self._snapshot = EditSnapshot.of(service.heads(session))
            self._change = change


class SafeRenderer(TemplateRenderer):
    """The runtime's renderer: published edits over the files, and the files alone when an
    edit fails (SMS replies, internal messages). Campaign contents go through
    ``dispatcher.studio.published``, which also tries earlier versions and alerts the team."""

    def render(self, key: TemplateKey, context: object) -> RenderedMessage:
        try:
            return super().render(key, context)
        except Exception:  # a broken edit must not cost a customer their reply
            log.exception("published template %s/%s/%s (%s) failed; sent the default", key.channel, key.kind, key.step, key.locale)
            return TemplateRenderer().render(key, context)
