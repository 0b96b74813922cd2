"""The shipped C excerpts (spfteach/data/c-excerpts.json) answer for every step of the model,
with no kernel tree.  That the file equals what the patched tree gives is a kernel
test (tests/kernel/test_src_snippets.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spfteach.csource import csrc, excerpts
from spfteach.csource.excerpts import Excerpt, ExcerptError, Excerpts
from spfteach.model.task import Src

FIX = "run `python -m spfteach.csource.excerpts` on a built tree"


@pytest.fixture(scope="module")
def srcs() -> set[Src]:
    return csrc.model_sources()


@pytest.fixture(scope="module")
def shipped() -> Excerpts:
    return excerpts.load()


def _label(s: Src) -> str:
    return f"{s.file}:{s.function}(): {s.snippet!r}" + (f" after {s.after!r}" if s.after else "")


def test_every_model_step_is_in_the_shipped_file(srcs: set[Src], shipped: Excerpts) -> None:
    missing = sorted(_label(s) for s in srcs if excerpts._key(s) not in shipped.lines)
    assert not missing, (f"{len(missing)} model steps are not in spfteach/data/c-excerpts.json; "
                         f"{FIX} and commit it:\n" + "\n".join(missing))
    keys = {excerpts._key(s) for s in srcs}
    stale = sorted(str(k) for k in shipped.lines if k not in keys)
    assert not stale, ("spfteach/data/c-excerpts.json has steps the model no longer has; "
                       f"{FIX} and commit it:\n" + "\n".join(stale))
    assert {(s.file, s.function) for s in srcs} == set(shipped.functions), FIX


def test_each_line_is_in_its_function_and_holds_the_snippet(srcs: set[Src],
                                                             shipped: Excerpts) -> None:
    errors = []
    code_of = {k: dict(csrc.code_only(list(ex.numbered()))) for k, ex in shipped.functions.items()}
    for s in sorted(srcs, key=excerpts._key):
        ex, line = shipped.locate(s)
        if line not in ex:
            errors.append(f"{_label(s)}: line {line} outside {ex.first_line}-{ex.last_line}")
            continue
        code = code_of[(s.file, s.function)]
        if s.snippet not in code[line]:
            errors.append(f"{_label(s)}: line {line} is {ex.text_at(line)!r}")
        if s.after and not any(s.after in code[n] for n in range(ex.first_line, line)):
            errors.append(f"{_label(s)}: the anchor is not before line {line}")
    assert not errors, "\n".join(errors)


def test_the_excerpts_alone_resolve_each_step_to_its_line(tmp_path: Path, srcs: set[Src],
                                                          shipped: Excerpts) -> None:
    """Each function, put back at its place in an otherwise empty file, gives
    csrc.resolve() the shipped line: the excerpt is the whole function, not a part
    that would hide a second occurrence of a snippet."""
    files: dict[str, list[str]] = {}
    for ex in sorted(shipped.functions.values(), key=lambda e: (e.file, e.first_line)):
        text = files.setdefault(ex.file, [])
        assert len(text) < ex.first_line, f"{ex.function}() overlaps the function before it"
        text += [""] * (ex.first_line - 1 - len(text)) + list(ex.lines)
    for file, text in files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text("\n".join(text) + "\n")
    got = {s: csrc.resolve(s, tmp_path).line for s in srcs}
    wrong = [f"{_label(s)}: {got[s]} != {shipped.line_of(s)}" for s in srcs
             if got[s] != shipped.line_of(s)]
    assert not wrong, "\n".join(wrong)


def test_the_file_names_its_tree(shipped: Excerpts) -> None:
    assert shipped.tree["linux_version"].startswith("6.1.")
    assert shipped.tree["patches_sha256"] == excerpts.patches_sha256(), (
        f"kernel/patches changed since spfteach/data/c-excerpts.json was cut; {FIX}")


def test_the_loader_says_what_is_missing_and_how_to_fix_it(tmp_path: Path,
                                                           shipped: Excerpts) -> None:
    ghost = Src("mm/memory.c", "no_such_function", "x = 1;")
    with pytest.raises(ExcerptError, match=r"mm/memory.c:no_such_function\(\).*"
                       + r"python -m spfteach\.csource\.excerpts"):
        shipped.line_of(ghost)
    with pytest.raises(ExcerptError, match=r"no_such_function\(\).*spfteach\.csource\.excerpts"):
        shipped.locate(ghost)
    with pytest.raises(ExcerptError, match="not in handle_speculative_fault"):
        shipped.function("mm/memory.c", "handle_speculative_fault").text_at(1)
    with pytest.raises(ExcerptError, match=r"cannot be read.*spfteach\.csource\.excerpts"):
        excerpts.load(tmp_path / "absent.json")
    (tmp_path / "old.json").write_text('{"format": 0}\n')
    with pytest.raises(ExcerptError, match=r"format 0.*spfteach\.csource\.excerpts"):
        excerpts.load(tmp_path / "old.json")
    (tmp_path / "bad.json").write_text('{"format": 1, "functions": {}}\n')
    with pytest.raises(ExcerptError, match="malformed"):
        excerpts.load(tmp_path / "bad.json")


def _fake_tree(root: Path) -> tuple[Path, list[Src]]:
    c = root / "mm" / "memory.c"
    c.parent.mkdir(parents=True)
    (root / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\nEXTRAVERSION =\n")
    c.write_text("/* top */\nint f(void)\n{\n\t/* lock it */\n\tlock();\nout:\n\tlock();\n}\n\n"
                 "static int\ng(int a)\n{\n\treturn a; // the answer\n}\n")
    return root, [Src("mm/memory.c", "g", "return a;"), Src("mm/memory.c", "f", "lock();", "out:"),
                  Src("mm/memory.c", "f", "lock();", "{")]


def test_a_build_is_deterministic_and_checkable(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tree, fake = _fake_tree(tmp_path / "linux")
    one, two = excerpts.build(tree, fake), excerpts.build(tree, reversed(fake))
    assert excerpts.dumps(one) == excerpts.dumps(two)
    assert one["tree"]["linux_version"] == "6.1.7"
    f = one["functions"]["mm/memory.c:f"]
    assert (f["first_line"], f["lines"][2]) == (2, "\t/* lock it */")  # comments are kept
    ex = Excerpts.from_data(json.loads(excerpts.dumps(one)))
    assert [ex.line_of(s) for s in fake] == [13, 7, 5]
    g, line = ex.locate(fake[0])
    assert g == Excerpt("mm/memory.c", "g", 11, ("g(int a)", "{", "\treturn a; // the answer",
                                                 "}"))
    assert g.text_at(line) == "\treturn a; // the answer"
    # the shipped file is held to the tree: a moved line is one line of difference
    path = tmp_path / "c-excerpts.json"
    path.write_text(excerpts.dumps(one))
    build = excerpts.build
    monkeypatch.setattr(excerpts, "build", lambda t, s=None: build(t, fake))
    assert excerpts.differences(tree, path) == []
    path.write_text(excerpts.dumps(one).replace("\n ", "\n  "))
    assert excerpts.differences(tree, path) == [
        f"{path}: same content, but not as `python -m spfteach.csource.excerpts` writes it"]
    path.write_text(excerpts.dumps(one))
    c = tree / "mm" / "memory.c"
    c.write_text(c.read_text().replace("\treturn a;", "\tint b = a;\n\treturn b;"))
    fake[0] = Src("mm/memory.c", "g", "return b;")
    diffs = excerpts.differences(tree, path)
    assert len(diffs) == 3, diffs
    assert any("mm/memory.c:g() differs: lines 11-14, the tree has 11-15" in d for d in diffs)
    assert any("`return b;` missing (line 14)" in d for d in diffs)
    assert any("`return a;` is not a step of the model any more" in d for d in diffs)


def test_unresolved_snippets_are_all_named(tmp_path: Path) -> None:
    tree, _ = _fake_tree(tmp_path / "linux")
    with pytest.raises(csrc.SrcError, match=r"(?s)2 model snippets.*nope.*no definition of h"):
        excerpts.build(tree, [Src("mm/memory.c", "f", "nope"), Src("mm/memory.c", "h", "x")])


@pytest.mark.parametrize("argv,expect", [
    (["/nonexistent/linux"], "is not a kernel tree"),
    (["--check", "/nonexistent/linux"], "is not a kernel tree"),
    (["--frob"], "unknown option '--frob'"),
    (["a", "b"], "one TREE at most"),
    (["x" * 5000], "(5000 characters) is not a kernel tree"),
    (["lin\nux"], "'lin\\nux' is not a kernel tree"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                          expect: str) -> None:
    assert excerpts.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and expect in err, err


def test_a_tree_without_a_version_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / "memory.c").write_text("")
    assert excerpts.main(["--check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a kernel tree" in err, err
