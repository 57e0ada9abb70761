"""Hostile input files: every loader answers with its own error (exit 2 from the CLI) naming the file, never a
traceback, a hang or unbounded memory (emulator/hallsim/emulator/files.py has the limits).

A fuzzer with a fixed seed mutates the four kinds of input file (Make blueprints, Pipedream workflows,
scenarios, emulator scripts): random byte flips, cuts and copies, and hostile values put where a value goes
(nesting 5,000 deep, a YAML alias bomb, a 5,000-digit number, a lone surrogate, a NUL byte, a 5,000-character
file name, invalid UTF-8, NaN). The mutations run in a child process with a memory cap and a time limit per
file, so a hang or a crash is counted, not suffered. The test runs 200 mutations;
`benchmarks/hostile_files.py` runs 1,000 and prints the counts."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261203
CI_BUDGET = 200
#: seconds one file may take to load before it counts as a hang
HANG_S = 10.0
#: address-space cap of the child that loads the files (bytes)
MEMORY_CAP = 3 * 1024**3

SCRIPT_SEED = """\
# an emulator script with every kind of setting
tokens: [t, other]
envs: [dev, prod]
default: allow
capability_ids: guide
time_scale: 0.5
max_body: 65536
rules:
  - name: restricted needs approval
    match: {data_label: RESTRICTED}
    respond: "deny:RESTRICTED data needs human approval"
  - name: slow
    match: {worker_id: wrk_slow}
    respond: allow
    seed: 7
    probability: 0.5
"""


def _bomb() -> str:
    """A flow-style YAML alias bomb of about 700 bytes: nine levels of nine aliases each."""
    parts = ["&a0 [" + ",".join(["lol"] * 9) + "]"]
    for level in range(1, 9):
        parts.append(f"&a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "[" + ", ".join(parts) + "]"


YAML_VALUES = [
    "[" * 5000 + "]" * 5000,
    "{a: " * 3000 + "1" + "}" * 3000,
    _bomb(),
    "9" * 5000,
    '"\\ud800"',
    '"a\\0b"',
    "a" * 5000,
    "1e999",
    ".nan",
    "&x [*x]",
    "2024-13-45",
    "!!python/object:os.system echo",
    "*undefined",
]
JSON_VALUES = [
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "9" * 5000,
    '"\\ud800"',
    '"a\\u0000b"',
    '"' + "a" * 5000 + '"',
    "NaN",
    "-Infinity",
    "1e999",
]
RAW = [b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\r", b"\t\t", b"\x1b"]


@dataclass(frozen=True)
class Seed:
    kind: str  # blueprint, workflow, scenario, script
    relative: str  # the file inside the copied tree


def seeds(tree: Path) -> list[Seed]:
    """Copy fixtures/ and scenarios/ into `tree` (scenarios name workflows by relative path); the seeds."""
    for name in ("fixtures", "scenarios"):
        if not (tree / name).exists():
            shutil.copytree(ROOT / name, tree / name)
    (tree / "scenarios" / "hall" / "full.script.yaml").write_text(SCRIPT_SEED, encoding="utf-8")
    found = [Seed("blueprint", str(p.relative_to(tree))) for p in sorted(tree.glob("fixtures/make/*.json"))]
    found += [
        Seed("workflow", str(p.relative_to(tree))) for p in sorted(tree.glob("fixtures/pipedream/*.yaml"))
    ]
    found += [
        Seed("scenario", str(p.relative_to(tree))) for p in sorted(tree.glob("scenarios/*/*.scenario.yaml"))
    ]
    found += [Seed("script", str(p.relative_to(tree))) for p in sorted(tree.glob("scenarios/hall/*.yaml"))]
    return found


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """One mutation of a file's bytes."""
    text_kind = "json" if kind == "blueprint" else "yaml"
    choice = rng.randrange(8)
    if choice == 0 and data:  # flip a few bytes
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if choice == 1 and data:  # cut
        start = rng.randrange(len(data))
        return data[:start] + data[start + rng.randint(1, 200) :]
    if choice == 2 and data:  # copy a slice somewhere
        start = rng.randrange(len(data))
        piece = data[start : start + rng.randint(1, 400)]
        at = rng.randrange(len(data))
        return data[:at] + piece * rng.randint(1, 50) + data[at:]
    if choice == 3 and data:  # raw hostile bytes
        at = rng.randrange(len(data))
        return data[:at] + rng.choice(RAW) + data[at:]
    # a hostile value where a value goes
    text = data.decode("utf-8", errors="replace")
    if text_kind == "json":
        spots = [
            m.span(1) for m in re.finditer(r':\s*("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)', text)
        ]
        value = rng.choice(JSON_VALUES)
    else:
        spots = [m.span(1) for m in re.finditer(r"^[ -]*[\w$.]+: (.+)$", text, flags=re.M)]
        value = rng.choice(YAML_VALUES)
    if not spots:
        return data + value.encode("utf-8", errors="surrogatepass")
    start, end = rng.choice(spots)
    return (text[:start] + value + text[end:]).encode("utf-8", errors="surrogatepass")


