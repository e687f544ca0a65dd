"""httpx for thousands of streaming clients: httpcore on plain asyncio streams.

httpcore reads through anyio, which opens a cancel scope around every read for its read
timeout, even an infinite one. With 2,000 streaming clients that scope was three quarters of
the harness's cost per received event (py-spy, bench/harness_clients.py). The robust client
puts its own silence deadline around every read, so the harness gives httpcore this small
asyncio network backend (httpcore's documented extension point) and no read timeout.

Clients reach a target through a TCP proxy (Toxiproxy) the way curl's `--connect-to` does:
`route_through` sends a request to the proxy's address while the request still names the
target, in its Host header and, for https, in the TLS server name and the certificate check.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
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
    """One pool for many streaming clients: no keep-alive reuse of a possibly broken socket, no
    read timeout (every reader keeps its own deadline), reads on plain asyncio. Certificates are
    checked against certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR when set (a private CA); other
    environment settings (an HTTP proxy) are ignored: the harness's own proxy is the point."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    verify = httpx.create_ssl_context(trust_env=True)
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    pool = transport._pool
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpcore has no _network_backend to replace; pin httpcore 1.x")
    pool._network_backend = AsyncioBackend()
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


__all__ = ["AsyncioBackend", "AsyncioStream", "new_http_client", "route_through", "upstream_address", "url_at"]
