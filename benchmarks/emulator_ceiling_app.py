"""The ceiling for benchmarks/emulator_throughput.py: a constant-answer raw ASGI app on the same stack as
`hallsim serve` (uvicorn + httptools + uvloop, no lifespan, no server header, no access log, no
proxy-headers middleware). It reads the request body (as the emulator must) and answers a fixed decision of
the same size, doing nothing else.

    python benchmarks/emulator_ceiling_app.py PORT
"""

from __future__ import annotations

import sys
from typing import Any

ANSWER = (
    b'{"decision_id": "4f0f4c1e-4b8e-4a57-9d59-5bb8f1ad2b27", "denied": false, '
    b'"selected_worker_species_id": "wrk.data.write", '
    b'"artifact_hash": "0000000000000000000000000000000000000000000000000000000000000000"}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http="httptools",
        loop="uvloop",
        lifespan="off",
        ws="none",
        interface="asgi3",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # as `hallsim serve` (server.py make_server): no middleware in front
    )
