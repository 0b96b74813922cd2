"""Configure a kernel: ``tinyconfig`` + the port's fragments, and prove nothing was dropped.

``merge_config.sh`` and ``olddefconfig`` never fail: an option whose dependency is
off, or which this tree does not know (say, ``CONFIG_SPECULATIVE_PAGE_FAULT``
before the series is applied), is silently left out of ``.config``, and the
kernel that boots is not the one you asked for.  So after the merge every
assignment of every fragment is checked against the final ``.config``, and the
first one that did not survive is an error that names it and its fragment.

Profiles: the plain kernel merges every ``kernel/configs/*.config`` except
``debug.config`` (the debug layer: lockdep, DEBUG_VM, KASAN, ...) and
``compile-check.config``, in name order (``qemu-tiny.config``, what boots, then
``runtime-full.config``, THP, userfaultfd, shmem, NUMA, swap on zram, PREEMPT,
MEMCG, which wins where both set an option); the debug kernel merges the same,
then ``debug.config``.  The ``check`` profile is ``defconfig`` +
``compile-check.config`` (THP, userfaultfd, NUMA balancing...): never booted,
only compiled, so the code tinyconfig leaves out still builds.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import KernelError
from .layout import Layout
from .runner import Progress, run_logged
from .stamps import Stamp, digest

DEBUG_FRAGMENT = "debug.config"
CHECK_FRAGMENT = "compile-check.config"
THP_OPTION = "CONFIG_TRANSPARENT_HUGEPAGE"
#: profile -> the make target its .config starts from
BASES = {"plain": "tinyconfig", "debug": "tinyconfig", "check": "defconfig"}

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def profile(debug: bool) -> str:
    return "debug" if debug else "plain"


def fragments(layout: Layout, prof: str) -> list[Path]:
    """The fragments of a profile, in merge order (later ones win)."""
    if not layout.configs.is_dir():
        raise KernelError(f"{layout.rel(layout.configs)} does not exist: the port needs at "
                          "least one config fragment on top of tinyconfig")
    if prof == "check":
        check = layout.configs / CHECK_FRAGMENT
        if not check.is_file():
            raise KernelError(f"the compile check needs {layout.rel(check)} (merged on "
                              "defconfig: THP, USERFAULTFD, NUMA_BALANCING, ...)")
        return [check]
    found = sorted(layout.configs.glob("*.config"))
    plain = [f for f in found if f.name not in (DEBUG_FRAGMENT, CHECK_FRAGMENT)]
    if not plain:
        raise KernelError(f"no *.config fragment to boot with in {layout.rel(layout.configs)}")
    if prof == "plain":
        return plain
    dbg = layout.configs / DEBUG_FRAGMENT
    if not dbg.is_file():
        raise KernelError(f"--debug needs {layout.rel(dbg)} (the debug layer: DEBUG_VM, "
                          "PROVE_LOCKING, ...)")
    return [*plain, dbg]


def read_assignments(path: Path) -> dict[str, str]:
    """``CONFIG_X`` -> value as written (``y``, ``4``, ``"str"``), or ``n`` for 'is not set'."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if m := _SET.match(line):
            values[m[1]] = m[2]
        elif m := _UNSET.match(line):
            values[m[1]] = "n"
    return values


def requested(frags: list[Path]) -> dict[str, tuple[str, Path]]:
    """What the fragments ask for, the last fragment winning as in merge_config.sh."""
    asked: dict[str, tuple[str, Path]] = {}
    for frag in frags:
        for name, value in read_assignments(frag).items():
            asked[name] = (value, frag)
    return asked


def profile_has(layout: Layout, prof: str, option: str) -> bool:
    """Whether the profile's fragments turn ``option`` on, known before any build.

    :func:`configure` fails when a requested value does not survive ``olddefconfig``, so
    what the fragments ask for is what a built kernel of this profile has.
    """
    asked = requested(fragments(layout, prof)).get(option)
    return asked is not None and asked[0] == "y"


def check_survived(asked: dict[str, tuple[str, Path]], config: Path, layout: Layout) -> None:
    """Fail, naming the option and its fragment, if ``.config`` lost any requested value."""
    final = read_assignments(config)
    lost = []
    for name, (value, frag) in asked.items():
        got = final.get(name)
        if value == "n":
            ok = got in (None, "n")
        else:
            ok = got == value
        if not ok:
            lost.append((name, value, frag, got))
    if not lost:
        return
    name, value, frag, got = lost[0]
    if got is None:
        why = ("it is not in .config at all: this tree does not know the symbol (is the series "
               "applied?) or a menu it lives in is off")
    elif got == "n":
        why = "it is there but off: one of its dependencies is not enabled"
    else:
        why = f"it ended up as {got}"
    more = ""
    if len(lost) > 1:
        more = f" (also lost: {', '.join(n for n, *_ in lost[1:6])}" + \
               (", ..." if len(lost) > 6 else "") + ")"
    raise KernelError(f"config: {name}={value} asked by {layout.rel(frag)} did not survive "
                      f"olddefconfig; {why}; see {config}{more}")


def config_key(layout: Layout, prof: str, frags: list[Path]) -> str:
    """What ``.config`` depends on: the tree, the fragments, and the Kconfig files patched.

    Not the whole series: an edit to a patch that touches no Kconfig file cannot
    change ``.config``, and skipping kconfig saves ~10 s of every edit-build loop.
    """
    unpacked = Stamp(layout.stamps, "unpack").read() or {}
    applied = Stamp(layout.stamps, "apply").read() or {}
    kconfigs = sorted(f for f in applied.get("touched", []) if Path(f).name.startswith("Kconfig"))
    return digest([str(unpacked.get("key")), BASES[prof], *frags,
                   *[part for f in kconfigs for part in (f, layout.src / f)]])


def configure(layout: Layout, prof: str, progress: Progress) -> str:
    """Write ``<out>/.config`` for the profile unless up to date; return the config's key."""
    frags = fragments(layout, prof)
    key = config_key(layout, prof, frags)
    stamp = Stamp(layout.stamps, f"config-{prof}")
    out = layout.out(prof)
    config = out / ".config"
    if stamp.matches(key) and config.is_file():
        return key
    stamp.clear()
    out.mkdir(parents=True, exist_ok=True)
    log = layout.logs / f"config-{prof}.log"
    names = " + ".join(f.name for f in frags)
    progress.say(f"configuring the {prof} kernel: {BASES[prof]} + {names}")
    make = ["make", "-C", str(layout.src), f"O={out}"]
    seconds = run_logged([*make, BASES[prof]], log=log, label=f"make {BASES[prof]}",
                         progress=progress)
    seconds += run_logged([str(layout.src / "scripts/kconfig/merge_config.sh"), "-m", "-O",
                           str(out), str(config), *map(str, frags)],
                          log=log.with_suffix(".merge.log"), label="merge_config.sh",
                          progress=progress, cwd=layout.src)
    seconds += run_logged([*make, "olddefconfig"], log=log.with_suffix(".olddefconfig.log"),
                          label="make olddefconfig", progress=progress)
    check_survived(requested(frags), config, layout)
    stamp.write(key, fragments=[f.name for f in frags], seconds=round(seconds, 1))
    progress.say(f"configured in {seconds:.1f} s; every requested option is in {config}")
    return key
