"""The limits of the one reader of input files (emulator/hallsim/emulator/files.py), with libyaml's C parser
and with PyYAML's pure-Python one: each hostile value is refused with the file and the line, and ordinary
files read the same either way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hallsim.emulator import files
from hallsim.emulator.files import MAX_ALIAS_VALUES, YamlDocument, parse_json, read_text

PARSERS = ["pure"] + (["libyaml"] if hasattr(yaml, "CSafeLoader") else [])


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    loader = yaml.CSafeLoader if request.param == "libyaml" else yaml.SafeLoader
    monkeypatch.setattr(files, "_Loader", loader)
    return str(request.param)


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


ORDINARY = (
    "name: x\nanchor: &base {a: 1, b: [1, 2]}\nuse: *base\nmerged:\n  <<: *base\n  c: 3\nwhen: 2024-01-02\n"
)


def test_an_ordinary_file_reads_the_same_with_either_parser(parser: str) -> None:
    doc = YamlDocument(Path("f.yaml"), ORDINARY)
    assert doc.data == yaml.safe_load(ORDINARY)
    assert doc.line_of(["merged", "c"]) == 6
    assert doc.where_key("use") == "f.yaml:3"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (_bomb(9), 6, "alias bomb"),  # 9**9 values from about 700 bytes; refused as a6 closes
        ("a: &a [1, *a]\n", 1, "refers to a collection from inside it"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), None, "nested more than 100 deep"),
        ("a: " + "9" * 5000 + "\n", 1, "5000 digits"),
        ('a: "x\\0y"\n', 1, "NUL character"),
        ("a: 1\n---\nb: 2\n", 2, "single document"),
        ("a: 2024-13-45\n", None, "month must be in 1..12"),
        ("a: *nowhere\n", 1, "undefined alias"),
    ],
)
def test_hostile_yaml_is_refused_with_the_line(
    parser: str, text: str, line: int | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=r"f\.yaml") as caught:
        YamlDocument(Path("f.yaml"), text)
    assert problem in str(caught.value)
    if line is not None:
        assert str(caught.value).startswith(f"f.yaml:{line}:")


def test_aliases_within_the_allowance_are_fine(parser: str) -> None:
    doc = YamlDocument(Path("f.yaml"), _bomb(5))  # 9**4 = 6,561 values from aliases
    assert len(doc.data["a4"]) == 9
    assert MAX_ALIAS_VALUES > 9**4


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"x": NaN}', "NaN is not JSON"),
        ('{"x": -Infinity}', "-Infinity is not JSON"),
        ("[" * 5000 + "]" * 5000, "nested more than 100 deep"),
        ('{"x": ' + "9" * 5000 + "}", "5000 digits"),
        ('{"x": ["\\ud800"]}', "x[0]: refused: a string holds a lone surrogate"),
        ('{"x\\u0000": 1}', "a key holds a NUL character"),
        ('{"x": 1', "not valid JSON (line 1, column 8)"),
    ],
)
def test_hostile_json_is_refused_with_the_place(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r"f\.json") as caught:
        parse_json(Path("f.json"), text)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("bad.yaml", b"a: caf\xe9\n", "not valid UTF-8 at line 1"),
        ("big.yaml", b"a" * (files.MAX_BYTES + 1), "larger than 16 MB"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=name) as caught:
        read_text(path, what="scenario file")
    assert problem in str(caught.value)


@pytest.mark.parametrize(("name", "problem"), [("a\0b", "NUL byte"), ("a" * 5000, "a part of 5000")])
def test_unusable_file_names_are_refused(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(ValueError, match="not a usable scenario file name") as caught:
        read_text(tmp_path / name, what="scenario file")
    assert problem in str(caught.value)


def test_json_is_read_without_importing_pyyaml(tmp_path: Path) -> None:
    # a Make replay or `hallsim serve` without a script reads JSON only: PyYAML (some 16 ms) waits for YAML
    blueprint = tmp_path / "b.json"
    blueprint.write_text('{"name": "x", "flow": []}', encoding="utf-8")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from hallsim.emulator.files import read_json\n"
        "import hallsim.emulator.server\n"
        f"assert read_json(Path({str(blueprint)!r})) == {{'name': 'x', 'flow': []}}\n"
        "before = 'yaml' in sys.modules\n"
        "from hallsim.emulator.files import yaml_parser\n"
        "print(before, yaml_parser() in ('libyaml', 'pure Python'), 'yaml' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True", "True"]
