"""Fixtures for the emulator tests: a running emulator (reset around each test) and in-process clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from hallsim.emulator import HallEmulator
from hallsim.emulator.app import HallApp


class InProcessClient:
    """A synchronous client for an ASGI app, in-process (httpx.ASGITransport, driven through an anyio portal:
    starlette's TestClient would do, but warns about httpx in this starlette version)."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client
        self.headers = client.headers

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


def in_process(app: HallApp, token: str | None = "t") -> Any:
    """Context manager: an InProcessClient for `app`, sending `Authorization: Bearer <token>` when given."""
    from contextlib import contextmanager

    @contextmanager
    def manage() -> Iterator[InProcessClient]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with start_blocking_portal() as portal:
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://hall.test", headers=headers)
            try:
                yield InProcessClient(portal, client)
            finally:
                portal.call(client.aclose)

    return manage()


@pytest.fixture(scope="module")
def running_hall() -> Iterator[HallEmulator]:
    with HallEmulator(tokens=("t", "second-token")) as hall:
        yield hall


@pytest.fixture
def hall(running_hall: HallEmulator) -> Iterator[HallEmulator]:
    """A real emulator on a real socket, reset to its start-up configuration around the test."""
    running_hall.reset()
    yield running_hall
    running_hall.reset()


@pytest.fixture
def http(hall: HallEmulator) -> Iterator[httpx.Client]:
    """A real HTTP client (httpx over TCP) aimed at `hall`, sending the accepted token `t`."""
    with httpx.Client(base_url=hall.url, timeout=5.0, headers={"Authorization": "Bearer t"}) as client:
        yield client


@pytest.fixture
def app() -> HallApp:
    return HallApp(tokens=("t",))


@pytest.fixture
def client(app: HallApp) -> Iterator[InProcessClient]:
    """The ASGI app driven in-process (no socket), sending the accepted token `t`."""
    with in_process(app) as test_client:
        yield test_client


@pytest.fixture
def make_client() -> Any:
    """`make_client(app, token="t")`: an in-process client context manager for another app."""
    return in_process
