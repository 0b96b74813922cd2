"""kernel/tools/blockprof.py: instructions per function from a QEMU block trace (the
measure that found 0011's inlining fixes) — on a log in QEMU 7.2's format."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT

TOOL = ROOT / "kernel" / "tools" / "blockprof.py"
_spec = importlib.util.spec_from_file_location("blockprof", TOOL)
assert _spec and _spec.loader
blockprof = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(blockprof)

# Two blocks of f (3 + 1 instructions), one of g (2), in QEMU's -d in_asm,exec,nochain
# layout; f's first block is retranslated shorter once (icount may cut a block).
LOG = """\
----------------
IN: f
0xffffffff81000000:  31 c0                    xorl     %eax, %eax
0xffffffff81000002:  8e d8                    movl     %eax, %ds
0xffffffff81000004:  8e d0                    movl     %eax, %ss

Trace 0: 0x7f84e0247480 [0000000000000000/ffffffff81000000/0000c2b0/ff020200] f
----------------
IN: f
0xffffffff81000006:  c3                       retq

Trace 0: 0x7f84e02476c0 [0000000000000000/ffffffff81000006/0000c2b0/ff020200] f
Trace 0: 0x7f84e0247480 [0000000000000000/ffffffff81000000/0000c2b0/ff020200] f
----------------
IN: g
0xffffffff81000100:  31 c0                    xorl     %eax, %eax
0xffffffff81000102:  c3                       retq

Trace 0: 0x7f84e0247900 [0000000000000000/ffffffff81000100/0000c2b0/ff020200] g
----------------
IN: f
0xffffffff81000000:  31 c0                    xorl     %eax, %eax

Trace 0: 0x7f84e0247480 [0000000000000000/ffffffff81000000/0000c2b0/ff020200] f
"""
SYMS = [(0xffffffff81000000, "f"), (0xffffffff81000100, "g")]


def test_blocks_count_instructions_and_runs() -> None:
    bl = blockprof.blocks(LOG.splitlines(True))
    assert bl == {0xffffffff81000000: (3, 3), 0xffffffff81000006: (1, 1),
                  0xffffffff81000100: (2, 1)}


def test_per_function_sums_blocks_into_their_symbol() -> None:
    total = blockprof.per_function(blockprof.blocks(LOG.splitlines(True)), SYMS)
    assert total == {"f": 3 * 3 + 1, "g": 2}


def test_compare_puts_the_largest_difference_first() -> None:
    rows = blockprof.compare({"f": 10, "g": 2, "h": 5}, {"f": 10, "g": 40, "k": 7}, top=3)
    assert [r.split()[1] for r in rows] == ["g", "k", "h"]
    assert rows[0].split()[0] == "+38"


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert blockprof.main([str(tmp_path / "vmlinux"), str(tmp_path / "log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


@pytest.mark.parametrize("top", [1, 5])
def test_main_prints_functions_from_a_real_nm(tmp_path: Path, capsys, top: int) -> None:
    """nm of a tiny object stands in for vmlinux: the path from files to a table works."""
    src = tmp_path / "t.c"
    src.write_text("void f(void) {}\nvoid g(void) {}\n")
    obj = tmp_path / "t.o"
    subprocess.run(["cc", "-c", "-O0", str(src), "-o", str(obj)], check=True)
    syms = blockprof.symbols(obj)
    assert [n for _, n in syms] == ["f", "g"]
    base = syms[0][0]
    log = tmp_path / "log"
    log.write_text(f"IN: f\n0x{base:016x}:  c3  retq\n\n"
                   f"Trace 0: 0x1 [0000000000000000/{base:016x}/0/0] f\n")
    assert blockprof.main([str(obj), str(log), "--top", str(top)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["1", "f"] and out[-1].split() == ["1", "(all)"]
