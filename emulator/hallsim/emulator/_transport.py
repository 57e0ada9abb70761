"""Faults a real client sees at the transport level: a TCP reset, a close with no answer, a request held open.

ASGI gives an app no way to reset or close a connection, so the emulator serves with its own uvicorn protocol
class (passed as `uvicorn.Config(http=HallProtocol)`, a documented extension point). The class is uvicorn's
own HTTP protocol (httptools when installed, else h11) plus one thing: for each connection it puts the
asyncio transport into the ASGI scope, under `scope["extensions"]["hallsim.transport"]`. The route handler
uses it only for `reset` and `close`; every other behaviour is plain ASGI. Served by anything else (an ASGI
test client, another server), `reset` and `close` end the request without an answer and that server
decides what the client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

TRANSPORT_KEY = "hallsim.transport"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def transport_of(scope: Scope) -> asyncio.Transport | None:
    extensions = scope.get("extensions")
    return extensions.get(TRANSPORT_KEY) if extensions else None


def reset_connection(transport: asyncio.Transport) -> None:
    """Send a TCP RST: SO_LINGER on with a zero timeout makes close() drop the connection with a reset."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # the peer may already have gone
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def close_connection(transport: asyncio.Transport) -> None:
    """Close the connection (FIN) without writing a byte of HTTP."""
    transport.close()


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client has gone (the request body was already read, so only a disconnect can come)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def protocol_class() -> type:
    """uvicorn's HTTP protocol (httptools if installed, else h11) that exposes the transport to the app."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # pragma: no cover - httptools is a dependency where it builds
        from uvicorn.protocols.http.h11_impl import H11Protocol as base  # type: ignore[assignment]

    class HallProtocol(base):  # pyright: ignore[reportGeneralTypeIssues]  (chosen at run time)
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            app = self.app

            # once per connection, not per request: wrap the app so each request's scope carries the transport
            async def app_with_transport(scope: Scope, receive: Any, send: Any) -> None:
                extensions = scope.get("extensions")
                if extensions is None:
                    scope["extensions"] = {TRANSPORT_KEY: transport}
                else:
                    extensions[TRANSPORT_KEY] = transport
                await app(scope, receive, send)

            self.app = app_with_transport

    return HallProtocol
