"""HallEmulator: the emulator on real uvicorn in a background thread, scripted from Python.

    with HallEmulator(tokens=("t",)) as hall:            # a free port on 127.0.0.1
        hall.when(data_label="RESTRICTED").respond("deny", reason="needs approval")
        httpx.post(f"{hall.url}/api/route", headers={"Authorization": "Bearer t"}, json=...)
        hall.journal()[-1].to_dict()

Every setter may be called while the emulator runs; it takes effect for the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hallsim.emulator._errors import EmulatorError, ScriptError
from hallsim.emulator.app import DEFAULT_MAX_BODY, HallApp
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.contract import GUIDE_ENVS
from hallsim.emulator.journal import DEFAULT_JOURNAL_BYTES, JournalEntry
from hallsim.emulator.rules import Rule
from hallsim.emulator.script import Script, load_script

#: how long start() waits for the server to listen, and stop() for it to finish
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
#: how often a stopping server looks whether its connections and tasks are done
_SHUTDOWN_POLL = 0.002


def make_server(app: HallApp, *, log_level: str = "warning", access_log: bool = False) -> Any:
    """A uvicorn server for the app: the transport-aware protocol, and a shutdown that frees held requests."""
    import uvicorn

    from hallsim.emulator._transport import protocol_class

    class HallServer(uvicorn.Server):
        _wake: asyncio.Event | None = None
        _loop: asyncio.AbstractEventLoop | None = None

        async def main_loop(self) -> None:
            # uvicorn's own loop (a tick every 0.1 s), except that stop() can wake it at once
            self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 1) % 864000
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.1)
                should_exit = await self.on_tick(counter)

        def request_exit(self) -> None:
            """Ask the server to stop, from any thread."""
            self.should_exit = True
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(wake.set)

        async def shutdown(self, sockets: Any = None) -> None:
            # `timeout` holds requests until the client gives up; let them go first, or shutdown would wait
            app.release_held()
            app.feed.close()  # open live pages' streams end, so they do not hold up the shutdown either
            await self._shutdown_promptly(sockets)  # lifespan="off": no lifespan shutdown to send
            if app.recorder is not None:
                await app.recorder.aclose()

        async def _shutdown_promptly(self, sockets: Any) -> None:
            # uvicorn's Server.shutdown (0.55) in the same steps: stop accepting, ask every connection to
            # close, wait for connections and then tasks to finish within timeout_graceful_shutdown, else
            # cancel them. Its fixed `asyncio.sleep(0.1)` and 0.1 s polls made every stop cost 100-200 ms
            # (a fresh `hallsim replay` waited for them); this one polls every few milliseconds.
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()
            state = self.server_state

            async def settled() -> None:
                while (state.connections or state.tasks) and not self.force_exit:
                    await asyncio.sleep(_SHUTDOWN_POLL)

            try:
                await asyncio.wait_for(settled(), self.config.timeout_graceful_shutdown)
            except asyncio.TimeoutError:
                for task in state.tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
            for server in self.servers:
                await server.wait_closed()

    config = uvicorn.Config(
        app,
        http=protocol_class(),
        lifespan="off",
        ws="none",
        interface="asgi3",
        access_log=access_log,
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=5,
        # `serve` on this machine answers a new connection's first request fast; the request path stays lean
        server_header=False,
        # uvicorn's ProxyHeadersMiddleware rewrites scope["client"] and ["scheme"] from X-Forwarded-* headers
        # of a trusted proxy; the emulator reads neither, so it would only cost every request a pass over
        # the headers and a coroutine
        proxy_headers=False,
    )
    return HallServer(config)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise EmulatorError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


class HallEmulator:
    """The Hall Server emulator, in-process on a real socket. A context manager; `stop()` is idempotent."""

    def __init__(
        self,
        tokens: Iterable[str] = ("t",),
        default: Any = "allow",
        script: str | Path | None = None,
        time_scale: float = 1.0,
        journal_size: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rules: Iterable[Mapping[str, Any] | Rule] = (),
        envs: Iterable[str] = GUIDE_ENVS,
        capability_ids: str = "guide",
        max_body: int = DEFAULT_MAX_BODY,
        policy: Any = None,
        journal_bytes: int = DEFAULT_JOURNAL_BYTES,
        admin_token: str | None = None,
    ) -> None:
        if policy is not None and not hasattr(policy, "decide"):
            from hallsim.emulator.policy import load_policy

            policy = load_policy(policy)
        self.app = HallApp(
            tokens=tokens,
            default=default,
            rules=rules,
            time_scale=time_scale,
            journal_size=journal_size,
            journal_bytes=journal_bytes,
            envs=envs,
            capability_ids=capability_ids,
            max_body=max_body,
            policy=policy,
            admin_token=admin_token,
        )
        if script is not None:
            self.load_script(script)
            self.app.remember_as_initial()
        self.host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._lock = threading.Lock()

    # lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> HallEmulator:
        """Listen and serve in a background thread; returns self once the server answers."""
        with self._lock:
            if self._thread is not None:
                return self
            sock = bind_socket(self.host, self._port)
            self._port = sock.getsockname()[1]
            self.app.bind(self.host, self._port)
            server = make_server(self.app)
            self._failure = None

            def serve() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as err:
                    self._failure = err
                finally:
                    sock.close()

            thread = threading.Thread(target=serve, name=f"hallsim-emulator:{self._port}", daemon=True)
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.002)
            if not server.started:
                server.should_exit = True
                thread.join(_STOP_TIMEOUT)
                raise EmulatorError(
                    f"the emulator did not start on {self.url}: {self._failure or 'timed out'}"
                )
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving: held requests let go, connections closed, the thread joined. Safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        server.request_exit()
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a wedged connection: give up waiting politely
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> HallEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.check_handler_errors()

    # emulator errors ------------------------------------------------------------------------------------
    @property
    def handler_errors(self) -> list[Exception]:
        """Exceptions the emulator raised while answering (bugs in hallsim), oldest first."""
        return list(self.app.errors)

    def check_handler_errors(self) -> None:
        """Re-raise the first exception the emulator raised while answering, if any (the others are
        forgotten; each is also on its journal entry as `emulator_error`). Call it at the end of a test, as
        with pytest-httpserver's `HTTPServer.check_handler_errors()`; `__exit__` and the pytest plugin's
        `hall_emulator` fixture do."""
        errors = self.app.errors
        if errors:
            first = errors[0]
            errors.clear()
            raise first

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def admin_token(self) -> str | None:
        """The admin API's token (`Authorization: Bearer <it>` on /__hall/ calls), None when it is open
        (loopback without a set token); generated when the emulator listens beyond loopback."""
        return self.app.admin.token

    def admin_headers(self) -> dict[str, str]:
        """Headers for an admin call: the admin token when one is required."""
        token = self.app.admin.token
        return {"Authorization": f"Bearer {token}"} if token is not None else {}

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (the port is known once started, or when one was given)."""
        return url_for(self.host, self._port)

    # configuration ----------------------------------------------------------------------------------------
    @property
    def tokens(self) -> tuple[str, ...]:
        return self.app.tokens

    @tokens.setter
    def tokens(self, tokens: Iterable[str]) -> None:
        self.app.set_tokens(tokens)

    @property
    def time_scale(self) -> float:
        return self.app.time_scale

    @time_scale.setter
    def time_scale(self, scale: float) -> None:
        self.app.set_time_scale(scale)

    @property
    def default(self) -> Behaviour:
        return self.app.default

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.app.book.rules

    def set_default(self, behaviour: str | Mapping[str, Any] | Behaviour, **params: Any) -> Behaviour:
        """The behaviour for requests no rule matches: a spec string, a Behaviour, or a mapping
        `{"behaviour": "deny", "reason": "..."}`; keyword parameters go into the mapping form."""
        return self.app.set_default(_with_params(behaviour, params))

    def add_rule(self, rule: Mapping[str, Any] | Rule | None = None, **fields: Any) -> Rule:
        """Append a rule: a mapping (`{"match": {...}, "respond": ...}`), a Rule, or its keys as keywords."""
        if rule is None:
            rule = fields
        elif fields:
            raise ScriptError("add_rule: give a rule mapping or keywords, not both")
        return self.app.add_rule(rule)

    def set_rules(self, rules: Iterable[Mapping[str, Any] | Rule]) -> tuple[Rule, ...]:
        """Replace every rule (use counts and seeded draws start again)."""
        return self.app.set_rules(rules)

    def clear_rules(self) -> None:
        self.app.set_rules(())

    def when(self, headers: Mapping[str, Any] | None = None, **match: Any) -> RuleBuilder:
        """Start a rule: `hall.when(data_label="RESTRICTED").times(2).respond("deny", reason="...")`."""
        return RuleBuilder(self, dict(match, **({"headers": dict(headers)} if headers else {})))

    def load_script(self, path: str | Path) -> Script:
        """Apply a YAML script (tokens, rules, default, ...); what it does not set stays as it is."""
        script = load_script(path)
        self.apply_script(script)
        return script

    def apply_script(self, script: Script) -> None:
        self.app.apply_script(script)

    def reset(self) -> None:
        """Back to the configuration the emulator was made with; the journal is emptied."""
        self.app.reset()

    # journal ------------------------------------------------------------------------------------------------
    def journal(self) -> list[JournalEntry]:
        return self.app.journal.entries()

    @property
    def next_seq(self) -> int:
        return self.app.journal.next_seq

    def journal_since(self, seq: int) -> list[JournalEntry]:
        return self.app.journal.since(seq)

    def clear_journal(self) -> None:
        self.app.journal.clear()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<HallEmulator {self.url} {state} default={self.default.spec!r} rules={len(self.rules)}>"


