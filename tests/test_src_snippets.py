"""The model is held to the C: every Src resolves to one line of the port.

Needs the patched tree (`spfteach kernel fetch` makes it: Debian's
linux-source-6.1 with kernel/patches applied), so it runs with the kernel tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spfteach.csrc import SrcError, function_body, model_sources, resolve
from spfteach.model import checks


def test_resolver_finds_functions_and_refuses_ambiguity(tmp_path: Path) -> None:
    c = tmp_path / "mm" / "x.c"
    c.parent.mkdir()
    c.write_text("static int\nfoo(int a);\nstatic int\nfoo(int a)\n{\n\tlock();\n"
                 "\tlock();\nout:\n\tlock();\n}\nint bar(void)\n{\n\treturn 0;\n}\n")
    assert [n for n, _ in function_body(c, "foo")] == list(range(4, 11))
    from spfteach.model.task import Src
    with pytest.raises(SrcError, match="on 3 lines"):
        resolve(Src("mm/x.c", "foo", "lock();"), tmp_path)
    assert resolve(Src("mm/x.c", "foo", "lock();", after="out:"), tmp_path).line == 9
    assert resolve(Src("mm/x.c", "bar", "return 0;"), tmp_path).line == 13
    with pytest.raises(SrcError, match="no definition of baz"):
        resolve(Src("mm/x.c", "baz", "x"), tmp_path)


def test_model_sources_are_found() -> None:
    srcs = model_sources()
    assert {c.src for c in checks.CHECKS} <= srcs
    assert len(srcs) > 100


@pytest.mark.kernel
def test_every_model_snippet_resolves_to_one_line_of_the_port(kernel_tree: Path) -> None:
    errors = []
    for src in sorted(model_sources(), key=lambda s: (s.file, s.function, s.snippet)):
        try:
            resolve(src, kernel_tree)
        except SrcError as e:
            errors.append(str(e))
    assert not errors, f"{len(errors)} model snippets do not resolve:\n" + "\n".join(errors)