def mutations(tree: Path, count: int, seed: int = SEED) -> list[tuple[Seed, bytes]]:
    rng = random.Random(seed)
    pool = seeds(tree)
    kinds = sorted({seed.kind for seed in pool})
    out: list[tuple[Seed, bytes]] = []
    for _ in range(count):
        kind = rng.choice(kinds)  # each kind as often as the others, however many seeds it has
        chosen = rng.choice([seed for seed in pool if seed.kind == kind])
        data = (tree / chosen.relative).read_bytes()
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            data = mutate(data, chosen.kind, rng)
        out.append((chosen, data))
    return out


# --- the child that loads the files -----------------------------------------------------------------------

CHILD = r"""
import json, re, resource, signal, sys, traceback
from pathlib import Path

resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))

from hallsim.emulator import EmulatorError, load_script
from hallsim.harness import HarnessError
from hallsim.harness.scenario import load_scenario
from hallsim.harness.workflow import load_workflow

LOADERS = {"blueprint": load_workflow, "workflow": load_workflow, "scenario": load_scenario,
           "script": load_script}

class Hang(BaseException):
    pass

def on_alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, on_alarm)
hang_s = float(sys.argv[1])
for line in sys.stdin:
    job = json.loads(line)
    path = Path(job["path"])
    signal.setitimer(signal.ITIMER_REAL, hang_s)
    try:
        LOADERS[job["kind"]](path)
        result, detail = "loaded", ""
    except (EmulatorError, HarnessError) as err:
        message = str(err)
        named = path.name in message or "not a usable" in message
        result, detail = ("error" if named else "unnamed"), message[:300]
    except Hang:
        result, detail = "hang", ""
    except BaseException as err:
        text = "".join(traceback.format_exception(err))
        result, detail = "traceback", re.sub(r"(.)\1{40,}", r"\1\1\1...", text)[-1500:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    print(json.dumps({"i": job["i"], "result": result, "detail": detail}), flush=True)
"""


def run_fuzz(tree: Path, count: int, seed: int = SEED) -> dict[str, list[dict[str, object]]]:
    """Load `count` mutated files in a child process; results grouped by verdict (a child that dies, from a
    segfault or the memory cap, is a `crash` of the file it was loading and is started again)."""
    jobs = []
    for i, (chosen, data) in enumerate(mutations(tree, count, seed)):
        original = tree / chosen.relative
        path = original.with_name(f"m{i:04d}.{original.name}")
        path.write_bytes(data)
        jobs.append({"i": i, "kind": chosen.kind, "path": str(path), "seed": chosen.relative})
    results: dict[str, list[dict[str, object]]] = {}
    at = 0
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    while at < len(jobs):
        feed = "".join(json.dumps(job) + "\n" for job in jobs[at:])
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(HANG_S), str(MEMORY_CAP)],
            input=feed,
            capture_output=True,
            text=True,
            env=env,
            timeout=HANG_S * (len(jobs) - at) + 120,
            check=False,
        )
        seen = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        for entry in seen:
            job = jobs[entry["i"]]
            results.setdefault(entry["result"], []).append({**job, "detail": entry["detail"]})
        at += len(seen)
        if at < len(jobs):  # the child died loading jobs[at]
            results.setdefault("crash", []).append({**jobs[at], "detail": done.stderr[-1500:]})
            at += 1
    return results


