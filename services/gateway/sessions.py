"""Admin sessions kept in Redis: the cookie of a signed-in browser carries only an opaque id.

A signed-in session lives server-side, under a hash of its id, with an expiry fixed at
login; logging out (or logging in again) deletes it, so a copied cookie stops working at
once. Before login the only state is the login form's CSRF token, kept in a signed cookie
as Flask does: an anonymous visitor never writes to Redis.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from shared.settings import Settings

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


class ServerSession(SecureCookieSession):
    """A session dict that knows its server-side id, if it has one."""

    def __init__(self, initial: Any = None, sid: str | None = None) -> None:
        super().__init__(initial)
        self.sid = sid
        self.rotate = False  # cleared (login, logout): the next save forgets the old id

    def clear(self) -> None:
        super().clear()
        self.rotate = True


class RedisSessionInterface(SecureCookieSessionInterface):
    """Sessions holding `signed_in_key` live in Redis; others in a signed cookie."""

    session_class = ServerSession

    def __init__(self, client: redis.Redis[bytes], settings: Settings, signed_in_key: str) -> None:
        self._redis = client
        self._settings = settings
        self._signed_in_key = signed_in_key

    def _key(self, sid: str) -> str:
        # A hash, so that reading Redis gives no cookie that would open a session.
        return self._settings.key("session", hashlib.sha256(sid.encode()).hexdigest())

    def open_session(self, app: Flask, request: Request) -> ServerSession | None:
        """The session named by the cookie: from Redis, else the signed anonymous one."""
        value = request.cookies.get(self.get_cookie_name(app), "")
        if SESSION_ID.fullmatch(value):
            raw = self._redis.get(self._key(value))
            if raw is None:  # expired or revoked: an anonymous visitor again
                return ServerSession(sid=value)
            return ServerSession(self.serializer.loads(raw.decode()), sid=value)
        found = super().open_session(app, request)
        return None if found is None else ServerSession(dict(found))

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Store a signed-in session in Redis (a new id at login); revoke one that ended."""
        assert isinstance(session, ServerSession)
        signed_in = self._signed_in_key in session
        ended = session.sid is not None and (session.rotate or not signed_in)
        if ended:
            self._redis.delete(self._key(session.sid or ""))
        if not signed_in:
            if ended and not session:
                self._forget_cookie(app, response)
                return
            super().save_session(app, session, response)  # anonymous: a signed cookie
            return
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        data = self.serializer.dumps(dict(session))
        if session.sid is None or session.rotate:
            sid = secrets.token_urlsafe(32)
            self._redis.set(self._key(sid), data, ex=lifetime)
            self._set_cookie(app, response, sid, lifetime)
        elif session.modified:  # only while it lives: a logout meanwhile stays a logout
            self._redis.set(self._key(session.sid), data, keepttl=True, xx=True)
        response.vary.add("Cookie")

    def _set_cookie(self, app: Flask, response: Response, sid: str, lifetime: int) -> None:
        response.set_cookie(
            self.get_cookie_name(app),
            sid,
            expires=datetime.now(UTC) + timedelta(seconds=lifetime),
            httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )

    def _forget_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(
            self.get_cookie_name(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            httponly=self.get_cookie_httponly(app),
        )
        response.vary.add("Cookie")
