"""What a step can see and what it can leave behind: the environment, state between runs, hostile steps,
and the Node processes the harness starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hallsim.harness._errors import HarnessError
from hallsim.harness.node import NodeBinary, find_node
from hallsim.harness.pipedream import NodeHost, PipedreamRun, host_for

from .conftest import ROOT, body, code_step

pytestmark = pytest.mark.e2e

EXPORT_ENV_KEYS = "$.export('keys', Object.keys(process.env).sort());"
ENV_KEYS = body(EXPORT_ENV_KEYS)


def test_a_code_step_sees_only_the_workflow_environment(write_workflow, run_workflow, monkeypatch) -> None:
    monkeypatch.setenv("HALLSIM_TEST_SECRET", "must-not-leak")
    path = write_workflow(code_step("look", ENV_KEYS), env={"ONLY": "this", "HALL": "{{hall.url}}"})
    assert run_workflow(path).step("look").exports == {"keys": ["HALL", "ONLY"]}


def test_an_unset_token_leaves_the_variable_out(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("look", ENV_KEYS))
    keys = run_workflow(path, token=None).step("look").exports["keys"]
    assert "HALL_SESSION_TOKEN" not in keys
    assert "PYHALL_HALL_URL" in keys


def test_variables_override_the_workflow_environment(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("look", body("$.export('v', process.env.HALL_SESSION_TOKEN);")))
    assert run_workflow(path, variables={"HALL_SESSION_TOKEN": "other"}).step("look").exports == {
        "v": "other"
    }


@pytest.mark.parametrize(("action_env", "keys"), [("none", []), ("workflow", ["ONLY"])])
def test_published_actions_see_no_environment_unless_asked(
    write_workflow, run_workflow, action_env: str, keys: list[str]
) -> None:
    # pipedream.md "Environment variables": private components do not see workspace or project variables
    action = "export default { type: 'action', props: {}, async run({ $ }) {\n" + EXPORT_ENV_KEYS + "\n} };\n"
    path = write_workflow(
        {"name": "act", "action": "act.mjs"},
        code_step("after", ENV_KEYS),
        env={"ONLY": "x"},
        files={"act.mjs": action},
    )
    run = run_workflow(path, action_env=action_env)
    assert run.step("act").exports == {"keys": keys}
    assert run.step("after").exports == {"keys": ["ONLY"]}  # code steps always see the workflow's variables


LEAKY = body(
    "const seen = { global: typeof globalThis.leaked, env: process.env.LEAKED ?? null,\n"
    "  proto: typeof [].leaked, count: ++counter };\n"
    "globalThis.leaked = 1;\nprocess.env.LEAKED = 'yes';\nArray.prototype.leaked = 1;\n"
    "process.on('beforeExit', () => {});\n"
    "$.export('seen', seen);"
)


def test_nothing_a_run_leaves_behind_reaches_the_next_run(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("leak", "let counter = 0;\n" + LEAKY))
    first = run_workflow(path).step("leak").exports["seen"]
    second = run_workflow(path).step("leak").exports["seen"]
    clean = {"global": "undefined", "env": None, "proto": "undefined", "count": 1}
    assert first == clean
    assert second == clean


def test_a_clean_worker_is_reused_and_a_dirty_one_is_not(write_workflow, run_workflow) -> None:
    clean = write_workflow(code_step("fine", body("$.export('ok', true);")), name="clean.yaml")
    dirty = write_workflow(code_step("leak", body("globalThis.leaked = 1;")), name="dirty.yaml")
    first = run_workflow(clean).worker["runs"]
    assert run_workflow(clean).worker["runs"] == first + 1
    run_workflow(dirty)
    assert run_workflow(clean).worker["runs"] == 1


def test_module_state_is_fresh_every_run_though_compiled_code_is_kept(
    tmp_path: Path, write_workflow, run_workflow
) -> None:
    # modules.mjs keeps V8's compiled code per source; every run still evaluates new modules
    (tmp_path / "counter.mjs").write_text(
        "export const state = { calls: 0 };\nexport function count() { return ++state.calls; }\n",
        encoding="utf-8",
    )
    step = "import { count, state } from './counter.mjs';\nconst seen = [];\n" + body(
        "seen.push(count());\nstate.extra = (state.extra ?? 0) + 1;\n"
        "$.export('seen', [...seen, state.extra]);"
    )
    path = write_workflow(code_step("counts", step))
    runs = [run_workflow(path) for _ in range(3)]
    assert [run.step("counts").exports["seen"] for run in runs] == [[1, 1]] * 3
    assert runs[2].worker["runs"] > runs[0].worker["runs"]  # one worker, reused: the modules were not


def test_the_same_source_in_two_files_reports_each_file(tmp_path: Path, write_workflow, run_workflow) -> None:
    # compiled code is kept per source and file: an error names the file that ran, on its own line
    text = "export default defineComponent({\n  async run() {\n    null.x;\n  },\n}) // no newline at the end"
    for name in ("one.mjs", "two.mjs"):
        (tmp_path / name).write_text(text, encoding="utf-8")
    for _ in range(2):
        for name in ("one.mjs", "two.mjs"):
            error = run_workflow(write_workflow({"name": "s", "code": name})).step("s").error
            assert (error["location"]["file"], error["location"]["line"]) == (str(tmp_path / name), 3)


# each leaves the realm different in one way the worker's clean check compares (state.mjs)
REALM_CHANGES = {
    "flag_changed": "Object.defineProperty(Array.prototype, 'map', { enumerable: true });",
    "value_to_getter": (
        "Object.defineProperty(globalThis, 'structuredClone', { get() { return 1; }, configurable: true });"
    ),
    "setter_added": (
        "const d = Object.getOwnPropertyDescriptor(Map.prototype, 'size');\n"
        "Object.defineProperty(Map.prototype, 'size', { ...d, set(v) {} });"
    ),
    "deleted": "delete Math.hypot;",
    # assigned again, it comes back enumerable
    "deleted_and_assigned_again": "const parse = JSON.parse; delete JSON.parse; JSON.parse = parse;",
    "added_and_deleted_others": "delete Math.max; Math.hallsim = Math.min;",  # as many keys as before
    "symbol_added": "Object.prototype[Symbol.for('hallsim')] = 1;",
    "frozen": "Object.freeze(Reflect);",
    "module_export_patched": "const { default: util } = await import('node:util');\nutil.format = () => '';",
}


@pytest.mark.parametrize("name", sorted(REALM_CHANGES))
def test_every_kind_of_change_to_the_realm_retires_the_worker(
    write_workflow, run_workflow, name: str
) -> None:
    change = REALM_CHANGES[name]
    clean = write_workflow(code_step("fine", body("$.export('ok', true);")), name="clean.yaml")
    changed = write_workflow(code_step("change", body(change)), name="changed.yaml")
    first = run_workflow(clean).worker["runs"]
    assert run_workflow(clean).worker["runs"] == first + 1  # still clean: reused
    assert run_workflow(changed).outcome == "completed"
    assert run_workflow(clean).worker["runs"] == 1  # the changed worker was retired


def test_a_realm_left_as_it_was_keeps_the_worker(write_workflow, run_workflow) -> None:
    # a property deleted and defined again exactly as it was leaves nothing a next run could notice
    same = body(
        "const d = Object.getOwnPropertyDescriptor(JSON, 'parse');\n"
        "delete JSON.parse; Object.defineProperty(JSON, 'parse', d);\n$.export('ok', true);"
    )
    path = write_workflow(code_step("same", same))
    first = run_workflow(path).worker
    second = run_workflow(path).worker
    assert first["retired"] is None
    assert second["runs"] == first["runs"] + 1


def test_steps_of_one_run_share_the_runtime_as_on_pipedream(write_workflow, run_workflow) -> None:
    path = write_workflow(
        code_step("first", body("globalThis.shared = 'from first';")),
        code_step("second", body("$.export('shared', globalThis.shared);")),
    )
    assert run_workflow(path).step("second").exports == {"shared": "from first"}


HOSTILE = {
    "busy_loop": ("for (;;) {}", "timed_out", "timeout", "TimeoutError"),
    "never_resolves": ("await new Promise(() => {});", "timed_out", "timeout", "TimeoutError"),
    "process_exit": ("process.exit(3);", "errored", "error", "ProcessExit"),
    # in a worker thread process.kill(process.pid) would end the whole Node host, and the run with it
    "kills_its_process": ("process.kill(process.pid);", "errored", "error", "ProcessKillRefusedError"),
    "throws_a_string": ("throw 'nope';", "errored", "error", "non-Error thrown (string)"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_steps_get_a_clear_verdict_and_the_next_run_still_works(
    write_workflow, run_workflow, name: str
) -> None:
    source, outcome, status, error = HOSTILE[name]
    hostile = write_workflow(
        code_step("hostile", body(source)), code_step("after", body("")), name="hostile.yaml"
    )
    run = run_workflow(hostile, timeout_s=5)
    assert run.outcome == outcome
    assert run.step("hostile").status == status
    assert run.step("hostile").error["name"] == error
    assert run.step("after").status == "not_run"
    fine = write_workflow(code_step("fine", body("$.export('ok', true);")), name="fine.yaml")
    assert run_workflow(fine).step("fine").exports == {"ok": True}


# A run that times out while its request to the Hall hangs: the request fails once the run's connections are
# dropped, and the step's code after it runs then. The worker is kept when that code leaves nothing behind.
AFTER_A_HUNG_REQUEST = {
    "nothing": ("", 1),
    "a_global": ("globalThis.leaked = 1;", None),
    "a_timer": ("setTimeout(() => { globalThis.leaked = 1; }, 1000);", None),
    "a_retry_loop": ("for (;;) { try { await fetch(url, ask); } catch {} }", None),
}


@pytest.mark.parametrize("name", sorted(AFTER_A_HUNG_REQUEST))
def test_a_run_timed_out_on_a_hung_request_keeps_its_worker_only_if_clean(
    write_workflow, run_workflow, name: str
) -> None:
    after, reused = AFTER_A_HUNG_REQUEST[name]
    hang = body(
        "const url = process.env.PYHALL_HALL_URL + '/api/route';\n"
        "const ask = { method: 'POST',\n"
        "  headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },\n"
        "  body: JSON.stringify({ capability_id: 'cap.data.write.v1', worker_id: 'wrk_x', env: 'dev' }) };\n"
        "try { await fetch(url, ask); } catch {}\n" + after
    )
    look = body("$.export('leaked', globalThis.leaked ?? null);")
    fine = write_workflow(code_step("fine", look), name="f.yaml")
    first = run_workflow(fine).worker["runs"]
    timed_out = run_workflow(write_workflow(code_step("hang", hang), name="h.yaml"), "timeout", timeout_s=2)
    assert timed_out.outcome == "timed_out"
    assert timed_out.step("hang").status == "timeout"
    next_run = run_workflow(fine)
    assert next_run.step("fine").exports == {"leaked": None}
    # kept: the same worker's next run; retired: a fresh worker
    assert next_run.worker["runs"] == (first + 2 if reused else 1)


def test_a_busy_loop_says_the_step_blocked_the_event_loop(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("spin", body("for (;;) {}"))), timeout_s=2)
    assert "event loop" in run.step("spin").error["message"]
    # the platform ends the execution at the timeout; the wall-clock grace hallsim allows is not modelled
    assert run.modelled_ms == pytest.approx(2000)


def test_a_busy_loop_left_behind_by_a_finished_step_does_not_hold_up_the_next_run(
    write_workflow, run_workflow
) -> None:
    # a long promise chain outlives the step's run() and ends in a loop after the run has answered
    spin_later = body(
        "let chain = Promise.resolve();\nfor (let i = 0; i < 1000; i++) chain = chain.then(() => {});\n"
        "chain.then(() => { for (;;) {} });"
    )
    spin = write_workflow(code_step("spin", spin_later), name="spin.yaml")
    assert run_workflow(spin).outcome == "completed"
    fine = write_workflow(code_step("fine", body("$.export('ok', true);")), name="fine.yaml")
    assert run_workflow(fine).step("fine").exports == {"ok": True}


def test_a_busy_loop_at_module_load_is_caught_too(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("spin", "for (;;) {}\n" + body(""))), timeout_s=2)
    assert run.outcome == "timed_out"
    assert run.step("spin").status == "timeout"


def test_exports_made_before_a_busy_loop_are_kept(write_workflow, run_workflow) -> None:
    run = run_workflow(
        write_workflow(code_step("spin", body("$.export('before', 1);\nfor (;;) {}"))), timeout_s=2
    )
    assert run.step("spin").exports == {"before": 1}


def test_work_left_running_after_the_run_only_gives_a_warning(write_workflow, run_workflow) -> None:
    # pipedream.md "Errors and time": work left running after run resolves only gives a warning
    run = run_workflow(write_workflow(code_step("lingering", body("setTimeout(() => {}, 100000);"))))
    assert run.outcome == "completed"
    assert any("work left running" in w for w in run.warnings)


def test_work_the_runtime_cannot_stop_does_not_reach_the_next_run(write_workflow, run_workflow) -> None:
    # a loop of file reads uses no timer and no HTTP: only retiring the worker stops it
    looping = "import fs from 'node:fs';\n" + body(
        "(async () => {\n"
        "  for (;;) { await fs.promises.stat('.'); globalThis.spins = (globalThis.spins ?? 0) + 1; }\n"
        "})();"
    )
    run = run_workflow(write_workflow(code_step("loop", looping), name="loop.yaml"))
    assert run.outcome == "completed"
    assert any("work left running" in w and "file operation" in w for w in run.warnings)
    later = body(
        "await new Promise((r) => setTimeout(r, 1000));\n$.export('spins', globalThis.spins ?? null);"
    )
    assert run_workflow(write_workflow(code_step("look", later))).step("look").exports == {"spins": None}


START_CHILD = (
    "const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);\n"
    "$.export('pid', child.pid);\n"
)


@pytest.mark.parametrize(
    "then", ["return;", "for (;;) {}", "await new Promise((r) => setTimeout(r, 100));\nprocess.exit(2);"]
)
def test_a_child_process_a_step_starts_does_not_outlive_its_run(write_workflow, run_workflow, then) -> None:
    source = "import { spawn } from 'node:child_process';\n" + body(START_CHILD + then)
    run = run_workflow(write_workflow(code_step("spawner", source)), timeout_s=2)
    pid = run.step("spawner").exports["pid"]
    deadline = (
        time.monotonic() + 10
    )  # SIGKILL was sent before the run answered; the kernel ends it soon after
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def test_no_node_process_outlives_the_python_process_that_started_it(tmp_path: Path) -> None:
    script = tmp_path / "one_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from hallsim.emulator import HallEmulator
            from hallsim.harness import HallEndpoint, load_workflow
            from hallsim.harness.node import find_node
            from hallsim.harness.pipedream import host_for

            workflow = load_workflow({str(ROOT / "fixtures/pipedream/inline_option_a.yaml")!r})
            with HallEmulator() as hall:
                run = workflow.run(HallEndpoint(hall.url, "t", hall), settings={{"time_scale": 0.01}})
            print(run.outcome, host_for(find_node()).pid, flush=True)
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    outcome, pid = done.stdout.split()
    assert outcome == "completed"
    assert not _alive(int(pid))


def test_closing_a_host_ends_its_node_process(hall) -> None:
    host = NodeHost(find_node())
    result = host.request("ping", wall_timeout=30)
    pid = result["pid"]
    assert _alive(pid)
    host.close()
    assert not _alive(pid)


def test_a_host_that_never_answers_is_killed(tmp_path: Path) -> None:
    fake = tmp_path / "silent-node"
    fake.write_text("#!/bin/sh\nexec sleep 60\n", encoding="utf-8")
    fake.chmod(0o755)
    host = NodeHost(NodeBinary(fake, (20, 0, 0), "setting"))
    with pytest.raises(HarnessError, match="gave no answer"):
        host.request("ping", wall_timeout=0.2)
    assert host.pid is None
    host.close()


def test_the_shared_host_is_reused(hall) -> None:
    assert host_for(find_node()) is host_for(find_node())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is a process that already ended; only its exit status is left
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_a_patched_builtin_module_does_not_reach_the_next_run(write_workflow, run_workflow) -> None:
    source = "import http from 'node:http';\n" + body(
        "$.export('patched_before', http.request.name === 'patched');\nhttp.request = function patched() {};"
    )
    path = write_workflow(code_step("patch", source))
    assert run_workflow(path).step("patch").exports == {"patched_before": False}
    assert run_workflow(path).step("patch").exports == {"patched_before": False}


def test_a_changed_platform_stand_in_does_not_reach_the_next_run(write_workflow, run_workflow) -> None:
    # one @pipedream/platform stand-in serves every run of a worker: its default export and classes are shared
    source = "import platform, { ConfigurationError } from '@pipedream/platform';\n" + body(
        "$.export('seen', [platform.marker ?? null, ConfigurationError.prototype.marker ?? null]);\n"
        "platform.marker = 1;\nConfigurationError.prototype.marker = 1;"
    )
    path = write_workflow(code_step("patch", source))
    assert run_workflow(path).step("patch").exports == {"seen": [None, None]}
    assert run_workflow(path).step("patch").exports == {"seen": [None, None]}


def test_a_host_killed_from_outside_is_replaced_on_the_next_run(run_workflow) -> None:
    import signal

    from .conftest import FIXTURES

    assert run_workflow(FIXTURES / "inline_option_a.yaml").outcome == "completed"
    host = host_for(find_node())
    pid = host.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert run_workflow(FIXTURES / "inline_option_a.yaml").outcome == "completed"
    assert host.pid not in (None, pid)


# --- processes a step starts, and what it can write -------------------------------------------------------


def _with_marker(marker: str) -> list[int]:
    """Live processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _gone(marker: str, within: float = 10.0) -> bool:
    deadline = (
        time.monotonic() + within
    )  # SIGKILL was sent before the run answered; the kernel ends them soon after
    while _with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _with_marker(marker)


