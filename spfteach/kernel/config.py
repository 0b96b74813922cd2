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

Two more profiles measure what the series costs (``kernel bench``): ``vanilla`` is
the same fragments on a second, unpatched unpack of the same tarball, without the
options only the series defines (:data:`SERIES_OPTIONS`); ``spf-n`` is the patched
tree with the plain fragments and ``CONFIG_SPECULATIVE_PAGE_FAULT`` turned off (the
series compiled in, the option out).  :func:`differences` compares their ``.config``
with the plain kernel's: anything but the series' own symbols differing would make
the comparison unfair, and is an error.

Three profiles build Linux 6.12, SPF's mainline successor (per-VMA locks), from its own
tree: ``v6.12`` merges the plain fragments (minus the series' options, as vanilla) and then
``configs/v6.12/*.config`` (``CONFIG_PER_VMA_LOCK_STATS``: the ``vma_lock_*`` counters);
``v6.12-debug`` adds ``debug.config`` last; ``v6.12-novma`` is ``v6.12`` built from the
tree whose ``mm/Kconfig`` says ``def_bool n`` for ``PER_VMA_LOCK`` (:func:`.source.make_novma`),
with a fragment of ours that asks for both options off, so the check below proves the
kernel has no per-VMA locks; its ``.config`` may differ from ``v6.12``'s in those two
symbols only.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import KernelError
from .layout import PROFILES_612, Layout
from .runner import Progress, run_logged
from .stamps import Stamp, digest

DEBUG_FRAGMENT = "debug.config"
CHECK_FRAGMENT = "compile-check.config"
THP_OPTION = "CONFIG_TRANSPARENT_HUGEPAGE"
#: The Kconfig symbols the series adds: absent from a vanilla tree, off in ``spf-n``.
SERIES_SYMBOLS = ("CONFIG_ARCH_SUPPORTS_SPECULATIVE_PAGE_FAULT", "CONFIG_SPECULATIVE_PAGE_FAULT")
#: What a fragment may ask that only the series' tree knows.
SERIES_OPTIONS = ("CONFIG_SPECULATIVE_PAGE_FAULT",)
SPF_N_FRAGMENT = "spf-n.config"  # written into out-spf-n/: the option off, merged last
#: The symbols per-VMA locks add to 6.12's .config; off in v6.12-novma.
PER_VMA_SYMBOLS = ("CONFIG_PER_VMA_LOCK", "CONFIG_PER_VMA_LOCK_STATS")
PER_VMA_STATS = "CONFIG_PER_VMA_LOCK_STATS"
NOVMA_FRAGMENT = "novma.config"  # written into out-v6.12-novma/: both off, merged last
#: profile -> the make target its .config starts from
BASES = {"plain": "tinyconfig", "debug": "tinyconfig", "check": "defconfig",
         "vanilla": "tinyconfig", "spf-n": "tinyconfig", "v6.12": "tinyconfig",
         "v6.12-debug": "tinyconfig", "v6.12-novma": "tinyconfig"}
#: The profiles a bench compares, by variant name (the series' kernel is ``plain``).
VARIANTS = {"series": "plain", "vanilla": "vanilla", "spf-n": "spf-n", "v6.12": "v6.12",
            "v6.12-novma": "v6.12-novma"}
#: The variants with a debug build (the baselines have none: they only measure).
DEBUG_VARIANTS = ("series", "v6.12")
#: The profile each one is compared with before it is built, and the symbols that may differ.
BASELINE_OF = {"vanilla": ("plain", SERIES_SYMBOLS), "spf-n": ("plain", SERIES_SYMBOLS),
               "v6.12-novma": ("v6.12", PER_VMA_SYMBOLS)}

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def profile(debug: bool, variant: str = "series") -> str:
    """plain or debug for the series' kernel, v6.12 or v6.12-debug, else the variant's own
    profile (no debug one)."""
    if variant == "v6.12":
        return "v6.12-debug" if debug else "v6.12"
    if variant != "series":
        return VARIANTS[variant]
    return "debug" if debug else "plain"


def is_612(prof: str) -> bool:
    """Whether the profile builds linux-source-6.12 (no series; per-VMA locks)."""
    return prof in PROFILES_612


def without_series(prof: str) -> bool:
    """Profiles whose tree does not know the series' options (vanilla 6.1, every 6.12)."""
    return prof == "vanilla" or is_612(prof)


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
    if prof in ("plain", "vanilla"):
        return plain
    if prof == "spf-n":
        return [*plain, layout.out(prof) / SPF_N_FRAGMENT]
    if is_612(prof):
        own = sorted(layout.configs_612.glob("*.config")) if layout.configs_612.is_dir() else []
        if not own:
            raise KernelError(f"the 6.12 kernels need a fragment in "
                              f"{layout.rel(layout.configs_612)} (CONFIG_PER_VMA_LOCK_STATS=y: "
                              "the vma_lock_* counters)")
        plain = [*plain, *own]
        if prof == "v6.12":
            return plain
        if prof == "v6.12-novma":
            return [*plain, layout.out(prof) / NOVMA_FRAGMENT]
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


def requested(frags: list[Path], prof: str = "plain") -> dict[str, tuple[str, Path]]:
    """What the fragments ask for, the last fragment winning as in merge_config.sh.

    A vanilla tree does not know the series' options: they are not asked there.
    """
    asked: dict[str, tuple[str, Path]] = {}
    for frag in frags:
        if not frag.is_file() and frag.name in WRITTEN:  # written by configure()
            asked.update({name: ("n", frag) for name in WRITTEN[frag.name]})
            continue
        for name, value in read_assignments(frag).items():
            if without_series(prof) and name in SERIES_OPTIONS:
                continue
            asked[name] = (value, frag)
    return asked


#: The fragments :func:`configure` writes into a profile's O= dir: the symbols they turn off.
WRITTEN = {SPF_N_FRAGMENT: ("CONFIG_SPECULATIVE_PAGE_FAULT",), NOVMA_FRAGMENT: PER_VMA_SYMBOLS}
WRITTEN_WHY = {SPF_N_FRAGMENT: "the series compiled in, the option out",
               NOVMA_FRAGMENT: "per-VMA locks off (the tree's mm/Kconfig says def_bool n)"}


def differences(a: Path, b: Path) -> dict[str, tuple[str | None, str | None]]:
    """Every ``CONFIG_`` symbol whose value differs between two ``.config`` files."""
    va, vb = read_assignments(a), read_assignments(b)
    return {k: (va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb))
            if va.get(k, "n") != vb.get(k, "n")}


def check_same_but_series(layout: Layout, prof: str) -> dict[str, tuple[str | None, str | None]]:
    """The differences of a profile's ``.config`` from its baseline's (:data:`BASELINE_OF`:
    the plain kernel's for vanilla and spf-n, v6.12's for v6.12-novma): only the symbols of
    the feature compared may differ, or the two kernels are not the same kernel with and
    without it."""
    base, allowed = BASELINE_OF.get(prof, ("plain", SERIES_SYMBOLS))
    mine, plain = layout.out(prof) / ".config", layout.out(base) / ".config"
    diff = differences(plain, mine)
    other = [k for k in diff if k not in allowed]
    if other:
        shown = ", ".join(f"{k} {diff[k][0]} vs {diff[k][1]}" for k in other[:5])
        what = "the series' options" if allowed == SERIES_SYMBOLS else "the per-VMA lock options"
        name = "plain one's" if base == "plain" else f"{base} one's"
        raise KernelError(f"config: the {prof} kernel's .config differs from the {name} in "
                          f"more than {what} ({shown}"
                          + (", ..." if len(other) > 5 else "") + f"): compare {plain} and "
                          f"{mine}; a fragment asks for something only one tree has")
    return diff


def profile_has(layout: Layout, prof: str, option: str) -> bool:
    """Whether the profile's fragments turn ``option`` on, known before any build.

    :func:`configure` fails when a requested value does not survive ``olddefconfig``, so
    what the fragments ask for is what a built kernel of this profile has.
    """
    asked = requested(fragments(layout, prof), prof).get(option)
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
    unpacked = Stamp(layout.stamps, UNPACK_STAMP.get(prof, "unpack")).read() or {}
    applied = Stamp(layout.stamps, "apply").read() or {}
    kconfigs = [] if without_series(prof) else \
        sorted(f for f in applied.get("touched", []) if Path(f).name.startswith("Kconfig"))
    return digest([str(unpacked.get("key")), BASES[prof], *[f for f in frags if f.is_file()],
                   *[part for f in kconfigs for part in (f, layout.src / f)]])


#: The stamp of the unpack (or tree copy) a profile's tree comes from.
UNPACK_STAMP = {"vanilla": "unpack-vanilla", "v6.12": "unpack-6.12",
                "v6.12-debug": "unpack-6.12", "v6.12-novma": "novma-6.12"}


def configure(layout: Layout, prof: str, progress: Progress) -> str:
    """Write ``<out>/.config`` for the profile unless up to date; return the config's key."""
    frags = fragments(layout, prof)
    if frags[-1].name in WRITTEN and frags[-1].parent == layout.out(prof):
        layout.out(prof).mkdir(parents=True, exist_ok=True)
        frags[-1].write_text(f"# {WRITTEN_WHY[frags[-1].name]} (written by spfteach)\n"
                             + "".join(f"# {name} is not set\n"
                                       for name in WRITTEN[frags[-1].name]))
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
    src = layout.source(prof)
    make = ["make", "-C", str(src), f"O={out}"]
    seconds = run_logged([*make, BASES[prof]], log=log, label=f"make {BASES[prof]}",
                         progress=progress)
    seconds += run_logged([str(src / "scripts/kconfig/merge_config.sh"), "-m", "-O",
                           str(out), str(config), *map(str, frags)],
                          log=log.with_suffix(".merge.log"), label="merge_config.sh",
                          progress=progress, cwd=src)
    seconds += run_logged([*make, "olddefconfig"], log=log.with_suffix(".olddefconfig.log"),
                          label="make olddefconfig", progress=progress)
    check_survived(requested(frags, prof), config, layout)
    if prof == "vanilla":
        kept = [k for k in SERIES_SYMBOLS if read_assignments(config).get(k, "n") != "n"]
        if kept:
            raise KernelError(f"config: the vanilla kernel has {kept[0]} ({config}): its tree "
                              f"{layout.vanilla_src} is not pristine; remove it and build again")
    stamp.write(key, fragments=[f.name for f in frags], seconds=round(seconds, 1))
    progress.say(f"configured in {seconds:.1f} s; every requested option is in {config}")
    return key
