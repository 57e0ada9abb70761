"""The admin API under `/__hall/` (Starlette), and the OpenAPI description at `/openapi.json`.

    GET  /__hall/health                 status, token count, default, rule count, time scale, settings
                                        (envs, capability_ids, max_body, policy)
    GET  /__hall/rules                  {"rules": [...mapping form...], "uses": [...]}
    PUT  /__hall/rules                  replace: a list of rules, or {"rules": [...]}
    POST /__hall/rules                  add one rule (a mapping) or several (a list); answers their indexes
    GET  /__hall/default                {"behaviour": spec}
    PUT  /__hall/default                a spec (JSON string) or the mapping form {"behaviour": ...}
    POST /__hall/reset                  back to the start-up configuration; the journal is emptied
    GET  /__hall/journal?since=SEQ      {"entries": [...], "next_seq": N}; DELETE empties it
    GET  /__hall/time-scale             {"time_scale": x}; PUT {"time_scale": x}
    GET  /__hall/                       the live journal page; GET /__hall/events its event stream (live.py)

The admin API takes no token (it is a local test tool listening on 127.0.0.1 unless told otherwise); its
requests are not journalled. Mistakes answer 400 with {"error", "detail"} naming what was expected.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hallsim.emulator._errors import EmulatorError
from hallsim.emulator._version import __version__
from hallsim.emulator.live import routes as live_routes
from hallsim.emulator.openapi import openapi_document

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"error": "bad_admin_request", "detail": detail}, status_code=400)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as err:
        raise EmulatorError(f"{request.url.path}: expected a JSON body; {err}") from None


def admin_app(hall: HallApp) -> Starlette:
    def state() -> dict[str, Any]:
        return {
            "default": hall.default.spec,
            "rules": len(hall.book.rules),
            "tokens": len(hall.tokens),
            "time_scale": hall.time_scale,
            "journal_size": hall.journal.size,
            "next_seq": hall.journal.next_seq,
            "held_requests": hall.held_requests,
            "max_body": hall.max_body,
            "envs": list(hall.envs),
            "capability_ids": hall.capability_ids,
            "policy": hall.policy.settings() if hall.policy is not None else None,
        }

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, **state()})

    async def rules(request: Request) -> JSONResponse:
        if request.method == "GET":
            book = hall.book
            return JSONResponse({"rules": [r.to_mapping() for r in book.rules], "uses": book.uses()})
        data = await _json(request)
        if request.method == "PUT":
            items = data.get("rules") if isinstance(data, dict) else data
            if not isinstance(items, list):
                return _bad('PUT /__hall/rules: expected a list of rules or {"rules": [...]}')
            hall.set_rules(items)
            return JSONResponse({"rules": len(hall.book.rules)})
        added = hall.add_rules(data if isinstance(data, list) else [data])
        return JSONResponse({"added": added, "rules": len(hall.book.rules)})

    async def default(request: Request) -> JSONResponse:
        if request.method == "PUT":
            data = await _json(request)
            hall.set_default(data)
        return JSONResponse({"behaviour": hall.default.spec, "mapping": hall.default.to_mapping()})

    async def reset(request: Request) -> JSONResponse:
        hall.reset()
        return JSONResponse({"status": "reset", **state()})

    async def journal(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            hall.journal.clear()
            return JSONResponse({"status": "cleared", "next_seq": hall.journal.next_seq})
        since_text = request.query_params.get("since", "0")
        if not since_text.isdigit():
            return _bad(f"/__hall/journal?since=: expected a whole number (a seq); got {since_text!r}")
        entries = hall.journal.since(int(since_text))
        return JSONResponse({"entries": [e.to_dict() for e in entries], "next_seq": hall.journal.next_seq})

    async def time_scale(request: Request) -> JSONResponse:
        if request.method == "PUT":
            data = await _json(request)
            hall.set_time_scale(data.get("time_scale") if isinstance(data, dict) else data)
        return JSONResponse({"time_scale": hall.time_scale})

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document(hall))

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        return _bad(str(exc))

    return Starlette(
        routes=[
            Route("/__hall/health", health),
            Route("/__hall/rules", rules, methods=["GET", "PUT", "POST"]),
            Route("/__hall/default", default, methods=["GET", "PUT"]),
            Route("/__hall/reset", reset, methods=["POST"]),
            Route("/__hall/journal", journal, methods=["GET", "DELETE"]),
            Route("/__hall/time-scale", time_scale, methods=["GET", "PUT"]),
            Route("/openapi.json", openapi),
            *live_routes(hall),
        ],
        exception_handlers={EmulatorError: on_error},
    )