GRANDCHILDREN = {
    # a background job of a shell: the shell exits at once, its job is left in its process group
    "background_job": "import { exec } from 'node:child_process';\n"
    + body("exec('sleep {m} &');\nawait new Promise((r) => setTimeout(r, 3000));"),
    # a detached shell whose child leaves the group (setsid): only the tag in its environment finds it
    "setsid_grandchild": "import { spawn } from 'node:child_process';\n"
    + body(
        "spawn('sh', ['-c', 'setsid sleep {m} & sleep {m}'], { detached: true, stdio: 'ignore' }).unref();\n"
        "await new Promise((r) => setTimeout(r, 3000));"
    ),
    # a Worker the step starts has its own, unwrapped child_process: its environment carries the tag
    "nested_worker_child": "import { Worker } from 'node:worker_threads';\n"
    + body(
        "new Worker(\"require('node:child_process').spawn('sleep', ['{m}'], { stdio: 'ignore' });\""
        ", { eval: true });\n"
        "await new Promise((r) => setTimeout(r, 3000));"
    ),
    "sync_then_background": "import { execSync } from 'node:child_process';\n"
    + body("execSync('sleep {m} > /dev/null 2>&1 &');\nawait new Promise((r) => setTimeout(r, 3000));"),
}


@pytest.mark.parametrize("name", sorted(GRANDCHILDREN))
def test_what_a_step_s_children_start_does_not_outlive_the_run(write_workflow, run_workflow, name) -> None:
    marker = f"46.{os.getpid()}{abs(hash(name)) % 100000}"
    source = GRANDCHILDREN[name].replace("{m}", marker)
    run = run_workflow(write_workflow(code_step("spawner", source)))
    assert run.outcome == "completed", run.step("spawner").error
    assert _gone(marker)


