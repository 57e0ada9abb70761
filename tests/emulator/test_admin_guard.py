"""The admin API guard (admin_guard.py): token, Host, JSON content type, sizes; linear-time rule regexes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator, ScriptError
from hallsim.emulator._regex import _backtracking_risk
from hallsim.emulator.admin_guard import MAX_ADMIN_BODY, AdminGuard

ADMIN_TOKEN = "admin-canary-5d1e"


@pytest.fixture(scope="module")
def guarded() -> Iterator[HallEmulator]:
    with HallEmulator(admin_token=ADMIN_TOKEN) as hall:
        yield hall


def test_without_a_token_on_loopback_the_admin_api_is_open(hall: HallEmulator, http: httpx.Client) -> None:
    assert hall.admin_token is None
    assert http.get("/__hall/health").json()["admin_token_required"] is False


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/__hall/rules", "text/plain"),  # what a page can send cross-origin without a preflight
        ("POST", "/__hall/rules", "application/x-www-form-urlencoded"),
        ("PUT", "/__hall/default", None),
        ("POST", "/__hall/reset", "multipart/form-data; boundary=x"),
        ("DELETE", "/__hall/journal", None),
    ],
)
def test_state_changing_calls_need_a_json_content_type(
    hall: HallEmulator, http: httpx.Client, method: str, path: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = http.request(method, path, content=b'{"respond": "deny"}', headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"] == "json_required"
    assert hall.rules == ()
    assert hall.default.spec == "allow"


def test_a_json_content_type_with_parameters_or_a_json_suffix_is_taken(http: httpx.Client) -> None:
    for media in ("application/json; charset=utf-8", "application/merge-patch+json"):
        answer = http.put("/__hall/default", content=b'"deny"', headers={"Content-Type": media})
        assert answer.status_code == 200, media


@pytest.mark.parametrize("host", ["evil.invalid", "evil.invalid:80", "127.0.0.1.nip.invalid", ""])
def test_a_host_the_emulator_is_not_bound_to_is_refused(hall: HallEmulator, host: str) -> None:
    answer = httpx.get(f"{hall.url}/__hall/journal", headers={"Host": host})
    assert answer.status_code == 421
    assert answer.json()["error"] == "misdirected_request"


def test_loopback_names_are_taken(hall: HallEmulator) -> None:
    for host in (f"localhost:{hall.port}", f"127.0.0.1:{hall.port}", "localhost", f"[::1]:{hall.port}"):
        assert httpx.get(f"{hall.url}/__hall/health", headers={"Host": host}).status_code == 200, host


def test_a_set_token_is_required_on_every_admin_call(guarded: HallEmulator) -> None:
    url = f"{guarded.url}/__hall/health"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url, headers={"Authorization": "Bearer wrong-token"}).status_code == 403
    assert (
        httpx.get(url, headers={"Authorization": "Bearer t"}).status_code == 403
    )  # the route token is not it
    assert httpx.get(url, headers=guarded.admin_headers()).json()["admin_token_required"] is True
    # /openapi.json describes the API and holds nothing of a run
    assert httpx.get(f"{guarded.url}/openapi.json").status_code == 200


def test_the_admin_token_never_shows_in_the_journal(guarded: HallEmulator) -> None:
    httpx.post(
        f"{guarded.url}/api/route?k={ADMIN_TOKEN}",
        json={**GUIDE_REQUEST, "note": ADMIN_TOKEN},
        headers={"Authorization": "Bearer t"},
    )
    served = httpx.get(f"{guarded.url}/__hall/journal", headers=guarded.admin_headers()).text
    assert json.loads(served)["entries"]
    assert ADMIN_TOKEN not in served


def test_beyond_loopback_a_token_is_generated() -> None:
    guard = AdminGuard()
    guard.bind("0.0.0.0", 8765)
    assert guard.required
    assert guard.generated
    assert guard.token is not None
    assert len(guard.token) >= 24
    assert guard.hosts is None  # a wildcard address: the token guards it
    named = AdminGuard(ADMIN_TOKEN)
    named.bind("192.0.2.10", 8765)  # TEST-NET-1: never contacted
    assert (named.token, named.generated) == (ADMIN_TOKEN, False)
    assert named.hosts == {"192.0.2.10", "192.0.2.10:8765"}


def test_a_short_admin_token_is_refused() -> None:
    with pytest.raises(ScriptError, match="admin_token: expected text of at least 8 characters"):
        HallEmulator(admin_token="short")


def test_admin_bodies_are_limited(http: httpx.Client) -> None:
    big = b"[" + b"1," * (MAX_ADMIN_BODY // 2) + b"1]"
    answer = http.put("/__hall/rules", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_headers_are_limited_on_every_route(hall: HallEmulator, http: httpx.Client) -> None:
    huge = {"X-Pad": "p" * (20 * 1024)}
    for method, path in (("POST", "/api/route"), ("GET", "/__hall/health"), ("GET", "/nowhere")):
        answer = http.request(method, path, json=GUIDE_REQUEST, headers=huge)
        assert answer.status_code == 431, path
    assert all("x-pad" not in e.to_dict()["headers"] for e in hall.journal())


def test_the_journal_is_read_in_pages(hall: HallEmulator, http: httpx.Client) -> None:
    first = hall.next_seq
    for _ in range(5):
        http.post("/api/route", json=GUIDE_REQUEST)
    page = http.get(f"/__hall/journal?since={first}&limit=2").json()
    assert [e["seq"] for e in page["entries"]] == [first, first + 1]
    assert page["next_since"] == first + 2
    rest = http.get(f"/__hall/journal?since={page['next_since']}").json()
    assert [e["seq"] for e in rest["entries"]] == [first + 2, first + 3, first + 4]
    assert rest["next_since"] is None


@pytest.mark.parametrize(
    "query", ["since=" + "9" * 5000, "since=-1", "since=%C2%B2", "limit=0", "limit=1001"]
)
def test_bad_journal_queries_are_400(http: httpx.Client, query: str) -> None:
    answer = http.get(f"/__hall/journal?{query}")
    assert answer.status_code == 400
    assert "expected a whole number" in answer.json()["detail"]


def test_a_catastrophic_regex_rule_answers_at_once(hall: HallEmulator, http: httpx.Client) -> None:
    # with a backtracking engine this match takes about 2**40 steps; RE2 takes a few dozen
    hall.add_rule({"match": {"worker_id": "re:^(a+)+$"}, "respond": "deny:regex"})
    answer = http.post("/api/route", json={**GUIDE_REQUEST, "worker_id": "a" * 40 + "!"})
    assert answer.json()["denied"] is False
    answer = http.post("/api/route", json={**GUIDE_REQUEST, "worker_id": "aaaa"})
    assert answer.json()["reason"] == "regex"


@pytest.mark.parametrize("pattern", ["(?=wrk)wrk", r"(w)\1"])
def test_regex_syntax_without_a_linear_time_match_is_refused(pattern: str) -> None:
    with pytest.raises(ScriptError, match=r"rules\[0\]\.match\.worker_id: .* linear-time engine \(RE2\)"):
        HallEmulator(rules=[{"match": {"worker_id": f"re:{pattern}"}, "respond": "deny"}])


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [("(a+)+$", True), ("(a|aa)*", True), ("(.*a){3}", True), (r"(a)\1", True), ("^wrk_(make|pd)_", False)],
)
def test_without_re2_nested_quantifiers_are_refused(pattern: str, refused: bool) -> None:
    assert (_backtracking_risk(pattern) is not None) is refused
