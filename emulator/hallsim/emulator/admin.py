"""The admin API under `/__hall/` (Starlette), and the OpenAPI description at `/openapi.json`.

    GET  /__hall/health                 status, token count, default, rule count, time scale, settings
                                        (envs, capability_ids, max_body, policy)
    GET  /__hall/rules                  {"rules": [...mapping form...], "uses": [...]}
    PUT  /__hall/rules                  replace: a list of rules, or {"rules": [...]}
    POST /__hall/rules                  add one rule (a mapping) or several (a list); answers their indexes
    GET  /__hall/default                {"behaviour": spec}
    PUT  /__hall/default                a spec (JSON string) or the mapping form {"behaviour": ...}
    POST /__hall/reset                  back to the start-up configuration; the journal is emptied
    GET  /__hall/journal?since=SEQ&limit=N
                                        {"entries": [...], "next_seq": N, "next_since": SEQ or null}: a page
                                        of at most `limit` entries (default and most 1000) and about 1 MiB;
                                        `next_since` is where the next page starts when more are waiting;
                                        DELETE empties the journal
    GET  /__hall/time-scale             {"time_scale": x}; PUT {"time_scale": x}
    GET  /__hall/                       the live journal page; GET /__hall/events its event stream (live.py)

Every call goes through the admin guard first (admin_guard.py: token, Host, JSON content type, size); admin
requests are not journalled. Mistakes answer 400 with {"error", "detail"} naming what was expected.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hallsim.emulator._errors import EmulatorError
from hallsim.emulator._json import JSONProblem, parse_json
from hallsim.emulator._version import __version__
from hallsim.emulator.admin_guard import ADMIN_METHODS
from hallsim.emulator.live import routes as live_routes
from hallsim.emulator.openapi import openapi_document

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp


def _bad(detail: str) -> JSONResponse:
    return JSONResponse({"error": "bad_admin_request", "detail": detail}, status_code=400)


#: a journal page holds at most this many entries, and stops once it holds about PAGE_BYTES of data, so one
#: read never keeps the event loop (and every /api/route request) waiting long
PAGE_ENTRIES = 1000
PAGE_BYTES = 1024 * 1024


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return parse_json(raw)
    except JSONProblem as err:
        raise EmulatorError(f"{request.url.path}: expected a JSON body; {err}") from None


def _whole_query(request: Request, name: str, default: int, most: int | None = None) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise EmulatorError(
            f"/__hall/journal?{name}=: expected a whole number"
            + (f" from 1 to {most}" if most is not None else " (a seq)")
            + f"; got {text[:40]!r}"
        )
    value = int(text)
    if most is not None and not 1 <= value <= most:
        raise EmulatorError(f"/__hall/journal?{name}=: expected a whole number from 1 to {most}; got {value}")
    return value


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
            "journal_bytes": hall.journal.max_bytes,
            "admin_token_required": hall.admin.required,
            "emulator_errors": len(hall.errors),
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
        since = _whole_query(request, "since", 0)
        limit = _whole_query(request, "limit", PAGE_ENTRIES, PAGE_ENTRIES)
        entries = hall.journal.since(since, limit + 1)
        page: list[dict[str, Any]] = []
        used = 0
        next_since = None
        for index, entry in enumerate(entries):
            if index == limit or (page and used + entry.size > PAGE_BYTES):
                next_since = entry.seq
                break
            page.append(entry.to_dict())
            used += entry.size
            if index % 50 == 49:
                await asyncio.sleep(0)  # let requests in flight go on between entries
        return JSONResponse({"entries": page, "next_seq": hall.journal.next_seq, "next_since": next_since})

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
            Route("/__hall/health", health, methods=list(ADMIN_METHODS["/__hall/health"])),
            Route("/__hall/rules", rules, methods=list(ADMIN_METHODS["/__hall/rules"])),
            Route("/__hall/default", default, methods=list(ADMIN_METHODS["/__hall/default"])),
            Route("/__hall/reset", reset, methods=list(ADMIN_METHODS["/__hall/reset"])),
            Route("/__hall/journal", journal, methods=list(ADMIN_METHODS["/__hall/journal"])),
            Route("/__hall/time-scale", time_scale, methods=list(ADMIN_METHODS["/__hall/time-scale"])),
            Route("/openapi.json", openapi),
            *live_routes(hall),
        ],
        exception_handlers={EmulatorError: on_error},
    )