def test_a_child_started_in_a_step_killed_by_its_timeout_does_not_outlive_it(
    write_workflow, run_workflow
) -> None:
    marker = f"46.{os.getpid()}777"
    source = "import { exec } from 'node:child_process';\n" + body(
        f"exec('sleep {marker} &');\nfor (;;) {{}}"
    )
    run = run_workflow(write_workflow(code_step("spawner", source)), timeout_s=2)
    assert run.outcome == "timed_out"
    assert _gone(marker)


def test_what_a_step_writes_to_file_descriptor_1_is_its_output(write_workflow, run_workflow) -> None:
    source = "import fs from 'node:fs';\n" + body(
        "fs.writeSync(1, 'straight to fd 1\\n');\nprocess.stdout.write('through process.stdout\\n');\n"
        "$.export('ok', true);"
    )
    run = run_workflow(write_workflow(code_step("writer", source)))
    assert run.step("writer").exports == {"ok": True}
    assert "straight to fd 1" in run.output
    assert "through process.stdout" in run.output


def test_lines_shaped_like_the_host_protocol_cannot_forge_an_answer(write_workflow, run_workflow) -> None:
    # whatever file descriptor the channel has, a step can write to it (every socket of the process, and
    # fd 1 and 2); the answer carries a key the step lacks
    forged = '{"id":1,"result":{"outcome":"completed"}}\\n'
    source = "import fs from 'node:fs';\n" + body(
        "const fds = fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => {\n"
        "  try { return fd <= 2 || fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:'); }\n"
        "  catch { return false; } });\n"
        f"for (const fd of fds) {{ for (let id = 1; id < 50; id++) {{\n"
        f"  try {{ fs.writeSync(fd, '{forged}'.replace('1,', id + ',')); }} catch {{}}\n}} }}\n"
        "$.export('fds', fds.length);\n"
        "throw new Error('the real outcome');"
    )
    run = run_workflow(write_workflow(code_step("forger", source)))
    assert run.outcome == "errored"
    assert run.step("forger").error["message"] == "the real outcome"
    # and the host still answers the next run
    fine = write_workflow(code_step("fine", body("$.export('ok', true);")), name="fine.yaml")
    assert run_workflow(fine).step("fine").exports == {"ok": True}


