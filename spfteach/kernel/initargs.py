"""The guest's steps (``/init``'s argv), checked on the host before anything is built.

``kernel/guest/init.c`` runs the words after ``--`` on the kernel command line
as steps, and it is lenient in the way C is: an unknown step is recorded and the
run fails; ``opt_long()`` ignores an unknown key (``torture:second=60`` runs the
default 5 s), reads ``010`` as octal, and stops at the first non-digit.  Each of
those is found only after a build and a boot.  So every word is parsed here by
the same grammar, with the ranges the guest programs accept:

=====================  =====================================================================
step                   options (key=value, comma-separated)
=====================  =====================================================================
``sysctl=0|1``         vm.speculative_page_fault off/on
``torture[:...]``      threads 1-256 (3), ops 0-8 (1; MAX_OPS_THREADS), seconds 1-86400 (5),
                       seed 0-2^63-1 (1)
``faultbench[:...]``   threads 1-1024 (2), mb 1-1048576 (16), rounds 1-1000 (4), writer 0|1 (0),
                       thp 0|1 (0; with 1, mb must be even), own 0|1 (0), buf 4-1048576 (256;
                       KiB, whole pages, dividing mb), warmup 0|1 (0)
``vmstat``             none
=====================  =====================================================================

(defaults in parentheses, as in ``torture.c`` and ``faultbench.c``).  Two checks
need the boot's options: faultbench touches ``threads x mb`` MiB at once, which
must fit in the guest's RAM beside the kernel, and the torture steps must end
before ``--timeout`` stops QEMU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import KernelError
from .options import secs
from .options import shown as _shown


def shown(word: str) -> str:
    """A guest word quoted for a message (wide enough for a whole faultbench step)."""
    return _shown(word, 64)


#: RAM the guest keeps for the kernel (the debug one's lockdep tables), initramfs and page
#: tables; faultbench may use the rest.
RESERVED_MIB = 128
LONG_MAX = 2**63 - 1


@dataclass(frozen=True)
class Key:
    """One option of a guest program: its range and default, as the C code has them."""

    low: int
    high: int
    default: int
    what: str


PROGRAMS: dict[str, dict[str, Key]] = {
    "torture": {
        "threads": Key(1, 256, 3, "faulter threads"),
        "ops": Key(0, 8, 1, "operation threads; torture.c's MAX_OPS_THREADS is 8"),
        "seconds": Key(1, 86400, 5, "run time in seconds, at most a day"),
        "seed": Key(0, LONG_MAX, 1, "random seed"),
    },
    "faultbench": {
        "threads": Key(1, 1024, 2, "faulting threads"),
        "mb": Key(1, 1 << 20, 16, "MiB per thread"),
        "rounds": Key(1, 1000, 4, "timed rounds"),
        "writer": Key(0, 1, 0, "the mmap/munmap thread: 0 off, 1 on"),
        "thp": Key(0, 1, 0, "MADV_HUGEPAGE on a 2 MiB-aligned mapping: 0 off, 1 on"),
        "own": Key(0, 1, 0, "each thread maps, writes and unmaps its own buffers: 0 off, 1 on"),
        "buf": Key(4, 1 << 20, 256, "KiB per own buffer"),
        "warmup": Key(0, 1, 0, "a warm-up run the host sets aside: 0 no, 1 yes"),
    },
}
KNOWN = ("sysctl=0|1, torture[:key=val,...], faultbench[:key=val,...] and vmstat "
         "(kernel/guest/init.c)")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Step:
    """A parsed guest step: the program (or ``sysctl``/``vmstat``) and every option's value."""

    name: str
    options: dict[str, int]


