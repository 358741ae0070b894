"""The two ways to reach ClickHouse: chdb in the process, or a server over HTTP.

Both take the same SQL text and answer in the same output format (`JSONCompact`, with
decimals and 64-bit integers quoted so Python reads them exactly), so the store above them
is one module whatever the connection: one dialect, two transports.

* `chdb:///path/to/dir`: chdb's embedded engine allows one data directory per process,
  so sessions are shared per path (`_SESSIONS`) and every statement goes through one
  lock: a chdb session is not documented as safe for concurrent queries, and the
  engine parallelizes each query internally anyway.
* `clickhouse://user:pass@host:8123/db`: clickhouse-connect's HTTP client. Inserts are
  synchronous (`async_insert=0`, the default) and, on a cluster, written through the
  `Distributed` table to the shards (`insert_distributed_sync=1`): the server answers once
  the part is written, so an acknowledged event is durable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson

# Quoted decimals and 64-bit integers: exact values through JSON.
OUTPUT_SETTINGS = (
    " SETTINGS output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1"
)


class Transport(Protocol):
    """Runs one statement; `query` returns the result rows of a SELECT."""

    database: str

    def command(self, sql: str) -> None: ...

    def query(self, sql: str) -> list[list[Any]]: ...

    def close(self) -> None: ...


def _rows(payload: bytes) -> list[list[Any]]:
    if not payload.strip():
        return []
    data: list[list[Any]] = orjson.loads(payload)["data"]
    return data


class ChdbTransport:
    """chdb in this process: one session per data directory, statements serialized."""

    def __init__(self, path: str, database: str) -> None:
        self.database = database
        self._shared = _open_session(path)

    def command(self, sql: str) -> None:
        with self._shared.lock:
            self._shared.session.query(sql, "JSONCompact")

    def query(self, sql: str) -> list[list[Any]]:
        with self._shared.lock:
            result = self._shared.session.query(sql + OUTPUT_SETTINGS, "JSONCompact")
            payload: bytes = result.bytes()
        return _rows(payload)

    def close(self) -> None:
        """Sessions live as long as the process: chdb cannot reopen another path anyway."""


@dataclass
class _Shared:
    path: str
    session: Any
    lock: threading.Lock


_SESSIONS: dict[str, _Shared] = {}
_OPENING = threading.Lock()


def _open_session(path: str) -> _Shared:
    """The process's chdb session on `path`; another path closes the previous one first
    (chdb holds one embedded server per process)."""
    from chdb import session as chdb_session  # optional dependency: the `clickhouse` extra

    with _OPENING:
        shared = _SESSIONS.get(path)
        if shared is not None:
            return shared
        for other in list(_SESSIONS.values()):
            with other.lock:
                other.session.close()
            del _SESSIONS[other.path]
        opened = chdb_session.Session(path)  # type: ignore[no-untyped-call]
        shared = _Shared(path=path, session=opened, lock=threading.Lock())
        _SESSIONS[path] = shared
        return shared


class HttpTransport:
    """A ClickHouse server (or a cluster's load balancer) through clickhouse-connect."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect  # optional dependency: the `clickhouse` extra

        parts = urlsplit(url)
        self.database = (parts.path or "/").strip("/") or "default"
        self._client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or 8123,
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database="default",
            secure=parts.scheme in ("clickhouses", "https"),
            # Synchronous inserts, and on a cluster's `Distributed` table written through to
            # the shards before the answer: an acknowledged event is on a replica's disk.
            settings={"async_insert": 0, "insert_distributed_sync": 1},
        )
        self._lock = threading.Lock()

    def command(self, sql: str) -> None:
        with self._lock:
            self._client.command(sql)

    def query(self, sql: str) -> list[list[Any]]:
        with self._lock:
            payload: bytes = self._client.raw_query(sql + OUTPUT_SETTINGS, fmt="JSONCompact")
        return _rows(payload)

    def close(self) -> None:
        self._client.close()


def open_transport(url: str) -> Transport:
    """`chdb:///dir` (database `meterly`) or `clickhouse://user:pass@host:port/db`."""
    scheme = urlsplit(url).scheme
    if scheme == "chdb":
        path = url[len("chdb://") :]
        if not path:
            raise ValueError("chdb URL needs a directory: chdb:///path/to/dir")
        return ChdbTransport(path, "meterly")
    if scheme in ("clickhouse", "clickhouses", "http", "https"):
        return HttpTransport(url)
    raise ValueError(f"unsupported event store URL scheme: {scheme!r}")