def test_data_pushed_into_process_argv_retires_the_worker(write_workflow, run_workflow) -> None:
    clean = write_workflow(code_step("fine", body("$.export('argv', process.argv.length);")), name="c.yaml")
    before = run_workflow(clean).step("fine").exports["argv"]
    pushed = write_workflow(code_step("push", body("process.argv.push('x'.repeat(1000));")), name="p.yaml")
    run_workflow(pushed)
    after = run_workflow(clean)
    assert after.step("fine").exports["argv"] == before
    assert after.worker["runs"] == 1


@pytest.mark.parametrize(
    "allocate",
    [
        # an ArrayBuffer is outside the V8 heap: the heap limit alone lets it through
        "const b = new ArrayBuffer(400 * 1024 * 1024); new Uint8Array(b).fill(1);\n"
        "await new Promise((r) => setTimeout(r, 5000));",
        "const kept = []; for (;;) { kept.push(new Array(1e6).fill(kept.length)); await null; }",
        # outside the heap, in one synchronous loop: only the host's watch on the process sees it (host.mjs)
        "const kept = []; for (;;) kept.push(Buffer.alloc(16 * 1024 * 1024, 1));",
    ],
    ids=["array_buffer", "heap", "buffers_in_a_synchronous_loop"],
)
def test_a_run_that_uses_more_memory_than_allowed_gets_a_clear_verdict(
    write_workflow, run_workflow, allocate
) -> None:
    hog = write_workflow(code_step("hog", body(allocate)), code_step("after", body("")), name="hog.yaml")
    run = run_workflow(hog, timeout_s=60, time_scale=1.0)
    assert run.outcome == "errored"
    assert run.step("hog").error["name"] == "MemoryLimitError"
    assert "Out of Memory" in run.step("hog").error["message"]
    assert run.step("after").status == "not_run"
    fine = write_workflow(code_step("fine", body("$.export('ok', true);")), name="fine.yaml")
    assert run_workflow(fine).step("fine").exports == {"ok": True}


