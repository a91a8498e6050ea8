"""Shared state on Redis: every process and host of a project sees the same routes, quota
counters, receive cursors and contacted-chat sets, and receiving processes split the lines
with fenced leases (:mod:`.leases`).

Needs the optional ``redis`` package (``pip install "spectrum-sync[redis]"``), imported
when a store is made, never by ``import spectrum_sync``. Nothing touches the network in the
constructor. Every Redis call has a socket timeout (2 s by default) and is tried once:
callers already treat a store failure as non-fatal and retry what matters (cursor commits),
and an automatic retry could count a quota unit twice. Every failure is a
:class:`~spectrum_sync.StateStoreError` naming the URL without its password.

Key layout (``<ns>`` is the namespace, percent-encoded; the braces make it a Redis Cluster
hash tag, so that the multi-key scripts below stay within one slot)::

    spectrum:{<ns>}:cursors           hash    stream key -> committed sequence
    spectrum:{<ns>}:route:<chat>      string  phone of the line serving the chat
    spectrum:{<ns>}:counter:<key>     string  integer; expires ttl after it was created
    spectrum:{<ns>}:set:<group>       set     members (e.g. chats a line has written to)
    spectrum:{<ns>}:lease:<name>      hash    holder, fence; expires with the lease
    spectrum:{<ns>}:fence:<name>      string  last fencing token handed out for <name>
    spectrum:{<ns>}:since:<name>      string  server time (ms) of the first token for <name>
    spectrum:{<ns>}:receivers         zset    receiver id -> expiry (server clock, ms)
"""

from __future__ import annotations

import contextlib
import math
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .._errors import ConfigurationError, StateStoreError, ValidationError
from .base import SentRecords, StateStore
from .leases import LeaseStore

if TYPE_CHECKING:
    import redis
    from redis.typing import EncodableT, FieldT

__all__ = ["DEFAULT_TIMEOUT", "RedisStore"]

T = TypeVar("T")

#: Seconds a Redis call may take (connect, and each read or write) unless configured.
DEFAULT_TIMEOUT = 2.0

_MAX_TIMEOUT = 300.0
_MAX_NAMESPACE = 1000
# Characters kept as they are in the namespace part of a key; everything else (":", "{",
# "}", "%", spaces, non-ASCII) is percent-encoded so that two namespaces never share a key.
_NAMESPACE_SAFE = "!#$&'()*+,-./;<=>?@[]^_`|~"

_SCHEMES = ("redis", "rediss")
_FLOAT_OPTIONS = ("timeout", "connect_timeout", "route_ttl", "member_ttl")
_TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
                "ssl_check_hostname")
_OPTIONS = (*_FLOAT_OPTIONS, "max_connections", "client_name", *_TLS_OPTIONS)
_CERT_REQS = ("required", "optional", "none")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

# --- Lua scripts: each check-and-write is one atomic step for every process. -------------

# KEYS[1] counter; ARGV[1] limit (-1: none), ARGV[2] ttl in ms (0: none).
_RESERVE = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if not value then return redis.error_reply('NOTANUMBER ' .. KEYS[1] .. ' is not an integer') end
local limit = tonumber(ARGV[1])
if limit >= 0 and value >= limit then return 0 end
redis.call('INCR', KEYS[1])
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# KEYS[1] counter. Never below 0.
_RELEASE = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if not value then return redis.error_reply('NOTANUMBER ' .. KEYS[1] .. ' is not an integer') end
if value > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

# KEYS[1] counter; ARGV[1] value, ARGV[2] ttl in ms (0: none). INCRBY keeps the key's TTL.
_RAISE = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0')
if not value then return redis.error_reply('NOTANUMBER ' .. KEYS[1] .. ' is not an integer') end
local target = tonumber(ARGV[1])
if target > value then
  redis.call('INCRBY', KEYS[1], string.format('%.0f', target - value))
  value = target
end
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return string.format('%.0f', value)
"""

# KEYS[1] lease, KEYS[2] fence counter, KEYS[3] its start time; ARGV[1] holder, ARGV[2] ttl
# in ms. The fence counter starts at the server's clock in ms: if Redis loses its data (a
# restart without persistence), tokens handed out afterwards are still larger than earlier
# ones; the start time tells a taker how long the store has known the lease (lease_age).
_ACQUIRE = """
local current = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if current[1] then
  if current[1] == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return current[2]
  end
  return false
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  local seed = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  redis.call('SET', KEYS[2], string.format('%.0f', seed))
  redis.call('SET', KEYS[3], string.format('%.0f', seed))
