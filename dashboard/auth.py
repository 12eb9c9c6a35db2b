"""Dashboard accounts, sessions and bearer tokens.

Accounts live in Redis (so several web workers share them): argon2 password hashes, a role
(viewer = duty officer, coordinator, admin, supervisor or reporter bound to a person), signed session
cookies (itsdangerous) and bearer tokens stored only as SHA-256 digests. The signing key is
generated at first start and kept in Redis, never in the repository.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import orjson
import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

ROLES = ("viewer", "coordinator", "admin", "supervisor", "reporter")
PERSON_ROLES = {"supervisor": ("l1_supervisor", "l2_supervisor"),   # account role -> people.csv roles
                "reporter": ("assistant", "informant")}             # reporter: the grid's "two members"
ORDER_ROLES = frozenset({"coordinator", "admin"})
USERS_KEY = "gw:auth:users"      # hash: name -> JSON {role, hash, person}
TOKENS_KEY = "gw:auth:tokens"    # hash: sha256(token) -> name
SECRET_KEY = "gw:auth:secret"    # string: session signing key, set once (SET NX)
SESSION_COOKIE = "gw_session"
SESSION_MAX_AGE_S = 12 * 3600    # one duty shift
# gw:auth:fail:ip:<addr>, gw:auth:fail:user:<name>: failed-login counters, expire after LOGIN_WINDOW_S

_hasher = PasswordHasher()


class AuthError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    role: str
    person: str | None = None

    @property
    def can_order(self) -> bool:
        return self.role in ORDER_ROLES


class Accounts:
    def __init__(self, r: redis.Redis, secret: str | None = None):
        self.r = r
        self._secret = secret

    # -- accounts -------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str | None = None, person: str | None = None) -> str:
        """Creates or replaces an account; returns the password (generated when not given)."""
        password = password or secrets.token_urlsafe(12)
        self.add_sharing([(name, role, person)], password)
        return password

    def add_sharing(self, accounts: list[tuple[str, str, str | None]], password: str) -> None:
        """Creates or replaces accounts (name, role, person) that share one password, hashed
        once (argon2 costs ~50 ms a hash: the demo's 1,231 person logins would take a minute)."""
        for name, role, person in accounts:
            self._check(name, role, person)
        if not accounts:
            return
        digest = _hasher.hash(password)
        self.r.hset(USERS_KEY, mapping={name: orjson.dumps({"role": role, "hash": digest, "person": person})
                                        for name, role, person in accounts})

    @staticmethod
    def _check(name: str, role: str, person: str | None) -> None:
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise AuthError("a user name is 1-64 characters without spaces")
        if role in PERSON_ROLES and not person:
            raise AuthError(f"a {role} account needs --person (the person id it acts for)")

    def get(self, name: str) -> User | None:
        raw = self.r.hget(USERS_KEY, name)
        if raw is None:
            return None
        rec = orjson.loads(raw)
        return User(name=name, role=rec["role"], person=rec.get("person"))

    def verify(self, name: str, password: str) -> User | None:
        raw = self.r.hget(USERS_KEY, name)
        if raw is None:
            _hasher.hash(password)  # same cost either way, so timing does not reveal names
            return None
        rec = orjson.loads(raw)
        try:
            _hasher.verify(rec["hash"], password)
        except (VerifyMismatchError, InvalidHashError):
            return None
        return User(name=name, role=rec["role"], person=rec.get("person"))

    def list(self) -> list[User]:
        return sorted((self.get(n.decode()) for n in self.r.hkeys(USERS_KEY)), key=lambda u: u.name)

    # -- bearer tokens --------------------------------------------------------------------
    def new_token(self, name: str) -> str:
        if self.get(name) is None:
            raise AuthError(f"no account named {name!r}")
        token = "gwt_" + secrets.token_urlsafe(32)
        self.r.hset(TOKENS_KEY, hashlib.sha256(token.encode()).hexdigest(), name)
        return token

    def user_of_token(self, token: str) -> User | None:
        name = self.r.hget(TOKENS_KEY, hashlib.sha256(token.encode()).hexdigest())
        return self.get(name.decode()) if name else None

    # -- sessions -------------------------------------------------------------------------
    def _serializer(self) -> URLSafeTimedSerializer:
        if self._secret is None:
            self.r.set(SECRET_KEY, secrets.token_urlsafe(48), nx=True)
            self._secret = self.r.get(SECRET_KEY).decode()
        return URLSafeTimedSerializer(self._secret, salt="gw-session")

    def session_cookie(self, user: User) -> str:
        return self._serializer().dumps({"u": user.name})

    def stream_token(self, user: User) -> str:
        """A signed token a page hands to its WebSocket stream, which carries no cookies."""
        return URLSafeTimedSerializer(self._serializer().secret_key, salt="gw-stream").dumps({"u": user.name})

    def user_of_stream_token(self, token: str | None) -> User | None:
        if not token:
            return None
        try:
            data = URLSafeTimedSerializer(self._serializer().secret_key, salt="gw-stream").loads(
                token, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            return None
        return self.get(data.get("u", ""))

    def user_of_session(self, cookie: str | None) -> User | None:
        if not cookie:
            return None
        try:
            data = self._serializer().loads(cookie, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            return None
        return self.get(data.get("u", ""))


LOGIN_WINDOW_S = 300
LOGIN_MAX_FAILURES = 10


def login_throttled(r: redis.Redis, client: str, name: str) -> bool:
    """True when this client or this account has failed too often in the window."""
    keys = (f"gw:auth:fail:ip:{client}", f"gw:auth:fail:user:{name}")
    # two GETs, not MGET: on a Redis Cluster the two counters live in different slots
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return any(int(v or 0) >= LOGIN_MAX_FAILURES for v in pipe.execute())


def record_login_failure(r: redis.Redis, client: str, name: str) -> None:
    # No transaction (the counters may sit in different Cluster slots): SET NX EX first, so a
    # counter never exists without its expiry, then INCR, which keeps the expiry.
    pipe = r.pipeline(transaction=False)
    for key in (f"gw:auth:fail:ip:{client}", f"gw:auth:fail:user:{name}"):
        pipe.set(key, 0, ex=LOGIN_WINDOW_S, nx=True)
        pipe.incr(key)
    pipe.execute()


DEVICES_KEY = "gw:auth:devices"  # hash: device id -> sha256(secret) (HTTP ingest credentials)


def set_device_secret(r: redis.Redis, device: str, secret: str | None = None) -> str:
    """Sets (or rotates) a device's ingest secret. Secrets are random, not chosen by people,
    so a plain SHA-256 is enough and keeps 1 Hz position posts cheap."""
    secret = secret or secrets.token_urlsafe(18)
    r.hset(DEVICES_KEY, device, hashlib.sha256(secret.encode()).hexdigest())
    return secret


def device_secret_ok(r: redis.Redis, device: str, secret: str) -> bool:
    stored = r.hget(DEVICES_KEY, device)
    return stored is not None and secrets.compare_digest(
        stored.decode(), hashlib.sha256(secret.encode()).hexdigest())
