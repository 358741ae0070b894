"""A load generator: N concurrent keep-alive HTTP/1.1 clients on asyncio (uvloop when present).

A raw client rather than httpx: on this 2-core machine the load generator shares the CPU
with the server, and httpx's per-request cost (about 10x this client's, see
`compare_clients`) would measure the client. Request bodies are serialised before the
timer starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job:
    body: bytes
    events: int
    keys: tuple[str, ...]  # transaction ids carried by this request


@dataclass
class LoadResult:
    seconds: float
    requests: int
    ok: int
    failed: int
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    first_error: str = ""

    @property
    def events_ok(self) -> int:
        return len(self.acknowledged)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; requests one at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"Host: {host}:{port}\r\n{extra}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        reader, writer = await self._connect()
        head = f"{method} {path} HTTP/1.1\r\n{self._head}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value)
            elif lowered == "connection" and value.strip().lower() == "close":
                keep_alive = False
            elif lowered == "transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the bench client")
        payload = await reader.readexactly(length) if length else b""
        if not keep_alive:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


async def _drive(
    host: str, port: int, api_key: str, path: str, jobs: Sequence[Job], concurrency: int
) -> LoadResult:
    queue = iter(jobs)
    result = LoadResult(0.0, 0, 0, 0)

    async def client() -> None:
        conn = HttpConnection(host, port, _headers(api_key))
        try:
            for job in queue:
                started = time.perf_counter()
                try:
                    status, payload = await conn.request("POST", path, job.body)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    status, payload = 0, repr(exc).encode()
                result.latencies.append(time.perf_counter() - started)
                result.requests += 1
                if status == 200:
                    result.ok += 1
                    result.acknowledged.extend(job.keys)
                else:
                    result.failed += 1
                    if not result.first_error:
                        result.first_error = f"{status}: {payload[:300]!r}"
        finally:
            await conn.close()

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu
    return result


def run_load(
    host: str, port: int, api_key: str, path: str, jobs: Sequence[Job], concurrency: int
) -> LoadResult:
    return run_async(_drive(host, port, api_key, path, jobs, concurrency))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run the load on its own event loop in its own thread, so it also works when the
    caller already runs a loop (pytest plugins, notebooks)."""
    results: list[T] = []
    failures: list[BaseException] = []

    def target() -> None:
        try:
            import uvloop
        except ImportError:
            runner: Callable[[Coroutine[Any, Any, T]], T] = asyncio.run
        else:
            runner = uvloop.run
        try:
            results.append(runner(coro))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="bench-load")
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    return results[0]


async def _get_loop(host: str, port: int, requests: int, concurrency: int) -> float:
    conns = [HttpConnection(host, port, {}) for _ in range(concurrency)]
    per = requests // concurrency

    async def client(conn: HttpConnection) -> None:
        for _ in range(per):
            await conn.request("GET", "/health")
        await conn.close()

    cpu = time.process_time()
    await asyncio.gather(*(client(c) for c in conns))
    return (time.process_time() - cpu) / (per * concurrency)


async def _httpx_loop(base_url: str, requests: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:
        per = requests // concurrency

        async def one() -> None:
            for _ in range(per):
                await client.get("/health")

        cpu = time.process_time()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return (time.process_time() - cpu) / (per * concurrency)


def compare_clients(host: str, port: int, requests: int, concurrency: int) -> tuple[float, float]:
    """Client CPU seconds per GET /health request: (raw client, httpx.AsyncClient)."""
    raw: float = run_async(_get_loop(host, port, requests, concurrency))
    via_httpx: float = run_async(_httpx_loop(f"http://{host}:{port}", requests, concurrency))
    return raw, via_httpx
