"""hallsim's `@pipedream/platform` stand-in side by side with the real package (3.4.0, installed from npm into
a cache folder): the same probe step runs under both and must observe the same things. Skipped, saying why,
when npm is missing or cannot reach the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hallsim.harness.pipedream._platform import STAND_IN_MATCHES, find_platform

from .conftest import GUIDE_ENV, code_step

CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "hallsim"
    / f"pipedream-platform-{STAND_IN_MATCHES}"
)


def _installed(folder: Path) -> bool:
    manifest = folder / "node_modules" / "@pipedream" / "platform" / "package.json"
    return manifest.is_file() and json.loads(manifest.read_text())["version"] == STAND_IN_MATCHES


@pytest.fixture(scope="session")
def real_platform() -> Path:
    """A folder whose node_modules holds @pipedream/platform 3.4.0 (installed once, then reused)."""
    if _installed(CACHE):
        return CACHE
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not on PATH: cannot install @pipedream/platform to compare the stand-in with it")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CACHE.parent, prefix=".install-"))
    try:
        done = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(staging),
                f"@pipedream/platform@{STAND_IN_MATCHES}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not _installed(staging):
            pytest.skip(
                f"npm could not install @pipedream/platform@{STAND_IN_MATCHES}: {done.stderr.strip()[-300:]}"
            )
        try:
            staging.rename(CACHE)  # atomic: a parallel test worker may have won the race
        except OSError:
            if not _installed(CACHE):
                raise
    except subprocess.TimeoutExpired:
        pytest.skip("npm install @pipedream/platform timed out (no registry reachable?)")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return CACHE


PROBE = """import * as platform from "@pipedream/platform";
import { axios, ConfigurationError } from "@pipedream/platform";