def test_a_host_that_dies_during_a_run_is_that_run_s_error_not_retried(
    write_workflow, run_workflow, hall
) -> None:
    import signal
    import threading

    calls = write_workflow(
        code_step(
            "call",
            body(
                "await fetch(process.env.PYHALL_HALL_URL + '/api/route', { method: 'POST',\n"
                "  headers: { 'Content-Type': 'application/json', Authorization: 'Bearer t' },\n"
                "  body: JSON.stringify({ capability_id: 'x' }) });\n"
                "await new Promise((r) => setTimeout(r, 60000));"
            ),
        ),
        name="calls.yaml",
    )
    seq = hall.next_seq
    host = host_for(find_node())

    def kill_when_called() -> None:
        deadline = time.monotonic() + 30
        while hall.next_seq == seq and time.monotonic() < deadline:
            time.sleep(0.01)
        if host.pid is not None:
            os.kill(host.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_called)
    killer.start()
    with pytest.raises(HarnessError, match=r"died \(killed by signal 9\).*not retried"):
        run_workflow(calls, time_scale=1.0, timeout_s=120)
    killer.join()
    assert len(hall.journal_since(seq)) == 1  # the Hall was called once: the run was not sent again


def meet_at_once(meeting: Path, count: int, write_workflow, run_workflow) -> list[PipedreamRun]:
    """`count` runs at once of a step that waits until all `count` have started, each exporting its thread."""
    meeting.mkdir()
    source = "import { threadId } from 'node:worker_threads';\nimport fs from 'node:fs';\n" + body(
        f"const here = {json.dumps(str(meeting))};\n"
        "fs.writeFileSync(`${here}/${threadId}`, '');\n"
        f"while (fs.readdirSync(here).length < {count}) "
        "await new Promise((resolve) => setTimeout(resolve, 20));\n"
        "$.export('thread', threadId);"
    )
    path = write_workflow(code_step("meet", source), name=f"{meeting.name}.yaml")
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda p: run_workflow(p, timeout_s=60, time_scale=1), [path] * count))


