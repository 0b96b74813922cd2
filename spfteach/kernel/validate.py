"""Check everything a command can check before it does any work.

A fresh ``spfteach kernel test`` unpacks 1.5 GB and compiles for 15-25 minutes
before it boots; a ``--smp`` the kernel cannot use, a ``--memory`` QEMU cannot
give, or a guest step ``/init`` does not know would otherwise be found only
then.  So :func:`check` runs first and, in this order, so that a mistake costs
nothing and leaves nothing behind:

1. the options themselves: every count in range, ``--memory`` at least
   ``MIN_MEMORY_MIB`` and no more than this machine has, ``--timeout`` positive
   and at most a week, ``--seconds`` inside ``--timeout``, ``-j`` sane;
2. the port (``--kernel-dir``): a directory with ``patches/series`` (every patch
   it names present), and for the steps that build, the profile's config
   fragments and the guest sources;
3. what depends on the port: ``--smp`` against its ``CONFIG_NR_CPUS``; the guest
   steps (each one ``/init`` knows, see :mod:`.initargs`), the kernel command
   line they make, and whether they fit in ``--memory`` and ``--timeout``;
4. for a user who is not root, whether apt would be needed (a Debian package missing, or the
   recorded ``linux-source`` version not installed): only root may run it, so the command
   names what to install instead of failing at the fetch; and, without a checkout (a wheel),
   ``bench`` without ``--no-save`` (its record goes into the checkout);
5. the build tree (``--build-dir``): a path kbuild can work in, not a file or
   under one, not someone else's non-empty directory (the pipeline deletes and
   rewrites ``linux/``, ``out*/`` and ``stamps/`` in it), and writable: this
   last check creates the directory, so it comes after everything else.

The syntax of each value (ASCII digits, a size with its unit) is checked even
earlier, by the parser (:mod:`.options`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from pathlib import Path

from .. import resources
from . import bench, config, debsource, guest, initargs, qemu, source
from .build import jobs
from .errors import KernelError
from .layout import BUILD_ENV, KERNEL_DIR_ENV, REPO, Layout, origin
from .options import mebibytes, secs, shown
from .upstream import LINUX_61, LINUX_612, Upstream

BUILDING = ("build", "boot", "test", "bench")
BOOTING = ("boot", "test", "bench")
#: Below this the guest cannot hold the kernel and its initramfs with room for the tests.
MIN_MEMORY_MIB = 64
#: No run here takes longer; more is a typo (or 1e9 seconds of waiting for a hung guest).
MAX_TIMEOUT = 7 * 86400
#: x86-64's NR_CPUS default with SMP when a fragment does not set it (arch/x86/Kconfig).
DEFAULT_NR_CPUS = 64
#: Free space a tree needs before the unpack: 1.5 GB of source, then the objects.
FRESH_TREE_BYTES = 2 * 1024**3
#: Repetitions of a bench: each boots every kernel once.
MAX_REPEAT = 50
#: What ``test`` waits for when no --timeout is given: the boot, then 4x the torture time.
TEST_TIMEOUT_BASE, TEST_TIMEOUT_PER_SECOND = 120, 4


def check(args: argparse.Namespace) -> None:
    """Refuse bad input in one line (a KernelError) before any work is done."""
    step = args.kernel_cmd
    _check_jobs(args)
    if step in BOOTING:
        _check_boot_options(args)
    if step == "test":
        _check_test(args)
    if step == "bench":
        _check_bench_counts(args)
    _check_variant(args)
    layout = Layout.from_options(args.build_dir, args.kernel_dir)
    prof = config.profile(bool(getattr(args, "debug", False)),
                          getattr(args, "variant", None) or "series")
    check_port(layout, step, prof, origin(args.kernel_dir, "--kernel-dir", KERNEL_DIR_ENV))
    if step == "bench" and args.thp:
        _check_thp(layout, args, prof)
    if step in BOOTING:
        _check_smp(layout, args, prof)
        _check_guest(args)
        _check_accel(args.accel, args.smp)
    if step == "bench" and not args.no_save and resources.checkout() is None:
        raise KernelError("spfteach kernel bench saves its record in a checkout's "
                          "spfteach/data/kernel-bench/, and this spfteach is installed without "
                          "one: add --no-save, or run it from a git checkout")
    check_apt(layout, args)
    check_build_dir(layout, origin(args.build_dir, "--build-dir", BUILD_ENV))


def boot_timeout(args: argparse.Namespace) -> float:
    """--timeout, or for ``test`` without one: 120 s for the boot plus 4x the torture time."""
    if args.timeout is not None:
        return float(args.timeout)
    return TEST_TIMEOUT_BASE + TEST_TIMEOUT_PER_SECOND * args.seconds


# --- 1. the options ------------------------------------------------------------------------


def _check_jobs(args: argparse.Namespace) -> None:
    """``make -jN``: more than 4 jobs per CPU only queue for the CPUs and fill the memory."""
    n = getattr(args, "jobs", None)
    if n is None:
        return
    if n < 1:
        raise KernelError("-j/--jobs must be at least 1")
    cpus = jobs()
    limit = max(16, 4 * cpus)
    if n > limit:
        raise KernelError(f"-j {n} is more than {limit} make jobs (4 per CPU, {cpus} here): "
                          "the extra ones only wait for a CPU and use memory; leave -j out for "
                          "one per CPU")


def _check_boot_options(args: argparse.Namespace) -> None:
    if args.smp < 1:
        raise KernelError("--smp must be at least 1")
    _check_memory(args.memory)
    if args.timeout is not None and not 0 < args.timeout <= MAX_TIMEOUT:
        raise KernelError(f"--timeout {secs(args.timeout)}: give a number of seconds above 0 and "
                          f"at most {MAX_TIMEOUT} (a week)")


def _check_memory(size: str) -> None:
    """Enough for the guest to boot, no more than the host has (QEMU would fail to map it)."""
    mib = mebibytes(size)
    if mib < MIN_MEMORY_MIB:
        raise KernelError(f"--memory {size} is too small: the guest needs at least "
                          f"{MIN_MEMORY_MIB}M for the kernel and its initramfs (the default "
                          "is 512M)")
    host = host_memory_mib()
    if host is not None and mib > host:
        raise KernelError(f"--memory {size} is more than this machine's {host} MiB of RAM: "
                          f"give at most {host}M (the default is 512M)")


def host_memory_mib() -> int | None:
    """MemTotal of /proc/meminfo in MiB, or None where there is none."""
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemTotal:\s*([0-9]+) kB", text, re.M)
    return int(m[1]) // 1024 if m else None


def _check_test(args: argparse.Namespace) -> None:
    """The torture test must end inside the timeout, and not run for days."""
    top = initargs.PROGRAMS["torture"]["seconds"].high
    if args.seconds < 1:
        raise KernelError("--seconds must be at least 1")
    if args.seconds > top:
        raise KernelError(f"--seconds {args.seconds} is more than a day ({top} s), the "
                          "longest torture run the guest takes; give fewer")
    seed = getattr(args, "seed", None)
    high = initargs.PROGRAMS["torture"]["seed"].high
    if seed is not None and not 0 <= seed <= high:
        raise KernelError(f"--seed {seed}: give a whole number from 0 to {high}")
    if args.timeout is not None and args.seconds >= args.timeout:
        raise KernelError(f"--seconds {args.seconds} does not fit in --timeout "
                          f"{secs(args.timeout)}: QEMU would be stopped before the torture test "
                          f"ends; give a --timeout above {args.seconds} s plus the boot, or "
                          f"leave it out ({TEST_TIMEOUT_BASE} + {TEST_TIMEOUT_PER_SECOND} x "
                          "--seconds)")


def _check_thp(layout: Layout, args: argparse.Namespace, prof: str) -> None:
    """An explicit --thp on a profile without THP: say so now, not after the build."""
    if not config.profile_has(layout, prof, config.THP_OPTION):
        names = " + ".join(f.name for f in config.fragments(layout, prof))
        raise KernelError(f"--thp: the {prof} profile ({names}) does not set "
                          f"{config.THP_OPTION}=y: drop --thp, or add it to a fragment in "
                          f"{layout.rel(layout.configs)}")


def _check_variant(args: argparse.Namespace) -> None:
    """The vanilla, spf-n and v6.12-novma kernels exist only as plain builds: each is the
    baseline a cost or a gain is measured against.  The series and v6.12 have debug ones."""
    variant = getattr(args, "variant", None) or "series"
    if variant not in config.DEBUG_VARIANTS and getattr(args, "debug", False):
        fix = "give --no-debug (test uses the debug kernel by default)" \
            if args.kernel_cmd == "test" else "drop --debug"
        raise KernelError(f"--variant {variant} has no debug build (it is the baseline a "
                          f"cost or a gain is measured against): {fix}")


def _check_bench_counts(args: argparse.Namespace) -> None:
    """bench's counts: at least 1, at most what faultbench takes and /init can be given."""
    for name in ("threads", "mb", "rounds", "repeat"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise KernelError(f"--{name} must be at least 1")
    fb = initargs.PROGRAMS["faultbench"]
    for name in ("threads", "mb", "rounds"):
        value = getattr(args, name)
        if value is not None and value > fb[name].high:
            raise KernelError(f"--{name} {value} is more than faultbench takes: at most "
                              f"{fb[name].high} ({fb[name].what})")
    if args.thp and args.mb % 2:
        raise KernelError(f"--thp with --mb {args.mb}: each thread's slice must be whole 2 MiB "
                          "huge pages: give an even --mb")
    if args.repeat > MAX_REPEAT:
        raise KernelError(f"--repeat {args.repeat}: at most {MAX_REPEAT} (each repetition boots "
                          "every kernel once)")
    if args.kernels is not None:
        names = args.kernels.split(",")
        wrong = [n for n in names if n not in config.VARIANTS]
        if wrong or not args.kernels:
            raise KernelError(f"--kernels {shown(args.kernels)}: give a comma-separated list of "
                              f"{', '.join(config.VARIANTS)} (like series,vanilla)")
        if args.debug and set(names) != {"series"}:
            raise KernelError("--kernels with --debug: only the series' kernel has a debug "
                              "build; drop --debug to compare with vanilla and spf-n")


# --- 2. the port ---------------------------------------------------------------------------


def check_port(layout: Layout, step: str, prof: str, given_by: str) -> None:
    """The kernel dir is a port: a series whose patches exist, and what the step needs."""
    kdir = layout.kernel_dir
    try:
        if not kdir.is_dir():
            what = "is not a directory" if kdir.exists() else "does not exist"
            raise KernelError(f"{given_by} {kdir} {what}: it should be the port (patches/, "
                              f"configs/, guest/), like {REPO / 'kernel'}")
        if not layout.series.is_file():
            raise KernelError(f"{given_by} {kdir} has no patches/series, so it is not a port "
                              f"of the series (like {REPO / 'kernel'}); an empty series file "
                              "builds the pristine kernel")
        source.series_entries(layout)  # every patch the series names is there
        if step in BUILDING:
            config.fragments(layout, prof)
            guest.sources(layout)
        elif step == "check":
            config.fragments(layout, "check")
    except OSError as err:
        raise KernelError(f"{given_by} {kdir}: cannot read the port: {err.strerror or err}"
                          ) from None
    except UnicodeDecodeError as err:
        raise KernelError(f"{given_by} {kdir}: a file of the port is not text ({err.reason} "
                          f"at byte {err.start}): is the series or a config fragment damaged?"
                          ) from None


def upstreams(args: argparse.Namespace) -> list[Upstream]:
    """The Debian sources a step fetches: 6.1's, 6.12's or both (``bench --kernels``)."""
    step = args.kernel_cmd
    if step == "bench":
        names = args.kernels.split(",") if args.kernels else ["series"]
    elif step == "check":
        names = ["series"]
    else:
        names = [getattr(args, "variant", None) or "series"]
    found = {LINUX_612 if config.is_612(config.profile(False, n)) else LINUX_61 for n in names}
    return sorted(found, key=lambda up: up.package)


def check_apt(layout: Layout, args: argparse.Namespace) -> None:
    """Not root, and the step would need apt: say what to install, in one line, before any
    work (as root, ``fetch`` installs it itself)."""
    if os.geteuid() == 0:
        return
    needs = [p for up in upstreams(args) for p in debsource.apt_needs(layout, up)]
    if needs:
        needs = list(dict.fromkeys(needs))
        raise KernelError(f"spfteach kernel {args.kernel_cmd} needs Debian packages that are not "
                          f"installed ({' '.join(needs)}), and only root may install them: run "
                          f"`sudo apt-get install -y --no-install-recommends {' '.join(needs)}` "
                          "first, or run this as root and it will")


# --- 3. what depends on the port -----------------------------------------------------------


def cpu_limit(layout: Layout, prof: str) -> tuple[int, str]:
    """How many CPUs the port's kernel brings up, and where that number comes from."""
    frags = config.fragments(layout, prof)
    try:
        asked = config.requested(frags)
    except (OSError, UnicodeDecodeError) as err:
        raise KernelError(f"cannot read the config fragments in {layout.rel(layout.configs)}: "
                          f"{err}") from None
    smp = asked.get("CONFIG_SMP")
    if smp is None or smp[0] != "y":
        return 1, "the port's config fragments do not set CONFIG_SMP=y (tinyconfig has it off)"
    nr = asked.get("CONFIG_NR_CPUS")
    if nr is None or not re.fullmatch(r"[0-9]{1,5}", nr[0]):
        return DEFAULT_NR_CPUS, (f"CONFIG_NR_CPUS is not set by the fragments, and x86-64's "
                                 f"default is {DEFAULT_NR_CPUS}")
    return int(nr[0]), f"CONFIG_NR_CPUS={nr[0]} in {layout.rel(nr[1])}"


def _check_smp(layout: Layout, args: argparse.Namespace, prof: str) -> None:
    """More vCPUs than NR_CPUS boot, but the kernel ignores the rest: the run is not what
    the record says (``bench`` would report 8 vCPUs and measure 4)."""
    limit, why = cpu_limit(layout, prof)
    if args.smp > limit:
        raise KernelError(f"--smp {args.smp}: the kernel brings up at most {limit} CPU(s) "
                          f"({why}); give --smp 1 to {limit}, or raise CONFIG_NR_CPUS there")


def guest_words(args: argparse.Namespace) -> list[str]:
    """The words ``/init`` will get; for bench the longest variant (a kernel with SPF)."""
    if args.kernel_cmd == "test":
        return [f"torture:seconds={args.seconds}"]
    if args.kernel_cmd == "bench":
        # One boot's steps (the longest: a kernel with SPF, THP, own buffers, the warm-up).
        return bench.guest_args(args.threads or args.smp, args.mb, args.rounds, True, 1,
                                thp=args.thp is not False and args.mb % 2 == 0,
                                own=args.own, warmup=True)
    return list(args.guest_args)


def _check_guest(args: argparse.Namespace) -> None:
    """Each guest step known to /init, the command line they make, and their load."""
    mib = mebibytes(args.memory)
    if args.kernel_cmd == "bench":
        threads = args.threads or args.smp
        room = mib - initargs.RESERVED_MIB
        if threads * args.mb > room:
            raise KernelError(f"bench touches {threads * args.mb} MiB at once (--threads "
                              f"{threads} x --mb {args.mb}), more than the {max(room, 0)} MiB "
                              f"a {args.memory} guest has beside the kernel: give fewer "
                              "--threads or --mb, or a larger --memory")
    words = guest_words(args)
    steps = [initargs.parse(w) for w in words]
    qemu.cmdline(words, smp=args.smp)
    initargs.check_load(steps, mib, boot_timeout(args))


def _check_accel(accel: str, smp: int) -> None:
    """``--accel kvm`` on a host without a usable /dev/kvm would fail at the first boot;
    ``--accel icount`` with two vCPUs or more would hang until the timeout."""
    if accel == "icount" and smp != 1:
        # QEMU 7.2 here: with -icount sleep=off a 2-vCPU guest prints nothing after the
        # BIOS (vanilla 6.1 too) and is killed at the timeout, 15 minutes later.
        raise KernelError(f"--accel icount boots one vCPU only (with --smp {smp} QEMU's "
                          "instruction clock hangs the guest before its first console "
                          "line): add --smp 1 (and --threads 1 for bench), or use --accel tcg")
    if accel != "kvm":
        return
    dev = qemu.KVM_DEVICE
    if not dev.exists():
        raise KernelError(f"--accel kvm: there is no {dev} here (no hardware virtualisation "
                          "or no kvm module): use --accel tcg, or auto")
    if not os.access(dev, os.R_OK | os.W_OK):
        raise KernelError(f"--accel kvm: {dev} is not usable by you (add yourself to group "
                          "kvm), or use --accel tcg")


# --- 4. the build tree ---------------------------------------------------------------------


#: What only the driver writes at the top of a build tree (the lock every step takes first,
#: the stamps, the KVM verdict): one of them marks a directory a previous run used.  Not
#: ``logs/`` or ``linux/``: plenty of directories have those, and they would be rewritten.
TREE_MARKS = (".lock", "stamps", "kvm-probe.json")


def is_build_tree(path: Path) -> bool:
    """A directory a previous run used, so that rewriting it destroys nobody's files."""
    return any((path / mark).exists() for mark in TREE_MARKS)


def check_build_dir(layout: Layout, given_by: str) -> None:
    """The build dir is a place kbuild can work, ours to rewrite, and writable; create it."""
    path = layout.build
    if any(c.isspace() for c in str(path)) or ":" in str(path):
        raise KernelError(f"{given_by} {shown(str(path), 80)}: the kernel's Makefile refuses "
                          "a source or output directory whose path has spaces or colons; "
                          "choose another directory")
    try:
        _check_place(path, given_by, layout)
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        free = shutil.disk_usage(path).free
    except OSError as err:
        raise KernelError(f"{given_by} {shown(str(path), 80)}: cannot create or write a "
                          f"directory there ({err.strerror or err}); give one you can write, "
                          "with about 2 GB free") from None
    if not layout.src.is_dir() and free < FRESH_TREE_BYTES:
        raise KernelError(f"{given_by} {path} has {free / 1e9:.1f} GB free, and a new build "
                          f"tree needs about {FRESH_TREE_BYTES / 1e9:.0f} GB (1.5 GB of source, "
                          "then the objects): free some space or choose another directory")


def _check_place(path: Path, given_by: str, layout: Layout) -> None:
    """Not a file, not under one, not inside the port, not a stranger's non-empty directory."""
    for sub in (layout.patches, layout.configs, layout.guest_src):
        if path == sub or sub in path.parents:
            raise KernelError(f"{given_by} {path} is inside the port's {sub.name}/: the build "
                              "tree (1.5 GB) must not mix with its inputs")
    if path.exists():
        if not path.is_dir():
            what = "a file" if path.is_file() else "not a directory"
            raise KernelError(f"{given_by} {path} is {what}: give a new or empty directory "
                              "for the build tree")
        if not is_build_tree(path) and any(path.iterdir()):
            raise KernelError(f"{given_by} {path} is not empty and is not a build tree (no "
                              ".lock or stamps/): the pipeline deletes and rewrites linux/, "
                              "out*/ and stamps/ in it; give a new or empty directory")
        return
    above = next(p for p in path.parents if p.exists())
    if not above.is_dir():
        raise KernelError(f"{given_by} {path} lies under {above}, which is a file, not a "
                          "directory: give a directory for the build tree")