def summary(results: dict[str, list[dict[str, object]]]) -> str:
    return ", ".join(f"{name} {len(items)}" for name, items in sorted(results.items()))


BAD = ("traceback", "hang", "crash", "unnamed")


def test_mutated_input_files_give_a_named_error_never_a_traceback_or_a_hang(tmp_path: Path) -> None:
    results = run_fuzz(tmp_path, CI_BUDGET)
    bad = {name: results.get(name, []) for name in BAD if results.get(name)}
    assert not bad, summary(results) + "\n" + json.dumps(bad, indent=1)[:6000]
    assert len(results.get("error", [])) > CI_BUDGET // 4  # the mutations do reach the checks


# --- the cases the fuzzer draws from, one by one, through the CLI -------------------------------------------

SCENARIO = "workflow: ../fixtures/pipedream/inline_option_a.yaml\nhall: allow\nexpect: {{}}\nevent: {event}\n"
CASES = {
    "alias_bomb_in_event": ("scenario", SCENARIO.format(event=_bomb()), "alias bomb"),
    "deep_nesting": ("scenario", SCENARIO.format(event="[" * 5000 + "]" * 5000), "nest"),
    "5000_digits": ("scenario", SCENARIO.format(event="9" * 5000), "5000 digits"),
    # libyaml refuses the escape itself; JSON takes it, and the check after it refuses it
    "lone_surrogate": ("scenario", SCENARIO.format(event='"\\ud800"'), "Unicode"),
    "lone_surrogate_blueprint": ("blueprint", '{"flow": [{"id": "\\ud800"}]}', "lone surrogate"),
    "nul_escape": ("scenario", SCENARIO.format(event='"a\\0b"'), "NUL"),
    "invalid_utf8": ("scenario", SCENARIO.format(event="caf\xe9").encode("latin-1"), "UTF-8"),
    "long_step_file": (
        "workflow",
        "steps:\n  - name: s\n    code: " + "a" * 5000 + ".mjs\n",
        "usable file name",
    ),
    "nul_step_file": ("workflow", 'steps:\n  - name: s\n    code: "a\\0b.mjs"\n', "NUL"),
    "deep_blueprint": ("blueprint", '{"flow": ' + "[" * 5000 + "]" * 5000 + "}", "nest"),
    "nan_blueprint": ("blueprint", '{"flow": [{"id": NaN}]}', "NaN"),
    "digits_blueprint": ("blueprint", '{"flow": [{"id": ' + "9" * 5000 + "}]}", "5000 digits"),
    "deep_event_option": ("event", "[" * 5000 + "]" * 5000, "nest"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_file_is_exit_2_with_the_file_named(tmp_path: Path, name: str) -> None:
    kind, content, expected = CASES[name]
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    folder = tmp_path / "in"
    folder.mkdir()
    suffix = {"scenario": ".scenario.yaml", "workflow": ".yaml", "blueprint": ".json", "event": ".json"}[kind]
    path = folder / f"hostile{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    command = ["run", str(path)] if kind == "scenario" else ["replay", str(path), "--hall", "allow"]
    if kind == "event":
        gate = str(tmp_path / "fixtures" / "pipedream" / "inline_option_a.yaml")
        command = ["replay", gate, "--hall", "allow", "--event", str(path)]
    done = subprocess.run(
        [sys.executable, "-c", "from hallsim.cli import main; main()", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "hostile" in output
    assert expected in output