def test_runs_at_once_each_get_a_worker_of_their_own(tmp_path: Path, write_workflow, run_workflow) -> None:
    # each run waits until all four have started: runs served one after another would never get there
    runs = meet_at_once(tmp_path / "meeting", 4, write_workflow, run_workflow)
    assert [run.outcome for run in runs] == ["completed"] * 4, [
        (r.outcome, r.step("meet").error, r.worker) for r in runs
    ]
    assert len({run.step("meet").exports["thread"] for run in runs}) == 4


def test_workers_that_ran_side_by_side_are_kept_for_the_next_rows(
    tmp_path: Path, write_workflow, run_workflow
) -> None:
    # more runs at once than the host keeps idle by default (4): when they all come back, none is ended, so
    # the next runs as many at once take those workers instead of new ones (host.mjs peakRuns)
    at_once = 6
    rounds = []
    for round_ in range(2):
        runs = meet_at_once(tmp_path / f"meeting{round_}", at_once, write_workflow, run_workflow)
        assert [run.outcome for run in runs] == ["completed"] * at_once
        rounds.append(runs)
    assert len({run.step("meet").exports["thread"] for run in rounds[0]}) == at_once
    # a worker's first run is its `runs` 1: the second round got none that had not run before
    assert [run.worker["runs"] >= 2 for run in rounds[1]] == [True] * at_once
