"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment.

environment.yml is read with a deliberately tiny, strict parser for the YAML subset it uses
(top-level ``key: value`` and ``key:`` followed by ``- item`` lists, with one nested ``- pip:``
list), so the tests need no YAML library; anything outside that subset is an error, not a guess.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip's vendored copy of the same parser (tomli)
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"

# conda-forge name -> PyPI name; None: a conda package with no PyPI counterpart in pyproject.
CONDA_TO_PYPI: dict[str, str | None] = {
    "python-graphviz": "graphviz",  # the Python binding
    "graphviz": None,  # the Graphviz programs (`dot`): from the OS when pip is used
    "pip": None,  # the installer itself
}
# `python` is not a package in pyproject: it is checked against requires-python.

_NAME_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


# ---------------------------------------------------------------------------- parsing


def _strip_comment(line: str) -> str:
    # A comment starts at '#' at line start or after whitespace (YAML's rule).
    m = re.search(r"(^|\s)#", line)
    return (line[: m.start()] if m else line).rstrip()


def parse_simple_yaml(text: str) -> dict[str, object]:
    """Parse the YAML subset environment.yml uses; raise ValueError on anything else."""
    result: dict[str, object] = {}
    current: list | None = None  # the top-level list being filled
    current_indent: int | None = None  # indentation of its items
    nested: list | None = None  # the list under a `- key:` item (the pip section)
    nested_indent: int | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        lead = line[: len(line) - len(line.lstrip())]
        if lead.strip(" "):
            raise ValueError(f"line {lineno}: only spaces may indent: {raw!r}")
        indent, body = len(lead), line.strip()
        if indent == 0:
            m = re.fullmatch(r"([A-Za-z_][\w-]*):(?:\s+(.*))?", body)
            if not m:
                raise ValueError(f"line {lineno}: expected 'key:' or 'key: value': {raw!r}")
            key, value = m.group(1), m.group(2)
            if key in result:
                raise ValueError(f"line {lineno}: duplicate key {key!r}")
            current = nested = None
            current_indent = nested_indent = None
            if value is None:
                current = result[key] = []
            else:
                _check_plain(value, lineno)
                result[key] = value
            continue
        if not body.startswith("- "):
            raise ValueError(f"line {lineno}: expected a list item: {raw!r}")
        item = body[2:].strip()
        _check_plain(item, lineno)
        if current is None:
            raise ValueError(f"line {lineno}: list item outside a list: {raw!r}")
        if current_indent is None:
            current_indent = indent
        if indent == current_indent:
            nested = nested_indent = None
            m = re.fullmatch(r"([\w-]+):(.*)", item)
            if m and m.group(2).strip():
                raise ValueError(f"line {lineno}: inline mapping not supported: {raw!r}")
            if m:
                nested = []
                current.append({m.group(1): nested})
            else:
                current.append(item)
        elif indent > current_indent and nested is not None:
            if nested_indent is None:
                nested_indent = indent
            if indent != nested_indent or re.fullmatch(r"[\w-]+:.*", item):
                raise ValueError(f"line {lineno}: nesting not supported here: {raw!r}")
            nested.append(item)
        else:
            raise ValueError(f"line {lineno}: unexpected indentation: {raw!r}")
    return result


def _check_plain(value: str, lineno: int) -> None:
    # Flow collections, quotes, anchors and block scalars are outside the subset.
    if not value or value[0] in "[{\"'&*|>!%@`":
        raise ValueError(f"line {lineno}: unsupported YAML value {value!r}")


def split_spec(spec: str) -> tuple[str, frozenset[str]]:
    """'jupyterlab >=4, <5' -> ('jupyterlab', {'>=4', '<5'}). Names normalised as in PEP 503."""
    m = _NAME_SPEC.match(spec.strip())
    if not m:
        raise ValueError(f"cannot read requirement {spec!r}")
    name, extras, rest = m.groups()
    if extras:
        raise ValueError(f"extras not expected here: {spec!r}")
    if ";" in rest:
        raise ValueError(f"environment markers not supported here: {spec!r}")
    bounds = frozenset(p for p in re.sub(r"\s+", "", rest).split(",") if p)
    for b in bounds:
        if not re.fullmatch(r"(>=|<=|==|!=|<|>|~=)[0-9][0-9A-Za-z.*]*", b):
            raise ValueError(f"unexpected version bound {b!r} in {spec!r}")
    return re.sub(r"[-_.]+", "-", name).lower(), bounds


def load_env(path: Path = ENV_FILE) -> dict[str, object]:
    return parse_simple_yaml(path.read_text(encoding="utf-8"))