end
local fence = string.format('%.0f', redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'fence', fence)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return fence
"""

# KEYS[1] lease; ARGV[1] holder, ARGV[2] fence, ARGV[3] ttl in ms.
_RENEW = """
local current = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] lease; ARGV[1] holder, ARGV[2] fence.
_RELEASE_LEASE = """
local current = redis.call('HMGET', KEYS[1], 'holder', 'fence')
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS[1] cursors hash, KEYS[2..n+1] leases; ARGV: n (holder, fence) pairs, then the
# (stream, sequence) pairs to write. HSET goes in chunks to stay within Lua's stack.
_SET_CURSORS_FENCED = """
local n = #KEYS - 1
for i = 1, n do
  local current = redis.call('HMGET', KEYS[i + 1], 'holder', 'fence')
  if current[1] ~= ARGV[2 * i - 1] or current[2] ~= ARGV[2 * i] then return 0 end
end
local first = 2 * n + 1
while first <= #ARGV do
  local last = math.min(first + 199, #ARGV)
  redis.call('HSET', KEYS[1], unpack(ARGV, first, last))
  first = last + 1
end
return 1
"""

# KEYS[1] receivers zset; ARGV[1] receiver id, ARGV[2] ttl in ms. Scores are expiry times
# on the server's clock; the key itself expires with its last receiver.
_REGISTER = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', ms))
redis.call('ZADD', KEYS[1], string.format('%.0f', ms + tonumber(ARGV[2])), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.ceil(tonumber(last[2]))))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# KEYS[1] the lease's start time.
_AGE = """
local since = redis.call('GET', KEYS[1])
if not since then return false end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return string.format('%.0f', ms - tonumber(since))
"""

# KEYS[1] receivers zset.
_LIVE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', ms), '+inf')
"""


def _require_redis() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            'a Redis state store needs the redis package: pip install "spectrum-sync[redis]"'
        ) from None