def parse(word: str) -> Step:
    """Parse one guest word exactly as ``/init`` will read it, or say what is wrong."""
    if word.startswith("sysctl="):
        if word not in ("sysctl=0", "sysctl=1"):
            raise KernelError(f"guest step {shown(word)}: the sysctl is sysctl=0 (off) "
                              "or sysctl=1 (on)")
        return Step("sysctl", {"value": int(word[-1])})
    if word == "vmstat":
        return Step("vmstat", {})
    name, colon, opts = word.partition(":")
    keys = PROGRAMS.get(name)
    if keys is None:
        hint = " (options of spfteach kernel boot go before the --)" \
            if word.startswith("-") else ""
        raise KernelError(f"guest step {shown(word)} is not one /init knows: it knows "
                          f"{KNOWN}{hint}")
    given = _options(word, name, opts, keys) if colon and opts else {}
    return Step(name, {k: given.get(k, key.default) for k, key in keys.items()})


def _options(word: str, name: str, opts: str, keys: dict[str, Key]) -> dict[str, int]:
    """``key=val,...`` of one program, each key known, given once, its value in range."""
    out: dict[str, int] = {}
    for item in opts.split(","):
        key, eq, value = item.partition("=")
        if not item:
            raise KernelError(f"guest step {shown(word)}: an empty option (a comma too many)")
        if key not in keys:
            raise KernelError(f"guest step {shown(word)}: {name} has no option {shown(key)}; "
                              f"it takes {', '.join(f'{k}=N' for k in keys)}")
        if not eq:
            raise KernelError(f"guest step {shown(word)}: write {key}=N")
        if key in out:
            raise KernelError(f"guest step {shown(word)}: {key} is given twice (/init would "
                              "use only the first)")
        out[key] = _value(word, key, value, keys[key])
    return out


def _value(word: str, key: str, value: str, spec: Key) -> int:
    """A decimal in 0-9 without leading zeros (``opt_long()`` reads ``010`` as octal 8)."""
    span = f"from {spec.low} to {spec.high}"
    if not _NUMBER.fullmatch(value):
        raise KernelError(f"guest step {shown(word)}: {key} must be a whole number in ASCII "
                          f"digits without leading zeros, {span} ({spec.what})")
    n = int(value)
    if not spec.low <= n <= spec.high:
        raise KernelError(f"guest step {shown(word)}: {key}={n} is out of range: {span} "
                          f"({spec.what})")
    return n


def check_load(steps: list[Step], memory_mib: int, timeout: float) -> None:
    """What no single word shows: faultbench's memory beside the kernel, torture's run time.

    faultbench writes every page of ``threads x mb`` MiB in each round and the guest
    has no swap, so more than the RAM left beside the kernel ends in the OOM killer;
    torture steps that run longer than ``--timeout`` are stopped by it.
    """
    room = memory_mib - RESERVED_MIB
    for step in steps:
        if step.name != "faultbench":
            continue
        o = step.options
        if o["own"] and (o["thp"] or o["buf"] % 4 or (o["mb"] * 1024) % o["buf"]):
            raise KernelError(f"faultbench with own=1: buf={o['buf']} KiB must be whole 4 KiB "
                              f"pages that divide mb={o['mb']} MiB, and thp=1 does not go "
                              "with it (own buffers are plain small mappings)")
        if step.options["thp"] and step.options["mb"] % 2:
            raise KernelError(f"faultbench with thp=1 and mb={step.options['mb']}: each "
                              "thread's slice must be whole 2 MiB huge pages: give an even mb")
        need = step.options["threads"] * step.options["mb"]
        if need > room:
            raise KernelError(f"faultbench with threads={step.options['threads']} and "
                              f"mb={step.options['mb']} touches {need} MiB at once, more than "
                              f"the {max(room, 0)} MiB a {memory_mib} MiB guest has beside the "
                              f"kernel ({RESERVED_MIB} MiB kept): fewer threads or MiB, or "
                              "a larger --memory")
    torture = sum(s.options["seconds"] for s in steps if s.name == "torture")
    if torture and torture >= timeout:
        raise KernelError(f"the torture steps run {torture} s but QEMU is stopped after "
                          f"--timeout {secs(timeout)} s: give a --timeout above {torture} s plus "
                          "the boot (about 20 s under TCG), or fewer seconds")