def load_pyproject(path: Path = PYPROJECT) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def conda_parts(env: dict) -> tuple[dict[str, frozenset[str]], list[str]]:
    """The conda dependencies as {name: bounds} and the pip section's lines."""
    conda: dict[str, frozenset[str]] = {}
    pip_lines: list[str] = []
    deps = env.get("dependencies")
    assert isinstance(deps, list), "environment.yml has no 'dependencies:' list"
    for item in deps:
        if isinstance(item, dict):
            assert list(item) == ["pip"], f"unexpected sub-section {item!r}"
            pip_lines.extend(item["pip"])
            continue
        name, bounds = split_spec(item)
        assert name not in conda, f"{name} listed twice in environment.yml"
        conda[name] = bounds
    return conda, pip_lines


def pyproject_deps(pp: dict) -> dict[str, frozenset[str]]:
    """Runtime dependencies and every extra (`test`, `hub`), as {PyPI name: bounds}."""
    project = pp["project"]
    reqs = list(project["dependencies"])
    for extra in sorted(project["optional-dependencies"]):
        reqs += project["optional-dependencies"][extra]
    out: dict[str, frozenset[str]] = {}
    for r in reqs:
        name, bounds = split_spec(r)
        assert name not in out, f"{name} listed twice in pyproject.toml"
        out[name] = bounds
    return out


def conda_as_pypi(conda: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for name, bounds in conda.items():
        if name == "python":
            continue
        pypi = CONDA_TO_PYPI.get(name, name)
        if pypi is None:
            continue
        out[pypi] = bounds
    return out


# ---------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def env() -> dict:
    return load_env()


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return load_pyproject()


def test_channels_are_conda_forge_only(env):
    assert env.get("channels") == ["conda-forge"]


def test_python_matches_requires_python(env, pyproject):
    conda, _ = conda_parts(env)
    assert "python" in conda, "environment.yml does not pin python"
    _, requires = split_spec("python" + pyproject["project"]["requires-python"])
    assert conda["python"] == requires


def test_dependencies_match_both_ways(env, pyproject):
    conda, _ = conda_parts(env)
    from_conda = conda_as_pypi(conda)
    from_pip = pyproject_deps(pyproject)
    missing_in_conda = sorted(set(from_pip) - set(from_conda))
    missing_in_pip = sorted(set(from_conda) - set(from_pip))
    assert not missing_in_conda, f"in pyproject.toml but not environment.yml: {missing_in_conda}"
    assert not missing_in_pip, f"in environment.yml but not pyproject.toml: {missing_in_pip}"
    differ = {
        n: (sorted(from_pip[n]), sorted(from_conda[n]))
        for n in from_pip
        if from_pip[n] != from_conda[n]
    }
    assert not differ, f"bounds differ (pyproject, environment.yml): {differ}"


def test_dot_and_pip_come_from_conda(env):
    conda, _ = conda_parts(env)
    assert "graphviz" in conda, "conda `graphviz` (the `dot` program) is missing"
    assert "pip" in conda, "`pip` must be listed for the pip section to work"


def test_pip_section_installs_the_package(env):
    _, pip_lines = conda_parts(env)
    assert pip_lines == ["-e ."], f"pip section should be exactly ['-e .'], got {pip_lines}"


def test_console_script_and_package(pyproject):
    assert pyproject["project"]["scripts"] == {"spfteach": "spfteach.cli:main"}
    assert pyproject["tool"]["setuptools"]["packages"]["find"]["include"] == ["spfteach*"]


# ------------------------------------------------------------- the parser itself


def test_parser_reads_nested_pip_and_comments():
    text = (
        "name: x  # c\nchannels:\n  - a\n"
        "dependencies:\n  - b>=1  # c\n  - pip:\n      - -e .\n  - c\n"
    )
    assert parse_simple_yaml(text) == {
        "name": "x",
        "channels": ["a"],
        "dependencies": ["b>=1", {"pip": ["-e ."]}, "c"],
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2]\n",  # flow sequence
        "b\n",  # not key: value
        "a:\n  - 'q'\n",  # quoted scalar
        "a:\n  - x\n   - y\n",  # ragged indentation
        "- x\n",  # item outside a list
        "a:\n  - b: c\n",  # inline mapping
        "a:\n  - b:\n      - c:\n          - d\n",  # too deep
        "a: 1\na: 2\n",  # duplicate key
    ],
)
def test_parser_rejects_what_it_does_not_understand(text):
    with pytest.raises(ValueError):
        parse_simple_yaml(text)


def test_split_spec():
    assert split_spec("Jupyter_Lab >=4, <5") == ("jupyter-lab", frozenset({">=4", "<5"}))
    assert split_spec("graphviz") == ("graphviz", frozenset())
    with pytest.raises(ValueError):
        split_spec("x; python_version<'3.11'")