def _seconds(name: str, value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    raise ConfigurationError(f"RedisStore {name} must be a number > 0, not {value!r}")


def _ms(name: str, seconds: float | None) -> int:
    """A TTL in whole milliseconds (at least 1), for PEXPIRE; 0 for None (no expiry)."""
    if seconds is None:
        return 0
    ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not ok or not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(f"{name} must be a number of seconds > 0, not {seconds!r}")
    return max(1, math.ceil(seconds * 1000))


def _text(value: object) -> str:
    # A client passed in may or may not decode responses.
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _optional_int(value: Any) -> int | None:
    # Converted inside the store call, so that a value that is not a number (a key
    # written by something else) becomes a StateStoreError too.
    return None if value is None else int(value)


def _namespace(namespace: object) -> str:
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError(f"the state namespace must be a non-empty string, "
                                 f"not {namespace!r}")
    if len(namespace) > _MAX_NAMESPACE:
        raise ConfigurationError(f"the state namespace is longer than {_MAX_NAMESPACE} "
                                 "characters")
    return urllib.parse.quote(namespace, safe=_NAMESPACE_SAFE)


class _Target:
    """A parsed ``redis://`` / ``rediss://`` URL: connection arguments and a safe name."""

    def __init__(self, url: str) -> None:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port or 6379
        except ValueError as exc:
            raise ConfigurationError(f"invalid Redis URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ConfigurationError(f"a Redis URL starts with redis:// or rediss://, "
                                     f"not {scheme or '(nothing)'}://")
        self.tls = scheme == "rediss"
        host = parts.hostname or "localhost"
        username = urllib.parse.unquote(parts.username) if parts.username else None
        self.password = (urllib.parse.unquote(parts.password)
                         if parts.password is not None else None)
        shown_host = f"[{host}]" if ":" in host else host
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ConfigurationError(
                f"the Redis URL's path is the database number (e.g. /0), not /{path}")
        db = int(path) if path else 0
        user = f"{urllib.parse.quote(username, safe='')}@" if username else ""
        # Shown in errors and repr: never the password, nor the query (no secrets there,
        # but certificate paths make the message long).
        self.safe_url = f"{scheme}://{user}{shown_host}:{port}/{db}"
        if parts.fragment:
            raise ConfigurationError(f"{self.safe_url}: a Redis URL has no #fragment")
        self.options = self._options(parts.query)
        self.kwargs: dict[str, Any] = {
            "host": host, "port": port, "db": db, "username": username,
            "password": self.password,
        }

    def _options(self, query: str) -> dict[str, str]:
        options: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if name not in _OPTIONS:
                raise ConfigurationError(
                    f"{self.safe_url}: unknown URL option {name!r} (known: "
                    f"{', '.join(_OPTIONS)}; a password goes in the URL: "
                    "redis://:password@host)")
            if name in options:
                raise ConfigurationError(f"{self.safe_url}: URL option {name!r} given twice")
            if name in _TLS_OPTIONS and not self.tls:
                raise ConfigurationError(
                    f"{self.safe_url}: {name} needs a rediss:// (TLS) URL")
            options[name] = value
        return options


# The protocols it implements, named: their docstrings document its methods.
def _named(names: tuple[str, ...], prefixes: tuple[str, ...] = ()
           ) -> Callable[[BaseException, str, str, type[BaseException]], bool]:
    """A failure rule's test: the exception's class name, or the start of its text (redis-py
    turns some error prefixes into classes and drops the prefix from the text: OOM,
    READONLY, NOPERM, LOADING, so both are checked)."""
    return lambda exc, name, text, timeout: name in names or text.startswith(prefixes)


# What a Redis failure means, first match wins: (test, meaning, whether a retry may help).
_FAILURES: tuple[tuple[Callable[[BaseException, str, str, type[BaseException]], bool], str,
                       bool], ...] = (
    (_named(("AuthenticationError",), ("NOAUTH", "WRONGPASS")),
     "authentication failed: {text} (check the user and password in the URL)", False),
    (_named(("AuthorizationError", "NoPermissionError"), ("NOPERM",)),
     "the Redis user lacks a permission: {text} (it needs read, write and scripting "
     "commands on the spectrum:* keys)", False),
    (lambda exc, name, text, timeout: "certificate verify failed" in text.lower(),
     "the server's TLS certificate was refused: {text} (ssl_ca_certs= in the URL names the "
     "CA that signed it)", False),
    (lambda exc, name, text, timeout: isinstance(exc, timeout),
     "no answer within the timeout ({text})", True),
    (_named(("BusyLoadingError",), ("LOADING",)),
     "Redis is loading its data, try again shortly ({text})", True),
    (lambda exc, name, text, timeout: name in ("ConnectionError", "MaxConnectionsError")
     or isinstance(exc, OSError), "cannot reach Redis: {text}", True),
    (_named(("ReadOnlyError",), ("READONLY",)),
     "this Redis is a read-only replica: use the primary's URL ({text})", False),
    (_named(("OutOfMemoryError",), ("OOM",)),
     "Redis is out of memory (maxmemory): {text}", False),
    (_named((), ("MISCONF",)), "Redis cannot persist its data and refuses writes: {text}",
     False),
    (_named((), ("WRONGTYPE",)),
     "a key under spectrum:{{{ns}}}: holds another type of value (written by something "
     "else?): {text}", False),
    (lambda exc, name, text, timeout: isinstance(exc, ValueError)
     or text.startswith("NOTANUMBER"), "unexpected value in Redis: {text}", False),
)


class RedisStore(StateStore, SentRecords, LeaseStore):
    """State shared through Redis by every process and host of a project (see the module
    docstring for the key layout), with the receiver registry and line leases of
    :class:`~spectrum_sync._state.leases.LeaseStore`.

    ``target`` is a URL, ``redis://[[user]:password@]host[:port][/db][?options]`` or
    ``rediss://`` for TLS, or a ``redis.Redis`` client (used as is and not closed by
    :meth:`close`; its own timeouts apply). URL options: ``timeout`` and
    ``connect_timeout`` (seconds; 2 by default, connect defaults to ``timeout``),
    ``max_connections`` (pool size), ``client_name``, ``route_ttl`` and ``member_ttl``
    (below); with ``rediss://`` also ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``
    (paths), ``ssl_cert_reqs`` (``required``, the default, ``optional`` or ``none``) and
    ``ssl_check_hostname`` (``true`` unless ``ssl_cert_reqs=none``). ``timeout``,
    ``connect_timeout``, ``route_ttl`` and ``member_ttl`` may be keyword arguments
    instead; giving one both ways is an error.

    ``namespace`` prefixes every key (a client passes its project id), so projects can
    share one Redis. Routes and member sets are kept until deleted unless ``route_ttl``
    (seconds after a route was last set) or ``member_ttl`` (seconds after the last
    ``add_member`` to a set; the whole set expires) say otherwise; counters expire as
    their callers ask (quota day counters: two days).
    """

    #: Every read is a round trip: callers keep their own caches in front of this store.
    in_memory = False

    def __init__(
        self,
        target: str | redis.Redis,
        *,
        namespace: str = "default",
        timeout: float | None = None,
        connect_timeout: float | None = None,
        route_ttl: float | None = None,
        member_ttl: float | None = None,
    ) -> None:
        self.namespace = namespace
        prefix = f"spectrum:{{{_namespace(namespace)}}}:"
        self._prefix = prefix
        self._cursors = prefix + "cursors"
        self._receivers = prefix + "receivers"
        _require_redis()
        import redis as module

        self._errors: tuple[type[BaseException], ...] = (
            module.RedisError, module.exceptions.ChildDeadlockedError, OSError, ValueError)
        self._timeout_error: type[BaseException] = module.TimeoutError
        self._password: str | None = None
        #: Seconds each read or write may take (None: a client passed in without one).
        self.timeout: float | None = DEFAULT_TIMEOUT
        given: dict[str, object] = {
            name: value for name, value in (
                ("timeout", timeout), ("connect_timeout", connect_timeout),
                ("route_ttl", route_ttl), ("member_ttl", member_ttl),
            ) if value is not None
        }
        if isinstance(target, str):
            parsed = _Target(target)
            self.url = parsed.safe_url
            self._password = parsed.password
            options: dict[str, object] = dict(parsed.options)
            for name, value in given.items():
                if name in options:
                    raise ConfigurationError(
                        f"{self.url}: {name} is given both in the URL and as an argument")
                options[name] = value
            self._read_ttls(options)
            self._client: redis.Redis | None = self._connect(parsed, options)
            self._owns_client = True
        elif isinstance(target, module.Redis):
            self.url = self._describe(target)
            if "timeout" in given or "connect_timeout" in given:
                raise ConfigurationError(
                    "RedisStore: set the timeouts on the redis.Redis client you pass in")
            self._read_ttls(given)
            timeout = target.connection_pool.connection_kwargs.get("socket_timeout")
            self.timeout = None if timeout is None else float(timeout)
            self._client = target
            self._owns_client = False
        else:
            raise ConfigurationError(
                f"RedisStore takes a redis:// URL or a redis.Redis client, "
                f"not {type(target).__name__}")
        client = self._client
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._raise = client.register_script(_RAISE)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release_lease = client.register_script(_RELEASE_LEASE)
        self._set_fenced = client.register_script(_SET_CURSORS_FENCED)
        self._register = client.register_script(_REGISTER)
        self._live = client.register_script(_LIVE)
        self._age = client.register_script(_AGE)

    def _read_ttls(self, options: Mapping[str, object]) -> None:
        self._route_ttl = _ms("route_ttl", self._float(options, "route_ttl"))
        self._member_ttl = _ms("member_ttl", self._float(options, "member_ttl"))

    @staticmethod
    def _float(options: Mapping[str, object], name: str) -> float | None:
        value = options.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigurationError(
                    f"RedisStore {name} must be a number, not {value!r}") from None
        return _seconds(name, value)

    def _connect(self, parsed: _Target,
                 options: Mapping[str, object]) -> redis.Redis:
        timeout = self._float(options, "timeout") or DEFAULT_TIMEOUT
        connect_timeout = self._float(options, "connect_timeout") or timeout
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if value > _MAX_TIMEOUT:
                raise ConfigurationError(
                    f"{self.url}: {name} must be at most {_MAX_TIMEOUT:g} s, not {value:g}")
        self.timeout = timeout
        kwargs = dict(parsed.kwargs)
        max_connections = options.get("max_connections")
        if max_connections is not None:
            text = str(max_connections)
            if not text.isdigit() or int(text) < 1:
                raise ConfigurationError(
                    f"{self.url}: max_connections must be an integer >= 1, not {text!r}")
            kwargs["max_connections"] = int(text)
        if options.get("client_name"):
            kwargs["client_name"] = options["client_name"]
        if parsed.tls:
            kwargs.update(self._tls(options))
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No automatic retry: a retried script could count a quota unit twice, and the
        # caller's deadline would become several timeouts. A pooled connection that died
        # with a Redis restart is found and replaced when it is taken from the pool.
        return redis.Redis(
            socket_timeout=timeout, socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0), decode_responses=True, **kwargs)

    def _tls(self, options: Mapping[str, object]) -> dict[str, object]:
        reqs = str(options.get("ssl_cert_reqs") or "required").lower()
        if reqs not in _CERT_REQS:
            raise ConfigurationError(
                f"{self.url}: ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}, "
                f"not {reqs!r}")
        check = options.get("ssl_check_hostname")
        if check is None:
            hostname = reqs != "none"
        elif str(check).lower() in _BOOLEANS:
            hostname = _BOOLEANS[str(check).lower()]
        else:
            raise ConfigurationError(
                f"{self.url}: ssl_check_hostname must be true or false, not {check!r}")
        if hostname and reqs == "none":
            raise ConfigurationError(
                f"{self.url}: ssl_check_hostname=true needs certificate checks "
                "(ssl_cert_reqs=required)")
        tls: dict[str, object] = {"ssl": True, "ssl_cert_reqs": reqs,
                                  "ssl_check_hostname": hostname}
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if options.get(name):
                tls[name] = options[name]
        return tls

    @staticmethod
    def _describe(client: redis.Redis) -> str:
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        scheme = "rediss" if "SSL" in pool.connection_class.__name__ else "redis"
        host = str(kwargs.get("host", "localhost"))
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.namespace!r})"

    # --- plumbing ------------------------------------------------------------------------

    def _key(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def _call(self, action: Callable[[redis.Redis], T]) -> T:
        """``action(client)``; every failure becomes a StateStoreError naming the URL."""
        client = self._client
        if client is None:
            raise StateStoreError(f"the Redis state store {self.url} is closed",
                                  store=self.url)
        try:
            return action(client)
        except self._errors as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: BaseException) -> StateStoreError:
        text = str(exc) or type(exc).__name__
        cause, retryable = text, False
        for matches, meaning, can_retry in _FAILURES:
            if matches(exc, type(exc).__name__, text, self._timeout_error):
                cause = meaning.format(text=text, ns=_namespace(self.namespace))
                retryable = can_retry
                break
        if self._password:
            cause = cause.replace(self._password, "***")
        return StateStoreError(f"Redis state store {self.url}: {cause}", store=self.url,
                               retryable=retryable)

    # --- StateStore ----------------------------------------------------------------------

    def get_cursor(self, key: str) -> int | None:
        return self._call(lambda r: _optional_int(r.hget(self._cursors, key)))

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        if cursors:
            # One HSET of every field is atomic on its own.
            mapping: dict[FieldT, EncodableT] = {
                key: int(value) for key, value in cursors.items()}
            self._call(lambda r: r.hset(self._cursors, mapping=mapping))

    def get_route(self, chat_guid: str) -> str | None:
        return self._call(lambda r: _optional_text(r.get(self._key("route", chat_guid))))

    def set_route(self, chat_guid: str, phone: str) -> None:
        px = self._route_ttl or None
        self._call(lambda r: r.set(self._key("route", chat_guid), phone, px=px))

    def get_counter(self, key: str) -> int:
        return self._call(lambda r: _optional_int(r.get(self._key("counter", key))) or 0)

    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        args = (-1 if limit is None else max(int(limit), 0), _ms("ttl", ttl))
        result = self._call(lambda r: self._reserve(keys=[self._key("counter", key)],
                                                    args=args, client=r))
        return int(result) == 1

    def release(self, key: str) -> None:
        self._call(lambda r: self._release(keys=[self._key("counter", key)], client=r))

    def raise_counter(self, key: str, value: int, ttl: float | None = None) -> int:
        args = (int(value), _ms("ttl", ttl))
        result = self._call(lambda r: self._raise(keys=[self._key("counter", key)],
                                                  args=args, client=r))
        return int(result)

    def add_member(self, group: str, member: str, ttl: float | None = None) -> bool:
        if ttl is not None:
            # Members that expire one by one are keys of their own (a set expires whole).
            one = self._key("member", f"{group}:{member}")
            millis = _ms("ttl", ttl)
            return bool(self._call(lambda r: r.set(one, b"1", nx=True, px=millis)))
        key = self._key("set", group)
        if not self._member_ttl:
            return int(self._call(lambda r: r.sadd(key, member))) == 1

        def add(r: redis.Redis) -> Any:
            pipe = r.pipeline(transaction=True)
            pipe.sadd(key, member)
            pipe.pexpire(key, self._member_ttl)
            return pipe.execute()[0]

        return int(self._call(add)) == 1

    def has_member(self, group: str, member: str) -> bool:
        key = self._key("set", group)
        one = self._key("member", f"{group}:{member}")

        def check(r: redis.Redis) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.sismember(key, member)
            pipe.exists(one)
            return pipe.execute()

        in_set, alone = self._call(check)
        return bool(in_set) or bool(alone)

    def remove_member(self, group: str, member: str) -> None:
        """Remove from a set (a webhook claim given up); nothing when absent."""
        key = self._key("set", group)
        one = self._key("member", f"{group}:{member}")

        def remove(r: redis.Redis) -> Any:
            pipe = r.pipeline(transaction=True)
            pipe.srem(key, member)
            pipe.delete(one)
            return pipe.execute()

        self._call(remove)

    def get_sent(self, key: str) -> str | None:
        return self._call(lambda r: _optional_text(r.get(self._key("sent", key))))

    def set_sent(self, key: str, guid: str, ttl: float | None = None) -> None:
        px = _ms("ttl", ttl) or None
        self._call(lambda r: r.set(self._key("sent", key), guid, px=px))

    def close(self) -> None:
        """Disconnect the pool (a client passed in is left open); later calls raise."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            with contextlib.suppress(Exception):
                client.close()

    # --- LeaseStore ----------------------------------------------------------------------

    def register_receiver(self, receiver_id: str, ttl: float) -> list[str]:
        ttl_ms = _ms("ttl", ttl)
        return self._call(lambda r: sorted(_text(i) for i in self._register(
            keys=[self._receivers], args=[receiver_id, ttl_ms], client=r)))

    def unregister_receiver(self, receiver_id: str) -> None:
        self._call(lambda r: r.zrem(self._receivers, receiver_id))

    def live_receivers(self) -> list[str]:
        return self._call(lambda r: sorted(
            _text(i) for i in self._live(keys=[self._receivers], client=r)))

    def acquire_lease(self, name: str, holder: str, ttl: float) -> int | None:
        ttl_ms = _ms("ttl", ttl)
        return self._call(lambda r: _optional_int(self._acquire(
            keys=[self._key("lease", name), self._key("fence", name),
                  self._key("since", name)],
            args=[holder, ttl_ms], client=r)))

    def lease_age(self, name: str) -> float | None:
        millis = self._call(lambda r: _optional_int(self._age(
            keys=[self._key("since", name)], client=r)))
        return None if millis is None else millis / 1000

    def renew_lease(self, name: str, holder: str, fence: int, ttl: float) -> bool:
        ttl_ms = _ms("ttl", ttl)
        done = self._call(lambda r: self._renew(
            keys=[self._key("lease", name)], args=[holder, int(fence), ttl_ms], client=r))
        return int(done) == 1

    def release_lease(self, name: str, holder: str, fence: int) -> bool:
        done = self._call(lambda r: self._release_lease(
            keys=[self._key("lease", name)], args=[holder, int(fence)], client=r))
        return int(done) == 1

    def lease_holder(self, name: str) -> str | None:
        return self._call(lambda r: _optional_text(r.hget(self._key("lease", name),
                                                          "holder")))

    def set_cursors_fenced(
        self, cursors: Mapping[str, int], fences: Mapping[str, tuple[str, int]]
    ) -> bool:
        keys = [self._cursors]
        args: list[str | int] = []
        for lease, (holder, fence) in fences.items():
            keys.append(self._key("lease", lease))
            args += [holder, int(fence)]
        for stream, sequence in cursors.items():
            args += [stream, int(sequence)]
        done = self._call(lambda r: self._set_fenced(keys=keys, args=args, client=r))
        return int(done) == 1