class RuleBuilder:
    """The fluent form of a rule; `respond(...)` adds it to the emulator and returns the Rule."""

    def __init__(self, hall: HallEmulator, match: dict[str, Any]) -> None:
        self._hall = hall
        self._rule: dict[str, Any] = {"match": match} if match else {}

    def named(self, name: str) -> RuleBuilder:
        self._rule["name"] = name
        return self

    def times(self, count: int) -> RuleBuilder:
        self._rule["times"] = count
        return self

    def probability(self, p: float, seed: int | None = None) -> RuleBuilder:
        self._rule["probability"] = p
        if seed is not None:
            self._rule["seed"] = seed
        return self

    def respond(self, *behaviours: Any, after: str | None = None, **params: Any) -> Rule:
        """One behaviour (with keyword parameters, e.g. reason=...) or several in sequence."""
        if not behaviours:
            raise ScriptError("respond: expected at least one behaviour, e.g. respond('deny', reason='...')")
        if len(behaviours) > 1 and params:
            raise ScriptError(
                "respond: keyword parameters go with a single behaviour; use mappings in a sequence"
            )
        items = [_with_params(behaviours[0], params)] if len(behaviours) == 1 else list(behaviours)
        rule = {**self._rule, "respond": items[0] if len(items) == 1 else items}
        if after is not None:
            rule["after"] = after
        return self._hall.add_rule(rule)


def _with_params(behaviour: Any, params: Mapping[str, Any]) -> Any:
    if not params:
        return behaviour
    if isinstance(behaviour, Behaviour):
        behaviour = behaviour.to_mapping()
    if isinstance(behaviour, str):
        if behaviour.strip().startswith("{"):
            behaviour = parse_behaviour(behaviour).to_mapping()
        else:
            behaviour = {"behaviour": behaviour}
    return {**behaviour, **params}
