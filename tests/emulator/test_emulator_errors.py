"""An exception the emulator raises while answering (a bug in hallsim) is recorded, answered 500 and
re-raised in the test, as pytest-httpserver does with handler errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator
from hallsim.emulator.app import HallApp

pytest_plugins = ["pytester"]


class InjectedBug(RuntimeError):
    pass


def _break_rule_lookup(monkeypatch: pytest.MonkeyPatch, app: HallApp) -> None:
    """Make request handling raise inside the emulator, after the request was read and validated."""

    def boom(*args: Any) -> Any:
        raise InjectedBug("rule lookup exploded")

    monkeypatch.setattr(app, "select", boom)


def test_the_error_is_journalled_answered_500_and_re_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    hall = HallEmulator().start()
    try:
        _break_rule_lookup(monkeypatch, hall.app)
        answer = httpx.post(
            f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}
        )
        assert answer.status_code == 500
        assert answer.json()["error"] == "emulator_error"
        assert "bug in hallsim" in answer.json()["detail"]
        [entry] = hall.journal()
        assert entry.emulator_error == "InjectedBug: rule lookup exploded"
        assert entry.to_dict()["emulator_error"] == "InjectedBug: rule lookup exploded"
        assert [type(e) for e in hall.handler_errors] == [InjectedBug]
        with pytest.raises(InjectedBug, match="rule lookup exploded"):
            hall.check_handler_errors()
        hall.check_handler_errors()  # raised once, then forgotten
    finally:
        hall.stop()


def test_leaving_the_context_manager_raises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    hall = HallEmulator()
    with hall:
        _break_rule_lookup(monkeypatch, hall.app)
        httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        with pytest.raises(InjectedBug):
            hall.__exit__(None, None, None)
    assert not hall.running


def test_a_clean_run_raises_nothing_and_reset_forgets_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with HallEmulator() as hall:
        assert httpx.post(
            f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}
        ).is_success
        assert hall.journal()[0].emulator_error is None
        hall.check_handler_errors()
        with monkeypatch.context() as patch:
            _break_rule_lookup(patch, hall.app)
            httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        hall.reset()
        hall.check_handler_errors()


def test_a_failure_after_the_answer_started_sends_no_second_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from hallsim.emulator import _answer

    real = _answer.cached_answer

    class BrokenBody(dict):  # type: ignore[type-arg]
        def __getitem__(self, key: Any) -> Any:
            raise InjectedBug("after the start")

    # cached_answer makes the messages of an allow with a generated decision id (the default behaviour):
    # the start goes out, the body fails as the server reads it
    def half_then_boom(entry: Any, cached: Any) -> Any:
        start, body = real(entry, cached)
        return start, BrokenBody(body)

    with HallEmulator() as hall:
        monkeypatch.setattr(_answer, "cached_answer", half_then_boom)
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        monkeypatch.setattr(_answer, "cached_answer", real)
        assert hall.journal()[0].emulator_error == "InjectedBug: after the start"
        with pytest.raises(InjectedBug):
            hall.check_handler_errors()


def test_the_pytest_fixture_fails_a_test_that_met_an_emulator_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx
        from hallsim.emulator import GUIDE_REQUEST

        def test_uses_the_hall(hall_emulator, monkeypatch):
            def boom(*args):
                raise RuntimeError("injected into the emulator")
            monkeypatch.setattr(hall_emulator.app, "select", boom)
            answer = httpx.post(
                hall_emulator.url + "/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}
            )
            assert answer.status_code == 500

        def test_the_next_test_is_clean(hall_emulator):
            answer = httpx.post(
                hall_emulator.url + "/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"}
            )
            assert answer.status_code == 200
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: injected into the emulator*"])
