"""httpx for thousands of streaming clients: httpcore on plain asyncio streams.

httpcore reads through anyio, which opens a cancel scope around every read for its read
timeout, even an infinite one. With 2,000 streaming clients that scope was three quarters of
the harness's cost per received event (py-spy, bench/harness_clients.py). The robust client
puts its own silence deadline around every read, so the harness gives httpcore this small
asyncio network backend (httpcore's documented extension point) and no read timeout.

Nor does it use httpcore's connection pool: on every request and every response closed, the pool
walks all its connections and all its requests, so N clients connecting cost O(N^2). Ramping
4,000 clients, that walk was 57 of the harness's 73 CPU seconds (cProfile,
bench/harness_clients.py) and clients timed out waiting for their turn. The harness never reuses
a connection anyway (no keep-alive: a socket a fault cut could look alive), so each request gets
a connection of its own, closed with its response.

Clients reach a target through a TCP proxy (Toxiproxy) the way curl's `--connect-to` does:
`route_through` sends a request to the proxy's address while the request still names the
target, in its Host header and, for https, in the TLS server name and the certificate check.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SOCKET_EXTRA = {"client_addr": "sockname", "server_addr": "peername", "socket": "socket", "ssl_object": "ssl_object"}


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:  # the hot path: a streaming client's own deadline covers it
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no data within {timeout:g} s") from None
        except OSError as error:
            raise httpcore.ReadError(_reason(error)) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not write within {timeout:g} s") from None
        except OSError as error:
            raise httpcore.WriteError(_reason(error)) from None

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no TLS handshake within {timeout:g} s") from None
        except (OSError, ssl.SSLError) as error:
            raise httpcore.ConnectError(_reason(error)) from None
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle kept-alive connection the server closed
            sock = self._writer.get_extra_info("socket")
            return sock is not None and bool(select.select([sock], [], [], 0)[0])
        name = _SOCKET_EXTRA.get(info)
        return self._writer.get_extra_info(name) if name else None


class ConnectionPerRequest:
    """Stands in for httpcore's pool under httpx: a new connection per request, closed when its
    response is; the open ones are kept in a set, so that closing the client closes them."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl_context = ssl_context
        self._backend = AsyncioBackend()
        self._open: set[httpcore.AsyncHTTPConnection] = set()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        connection = httpcore.AsyncHTTPConnection(
            request.url.origin, ssl_context=self._ssl_context, network_backend=self._backend
        )
        self._open.add(connection)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await self._close(connection)
            raise
        body = _ClosingBody(response, lambda: self._close(connection))
        return httpcore.Response(
            response.status, headers=response.headers, content=body, extensions=response.extensions
        )

    async def _close(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open.discard(connection)
        await connection.aclose()

    async def aclose(self) -> None:
        for connection in list(self._open):
            await self._close(connection)

    async def __aenter__(self) -> ConnectionPerRequest:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class _ClosingBody:
    """A response's body that closes its connection when it is closed (httpx always closes it)."""

    def __init__(self, response: httpcore.Response, close_connection: Callable[[], Awaitable[None]]) -> None:
        self._response = response
        self._close_connection = close_connection

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._response.aiter_stream()

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            await self._close_connection()


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes | int]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        stream = await _connect(asyncio.open_connection(host, port, local_addr=local), timeout)
        sock: socket.socket = stream.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes | int]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await _connect(asyncio.open_unix_connection(path), timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connect(
    opening: Any,
    timeout: float | None,
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"no connection within {timeout:g} s") from None
    except OSError as error:
        raise httpcore.ConnectError(_reason(error)) from None
    return AsyncioStream(reader, writer)


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__


def new_http_client() -> httpx.AsyncClient:
    """One client for many streaming clients: a connection per request (no keep-alive reuse of a
    possibly broken socket, no pool bookkeeping that grows with the clients), no read timeout
    (every reader keeps its own deadline), reads on plain asyncio. Certificates are checked
    against certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set (a private CA); other
    environment settings (an HTTP proxy) are ignored: the harness's own proxy is the point."""
    verify = httpx.create_ssl_context(trust_env=True)
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
    if not hasattr(transport, "_pool"):
        raise RuntimeError("this httpx has no _pool to replace; pin httpx 0.28")
    transport._pool = ConnectionPerRequest(verify)  # type: ignore[assignment]
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(30.0, read=None), trust_env=False)


def upstream_address(url: httpx.URL) -> str:
    """`host:port` of the server a URL names, as a TCP proxy dials it (IPv6 in brackets)."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port or _DEFAULT_PORTS[url.scheme]}"


def url_at(url: httpx.URL, address: tuple[str, int]) -> httpx.URL:
    """`url` with its host and port replaced by `address`."""
    return url.copy_with(host=address[0], port=address[1])


def route_through(request: httpx.Request, proxy: tuple[str, int]) -> None:
    """Send `request` to the TCP proxy at `proxy` in front of the server its URL names. The Host
    header (set when the request was built) stays the server's, and for https so do the TLS
    server name and the name the certificate is checked against."""
    if request.url.scheme == "https":
        request.extensions["sni_hostname"] = request.url.host
    request.url = url_at(request.url, proxy)


__all__ = [
    "AsyncioBackend",
    "AsyncioStream",
    "ConnectionPerRequest",
    "new_http_client",
    "route_through",
    "upstream_address",
    "url_at",
]
