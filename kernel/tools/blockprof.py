#!/usr/bin/env python3
"""Guest instructions per kernel function, from a QEMU block trace: where a fault's cost is.

``kernel bench --accel icount`` says *how many* instructions a fault takes; this says
*where*.  Boot the kernel once with QEMU logging every translated block (``in_asm``:
its instructions) and every block it runs (``exec`` with ``nochain``, so each run is
logged), restricted to kernel text, on the same instruction clock:

    qemu-system-x86_64 -accel tcg,thread=single -cpu max,la57=off \\
        -icount shift=0,sleep=off,align=off -smp 1 -m 512M -nographic -no-reboot \\
        -serial stdio -display none -monitor none \\
        -d in_asm,exec,nochain -dfilter 0xffffffff81000000..0xffffffff82000000 -D trace.log \\
        -kernel bzImage -initrd initramfs.cpio.gz \\
        -append "console=ttyS0 panic=-1 loglevel=5 -- sysctl=0 faultbench:threads=1,mb=16,rounds=1"

(about 4 minutes and 9-11 GB for 16 MiB of faults: boot is in it too, alike on both
kernels), then sum each block's instructions times its runs, per function of the
kernel's ``nm`` table, and compare two kernels function by function:

    kernel/tools/blockprof.py out/vmlinux trace.log --vs out-spf-n/vmlinux trace-n.log

That is how 0011's inlining fixes were found (its commit message).  A block is counted
at its largest translation (icount may cut one short); it is a measure to compare two
kernels by, not an exact count.
"""

from __future__ import annotations

import argparse
import bisect
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path


def blocks(lines: Iterable[str]) -> dict[int, tuple[int, int]]:
    """pc -> (instructions of the block, times it ran), from a ``-d in_asm,exec`` log."""
    size: dict[int, int] = {}
    runs: dict[int, int] = {}
    pc, n, inside = 0, 0, False
    for line in lines:
        if line.startswith("IN:"):
            pc, n, inside = 0, 0, True
        elif inside and line.startswith("0x"):
            if not n:
                pc = int(line.split(":", 1)[0], 16)
            n += 1
        else:
            if inside and n:
                size[pc] = max(size.get(pc, 0), n)
            inside = False
            if line.startswith("Trace "):
                # Trace 0: 0x7f.. [0000000000000000/ffffffff810000be/0000c2b0/ff020200]
                fields = line.split("[", 1)[1].split("/")
                at = int(fields[1], 16)
                runs[at] = runs.get(at, 0) + 1
    if inside and n:
        size[pc] = max(size.get(pc, 0), n)
    return {at: (size.get(at, 0), r) for at, r in runs.items()}


def symbols(vmlinux: Path) -> list[tuple[int, str]]:
    """The kernel's text symbols, sorted by address (``nm -n``)."""
    out = subprocess.run(["nm", "-n", str(vmlinux)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return syms


def per_function(bl: dict[int, tuple[int, int]], syms: list[tuple[int, str]]) -> dict[str, int]:
    """Instructions run in each function (a block belongs to the symbol at or before it)."""
    addrs = [a for a, _ in syms]
    total: dict[str, int] = {}
    for pc, (n, r) in bl.items():
        i = bisect.bisect_right(addrs, pc) - 1
        name = syms[i][1] if i >= 0 else "?"
        total[name] = total.get(name, 0) + n * r
    return total


def compare(a: dict[str, int], b: dict[str, int], top: int) -> list[str]:
    """The functions whose totals differ most, b minus a."""
    rows = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in a.keys() | b.keys()),
                  key=lambda x: (-abs(x[0]), x[1]))
    return [f"{d:+12,d}  {k:40} {a.get(k, 0):>14,d} {b.get(k, 0):>14,d}"
            for d, k in rows[:top]]


def _load(vmlinux: str, log: str) -> dict[str, int]:
    with open(log, errors="replace") as f:
        return per_function(blocks(f), symbols(Path(vmlinux)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("vmlinux")
    p.add_argument("log", help="QEMU -d in_asm,exec,nochain log of a boot of that kernel")
    p.add_argument("--vs", nargs=2, metavar=("VMLINUX", "LOG"),
                   help="a second kernel and its log: print the differences (it minus the first)")
    p.add_argument("--top", type=int, default=40, help="rows to print (default 40)")
    args = p.parse_args(argv)
    for path in [args.vmlinux, args.log, *(args.vs or [])]:
        if not Path(path).is_file():
            print(f"blockprof: {path}: no such file", file=sys.stderr)
            return 2
    first = _load(args.vmlinux, args.log)
    if args.vs:
        print(f"{'difference':>12}  {'function':40} {'first':>14} {'second':>14}")
        print("\n".join(compare(first, _load(*args.vs), args.top)))
    else:
        for name, n in sorted(first.items(), key=lambda x: -x[1])[:args.top]:
            print(f"{n:14,d}  {name}")
        print(f"{sum(first.values()):14,d}  (all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
