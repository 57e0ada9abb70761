"""hallsim.emulator.secrets: the one masking rule every output uses (journal, traces, banners, reports)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hallsim.emulator.secrets import Masker, is_secret_name, mask_header, mask_secrets, mask_token

CANARY = "canary-7f3a9c2e"


@pytest.mark.parametrize(
    ("token", "shown"),
    [("t", "***"), ("1234567", "***"), ("12345678", "1***"), (" sk_live_secret ", "s***"), ("s***", "s***")],
)
def test_a_token_keeps_its_first_character_only_when_long(token: str, shown: str) -> None:
    assert mask_token(token) == shown


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HALL_SESSION_TOKEN", True),
        ("api_key", True),
        ("ClientSecret", True),
        ("DB_PASSWORD", True),
        ("PYHALL_HALL_URL", False),
        ("worker_id", False),
    ],
)
def test_names_that_say_secret(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("Authorization", f"Bearer {CANARY}", "Bearer c***"),
        ("authorization", "Basic dXNlcjpwYXNz", "***"),
        ("Proxy-Authorization", "Bearer x", "Bearer ***"),
        ("Cookie", "session=abc", "***"),
        ("X-Hall-Token", CANARY, "c***"),
        ("X-Api-Key", CANARY, "***"),
        ("X-Trace", "make-1", "make-1"),
    ],
)
def test_headers(name: str, value: str, shown: str) -> None:
    assert mask_header(name, value) == shown


def test_given_secrets_are_masked_inside_any_text_and_json_like_value() -> None:
    value: Any = {
        "url": f"https://hall.invalid/api/route?x={CANARY}",
        "headers": {"Authorization": f"Bearer {CANARY}", "x-hall-token": CANARY},
        "body": [f"the token is {CANARY}.", ("tuple", CANARY), 3, None, True],
        CANARY: "as a key",
    }
    masked = mask_secrets(value, [CANARY])
    assert CANARY not in json.dumps(masked)
    assert masked["url"] == "https://hall.invalid/api/route?x=c***"
    assert masked["headers"] == {"Authorization": "Bearer c***", "x-hall-token": "c***"}
    assert masked["body"][0] == "the token is c***."
    assert masked["body"][2:] == [3, None, True]


def test_secret_named_values_are_masked_by_name() -> None:
    masker = Masker()
    masker.add_named("HALL_SESSION_TOKEN", CANARY)
    masker.add_named("PYHALL_HALL_URL", "http://127.0.0.1:1")
    assert masker.mask_text(f"sent {CANARY} to http://127.0.0.1:1") == "sent c*** to http://127.0.0.1:1"
    assert masker.mask({"DB_PASSWORD": "hunter22", "n": "hunter22"}) == {
        "DB_PASSWORD": "h***",
        "n": "hunter22",
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("curl -H 'Authorization: Bearer abcdefgh1234'", "curl -H 'Authorization: Bearer a***'"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
        ('{"api_key": "abcdefghij", "keys": [1, 2]}', '{"api_key": "a***", "keys": [1, 2]}'),
        ("/hook?token=abcdefghij&page=2", "/hook?token=a***&page=2"),
        ("HALL_SESSION_TOKEN=zz PYHALL_HALL_URL=http://x", "HALL_SESSION_TOKEN=*** PYHALL_HALL_URL=http://x"),
        ("no secrets here: monkey business", "no secrets here: monkey business"),
    ],
)
def test_labelled_secrets_nobody_registered_are_masked_in_text(text: str, shown: str) -> None:
    assert Masker().mask_text(text) == shown


def test_a_one_letter_token_is_masked_by_position_but_not_inside_words() -> None:
    masker = Masker(["t"])
    assert masker.mask({"authorization": "Bearer t", "text": "the test"}) == {
        "authorization": "Bearer ***",
        "text": "the test",
    }


def test_masking_is_linear_on_hostile_text() -> None:
    # possessive patterns: these would take minutes with backtracking ones (a fixed amount of work, no timing)
    masker = Masker([CANARY])
    assert masker.mask_text("tokenx" * 50_000) == "tokenx" * 50_000
    assert masker.mask_text("a." * 100_000) == "a." * 100_000
    assert masker.mask_text("token=" * 50_000) == "token=t***"
    assert masker.mask_text("bearer " * 50_000).startswith("bearer *** bearer ***")