export default defineComponent({
  async run({ steps, $ }) {
    const hall = process.env.PYHALL_HALL_URL;
    const sink = process.env.AUDIT_LOG_WEBHOOK_URL;
    const auth = { Authorization: `Bearer ${process.env.HALL_SESSION_TOKEN}` };
    const payload = { capability_id: "cap.data.read.v1", worker_id: "w", env: "dev" };
    const out = {};
    // newer Node (nodejs/node#53848; in the v24 docs, not in v20's) also names a CommonJS module's
    // `module.exports` in its ESM namespace (nodejs.org/api/esm.html "CommonJS Namespaces"): an artefact of
    // the Node version, not an export of the package
    const notExports = new Set(["default", "module.exports"]);
    out.exports = Object.keys(platform).filter((name) => !notExports.has(name)).sort();
    out.create = typeof axios.create;
    try {
      await axios($, { method: "POST", url: sink + "/body", body: { a: 1 } });
      out.body = "sent";
    } catch (e) {
      out.body = [e.name, e.message, e instanceof ConfigurationError];
    }
    await axios($, {
      method: "POST",
      url: sink + "/headers",
      headers: { "X-Undefined": undefined, "X-Set": "1" },
      params: { gone: undefined, kept: "k" },
      data: { a: 1, gone: undefined },
    });
    const route = { method: "POST", url: `${hall}/api/route`, headers: auth, data: payload };
    const full = await axios($, { ...route, returnFullResponse: true });
    out.full = {
      keys: Object.keys(full).sort(), status: full.status, denied: full.data.denied,
      ctype: full.headers["content-type"],
    };
    const data = await axios($, { ...route, debug: true });
    out.plain = { type: typeof data, denied: data.denied };
    const instance = axios.create({ baseURL: hall, headers: auth });
    out.created = (await instance.post("/api/route", payload)).denied;
    try {
      await axios($, { url: `${hall}/nope` });
    } catch (e) {
      out.http_error = {
        name: e.name, message: e.message, stack: e.stack, config: e.config, request: e.request, code: e.code,
        status: e.status, isAxiosError: e.isAxiosError, response: Object.keys(e.response ?? {}).sort(),
      };
    }
    try {
      await instance.get("/nope");
    } catch (e) {
      out.created_error = { name: e.name, stack: e.stack, config: e.config };
    }
    try {
      await axios({ export: () => {} }, { url: `${hall}/nope` });
    } catch (e) {
      out.no_context = e.name;
    }
    try {
      await axios($, { url: "http://127.0.0.1:3/refused" });
    } catch (e) {
      out.network_error = {
        name: e.name, message: e.message, code: e.code, stack: typeof e.stack, config: typeof e.config,
        response: e.response, isAxiosError: e.isAxiosError,
      };
    }
    $.export("probe", out);
  },
});
"""


def _probe(run_workflow: Any, write_workflow: Any, **settings: Any) -> tuple[Any, Any]:
    # a dozen requests: real time, so a busy machine does not run into the modelled 30 s limit
    # the probe's connection to 127.0.0.1:3 is refused by hallsim's egress rule: the same error under both
    run = run_workflow(write_workflow(code_step("probe", PROBE), env=GUIDE_ENV), time_scale=1.0, **settings)
    step = run.step("probe")
    assert step.status == "success", step.error
    return run, step


def _stack_shape(error: dict[str, Any]) -> dict[str, Any]:
    # a stack's frames differ (axios's files or hallsim's); whether there is one, and how it starts, do not
    stack = error.get("stack")
    return {**error, "stack": None if stack is None else stack.lstrip().startswith("at ")}


def _comparable(run: Any, step: Any) -> dict[str, Any]:
    exports = step.exports
    headers_request = next(r for r in run.sink_requests if r["path"].endswith("/headers"))
    return {
        "probe": {**exports["probe"], "created_error": _stack_shape(exports["probe"]["created_error"])},
        "export_keys": sorted(exports),
        "debug": {k: v for k, v in exports["debug"].items() if k != "headers"},
        "debug_header_names": sorted(exports["debug"]["headers"]),
        "debug_config": {k: v for k, v in exports["debug_config"].items() if k != "headers"},
        "debug_response_keys": sorted(exports["debug_response"]),
        "sent": {
            "query": headers_request.get("query"),
            "json": headers_request.get("json"),
            "x-set": headers_request["headers"].get("x-set"),
            "x-undefined" in headers_request["headers"] and "x-undefined": True,
            "user-agent": headers_request["headers"].get("user-agent", "").split("/")[0],
        },
        "logs": sorted({log["text"].split(" - ")[0] for log in step.logs}),
        "sink_paths": sorted(r["path"].split("?")[0] for r in run.sink_requests),
    }


def test_the_stand_in_behaves_as_the_real_package(
    run_workflow, write_workflow, real_platform, tmp_path
) -> None:
    stand_run, stand_step = _probe(run_workflow, write_workflow)
    assert stand_run.node["platform"].startswith("hallsim stand-in")
    real_run, real_step = _probe(run_workflow, write_workflow, platform_package=str(real_platform))
    assert real_run.node["platform"].startswith(f"@pipedream/platform {STAND_IN_MATCHES}")
    stand, real = _comparable(stand_run, stand_step), _comparable(real_run, real_step)
    # the real package's exports are the reference list: the stand-in has every one of them
    assert stand["probe"].pop("exports") == real["probe"].pop("exports")
    assert stand == real
    # and the points the reference names, as the real package shows them
    probe = real["probe"]
    assert probe["body"] == ["ConfigurationError", "unexpected body, use only data instead", True]
    assert probe["http_error"]["name"] == "AxiosError - Request failed with status code 404"
    assert "stack" not in probe["http_error"]
    assert "config" not in probe["http_error"]
    assert real["sent"]["x-set"] == "1"
    assert "x-undefined" not in json.dumps(real["sent"])
    assert "/body" not in real["sink_paths"]


def test_a_configured_platform_package_that_is_not_one_is_a_clear_error(tmp_path) -> None:
    from hallsim.harness._errors import InputError

    with pytest.raises(InputError, match="holds no @pipedream/platform package"):
        find_platform(tmp_path, str(tmp_path))


def test_the_workflows_own_node_modules_is_preferred(tmp_path, real_platform) -> None:
    project = tmp_path / "project"
    shutil.copytree(real_platform / "node_modules", project / "node_modules", symlinks=True)
    (project / "steps").mkdir()
    found = find_platform(project / "steps" / "gate.mjs", None)
    assert found.entry is not None
    assert found.version == STAND_IN_MATCHES
    assert find_platform(tmp_path / "elsewhere.mjs", None).entry is None


TIMEOUT_PROBE = """import { axios } from "@pipedream/platform";

export default defineComponent({
  async run({ steps, $ }) {
    try {
      await axios($, {
        method: "POST",
        url: `${process.env.PYHALL_HALL_URL}/api/route`,
        headers: { Authorization: `Bearer ${process.env.HALL_SESSION_TOKEN}` },
        data: { capability_id: "cap.data.read.v1", worker_id: "w", env: "dev" },
        timeout: 300,
      });
      $.export("probe", "answered");
    } catch (e) {
      $.export("probe", {
        name: e.name, message: e.message, code: e.code, stack: typeof e.stack, config: typeof e.config,
        response: e.response, isAxiosError: e.isAxiosError,
      });
    }
  },
});
"""


def test_a_request_timeout_looks_the_same_under_both(run_workflow, write_workflow, real_platform) -> None:
    probes = []
    for settings in ({}, {"platform_package": str(real_platform)}):
        path = write_workflow(code_step("probe", TIMEOUT_PROBE), env=GUIDE_ENV)
        run = run_workflow(path, "timeout", time_scale=1.0, **settings)
        assert run.step("probe").status == "success", run.step("probe").error
        probes.append(run.step("probe").exports["probe"])
    assert probes[0] == probes[1]
    assert probes[1]["message"] == "timeout of 300ms exceeded"
    assert probes[1]["code"] == "ECONNABORTED"
