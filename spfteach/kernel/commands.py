"""``spfteach kernel fetch|build|boot|test|bench``: the pipeline as sub-commands.

Each sub-command runs the steps before it (each skipped when its stamp says it is
up to date), so ``spfteach kernel test`` on a fresh clone does everything, and a
second run only boots.  Messages go to stderr; stdout carries the console
(``boot``) or the guest's JSON document (``--json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from . import bench, debsource, guest, qemu, source, tools, validate
from .build import CHECK_TARGETS, build_kernel, compile_check
from .config import (
    BASELINE_OF,
    PER_VMA_STATS,
    THP_OPTION,
    VARIANTS,
    check_same_but_series,
    configure,
    fragments,
    is_612,
    profile,
    profile_has,
    read_assignments,
)
from .errors import KernelError
from .layout import Layout
from .lock import build_lock
from .options import KernelParser, adopt, hint_no_step, integer, memory, seconds
from .runner import Progress
from .upstream import LINUX_61, LINUX_612, Upstream
from .verdict import Verdict, judge

KERNEL_HELP = "build, boot and test the real SPF kernel (linux-source-6.1 + kernel/patches)"

KERNEL_DESCRIPTION = """\
The real thing: Debian's linux-source-6.1 with our port of the speculative page
fault series (kernel/patches/), configured small (tinyconfig + kernel/configs/),
booted in QEMU with a tiny initramfs whose /init runs the guest programs of
kernel/guest/ and prints one JSON document on the serial console.

The steps, each run only when its inputs changed (stamps in the build dir):
  fetch   Debian packages, unpack the source (once), apply the series
  build   .config, bzImage (plain or --debug: lockdep, DEBUG_VM), guest initramfs
  check   compile what tinyconfig leaves out (defconfig + THP, USERFAULTFD, NUMA)
  boot    boot it and show the console; words after -- go to the guest's /init
  test    torture test on the debug kernel: pass = guest says ok + no kernel report
  bench   fault throughput: vanilla, the series with SPF on/off, SPF=n; v9 figures

Linux 6.12 (--variant v6.12: per-VMA locks, SPF's mainline successor, as Debian
ships it; v6.12-novma: the same with CONFIG_PER_VMA_LOCK off) builds from its own
tree, linux-source-6.12, with the same fragments and the same guest programs.

The build tree (1.5 GB) lives outside git: kernel/build/, or $SPFTEACH_BUILD,
or --build-dir.  QEMU uses KVM when a test boot shows it works, TCG otherwise.
"""

KERNEL_EPILOG = """\
examples:
  spfteach kernel fetch                      unpack and patch (fails on any fuzz)
  spfteach kernel build --debug              the lockdep/DEBUG_VM kernel
  spfteach kernel boot -- torture:seconds=5 vmstat
  spfteach kernel test --seconds 60          a longer torture run
  spfteach kernel test --json | jq .steps[0].vmstat
  spfteach kernel bench                      writes spfteach/data/kernel-bench/*.json
  spfteach kernel test --variant v6.12       torture test of 6.12's debug kernel
  spfteach kernel bench --kernels vanilla,series,v6.12,v6.12-novma
"""

TEST_SECONDS = 10


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where")
    g.add_argument("--build-dir", metavar="DIR",
                   help="build tree (default: $SPFTEACH_BUILD or <repo>/kernel/build)")
    g.add_argument("--kernel-dir", metavar="DIR",
                   help="the port: patches/, configs/, guest/ (default: $SPFTEACH_KERNEL_DIR "
                        "or <repo>/kernel)")


def _build_opts(p: argparse.ArgumentParser, debug_default: bool, variant: bool = False) -> None:
    if debug_default:
        p.add_argument("--debug", action=argparse.BooleanOptionalAction, default=True,
                       help="use the debug kernel (lockdep, DEBUG_VM, ...; default: yes)")
    else:
        p.add_argument("--debug", action="store_true",
                       help="use the debug kernel (lockdep, DEBUG_VM, ...): slower, checks more")
    p.add_argument("--force", action="store_true",
                   help="run make even if the stamp says the kernel is up to date")
    if variant:
        _variant_opt(p)
    p.add_argument("-j", "--jobs", type=integer, metavar="N", help="make -jN (default: all CPUs)")


VARIANT_HELP = ("series: the port (default); vanilla: the same Debian tree and config without "
                "the series; spf-n: the series with CONFIG_SPECULATIVE_PAGE_FAULT=n; v6.12: "
                "linux-source-6.12 as shipped (per-VMA locks); v6.12-novma: 6.12 with "
                "CONFIG_PER_VMA_LOCK off (each in its own O= dir)")


def _variant_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", choices=tuple(VARIANTS), default="series", help=VARIANT_HELP)


def _boot_opts(p: argparse.ArgumentParser, timeout: float | None,
               timeout_help: str = "") -> None:
    g = p.add_argument_group("QEMU")
    g.add_argument("--accel", choices=("auto", "kvm", "tcg", "icount"), default="auto",
                   help="auto: KVM if a test boot shows it works here, else TCG (default); "
                        "icount: TCG whose guest clock counts instructions (1 ns each), "
                        "so a rate measures instructions per fault, whatever the host's "
                        "load (one vCPU runs at a time)")
    g.add_argument("--smp", type=integer, default=2, metavar="N",
                   help="vCPUs (default 2; at most the kernel's CONFIG_NR_CPUS)")
    g.add_argument("--memory", type=memory, default="512M", metavar="SIZE",
                   help="guest RAM: 512M, 1G, ... (default 512M)")
    g.add_argument("--timeout", type=seconds, default=timeout, metavar="S",
                   help=f"stop QEMU after S seconds (default {timeout_help or f'{timeout:.0f}'})")


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``kernel`` and its steps to a parser's sub-commands; return the ``kernel`` parser."""
    raw = argparse.RawDescriptionHelpFormatter
    kp = subparsers.add_parser("kernel", help=KERNEL_HELP, description=KERNEL_DESCRIPTION,
                               epilog=KERNEL_EPILOG, formatter_class=raw)
    adopt(kp)
    steps = kp.add_subparsers(dest="kernel_cmd", metavar="STEP", parser_class=KernelParser)

    fp = steps.add_parser(
        "fetch", help="install packages, unpack linux-source-6.1, apply the series",
        formatter_class=raw, description=textwrap.dedent("""\
            Make sure the Debian packages are there (installs them when run as root),
            unpack /usr/src/linux-source-6.1.tar.xz into the build dir (once), and apply
            kernel/patches/series in order with `patch -p1 --fuzz=0`.  A hunk that does
            not apply exactly is an error naming the patch, the file and the hunk; the
            tree is then left as it was.  After a patch edit only the files whose text
            changes are rewritten, so the next build recompiles just those.
            --variant v6.12 instead installs linux-source-6.12 in the version of
            kernel/SOURCE-VERSION-6.12 and unpacks it into <build>/linux-6.12, no
            patches; v6.12-novma also makes its copy without per-VMA locks."""))
    _common(fp)
    _variant_opt(fp)

    bp = steps.add_parser(
        "build", help="configure and build bzImage and the guest initramfs",
        formatter_class=raw, description=textwrap.dedent("""\
            fetch, then `make tinyconfig` + kernel/configs/*.config (merge_config.sh -m,
            olddefconfig), then check that every option the fragments ask for is in
            .config (kconfig drops unknown or unmet options silently), then
            `make bzImage`.  Plain and --debug kernels build in separate O= dirs.
            Also builds the guest programs (static) and the initramfs."""))
    _common(bp)
    _build_opts(bp, debug_default=False, variant=True)

    cp = steps.add_parser(
        "check", help="compile the series' code that tinyconfig leaves out (THP, uffd, NUMA)",
        formatter_class=raw, description=textwrap.dedent(f"""\
            fetch, then `make defconfig` + kernel/configs/compile-check.config (THP,
            USERFAULTFD, NUMA_BALANCING, MEMCG, SOFT_DIRTY...), `make prepare` and
            `make {' '.join(CHECK_TARGETS)}`: the paths the series changes that the
            booted tinyconfig kernels compile out.  Nothing is booted."""))
    _common(cp)
    cp.add_argument("--force", action="store_true", help="run make even if up to date")
    cp.add_argument("-j", "--jobs", type=integer, metavar="N",
                    help="make -jN (default: all CPUs)")

    op = steps.add_parser(
        "boot", help="boot the kernel in QEMU and show its console",
        formatter_class=raw, description=textwrap.dedent("""\
            build, then boot under QEMU with the console on your terminal.  Words after
            -- become the guest /init's arguments (its steps):
              sysctl=0|1                 vm.speculative_page_fault off/on
              torture[:seconds=N,...]    the torture test
              faultbench[:threads=N,mb=M,rounds=R,writer=0|1]
              vmstat                     a full /proc/vmstat snapshot
            e.g. spfteach kernel boot -- sysctl=0 faultbench:writer=1"""))
    _common(op)
    _build_opts(op, debug_default=False, variant=True)
    _boot_opts(op, timeout=300)
    op.add_argument("guest_args", nargs="*", metavar="-- ARGS",
                    help="arguments for the guest's /init")

    tp = steps.add_parser(
        "test", help="torture test on the debug kernel: pass/fail, exit 0/1",
        formatter_class=raw, description=textwrap.dedent(f"""\
            build --debug, boot, run the torture test (threads fault on shared ranges
            while others munmap/mprotect/mremap/madvise them and fork; every page is
            checked) for --seconds (default {TEST_SECONDS}).  Passes when the guest reports
            ok, the console shows no BUG/WARNING/lockdep/Oops/panic, and, on a kernel
            with SPF, some faults were handled speculatively (on --variant v6.12, some
            under a per-VMA lock: vma_lock_success above 0)."""))
    _common(tp)
    _build_opts(tp, debug_default=True, variant=True)
    _boot_opts(tp, timeout=None, timeout_help="120 + 4 x --seconds")
    tp.add_argument("--seconds", type=integer, default=TEST_SECONDS, metavar="N",
                    help=f"torture run time in the guest (default {TEST_SECONDS})")
    tp.add_argument("--seed", type=integer, default=None, metavar="N",
                    help="the torture's random seed (default: the guest's, 1)")
    tp.add_argument("--json", action="store_true",
                    help="print the guest's JSON document (vmstat deltas under 'vmstat')")

    hp = steps.add_parser(
        "bench", help="fault throughput with SPF on/off, beside the published v9 figures",
        formatter_class=raw, description=textwrap.dedent("""\
            build vanilla 6.1, the series and the series with SPF=n (--kernels picks),
            boot each once per repetition, and run faultbench (N threads touching fresh
            anonymous memory, as ebizzy -m does) in it: a warm-up set aside; without and
            with a thread doing mmap/munmap of unrelated ranges, which takes mmap_lock for
            writing over and over; once on a MADV_HUGEPAGE mapping when the kernel has THP
            (one fault per 2 MiB, left to the classic path); once with each thread mapping,
            writing and unmapping its own buffers.  On the series' kernel each runs with
            vm.speculative_page_fault on, then off, in the same boot.  Classic faults queue
            behind the writer; speculative ones do not, so the figure to watch is the
            on/off ratio with the writer; against vanilla, each ratio with its spread.

            The figures are saved in spfteach/data/kernel-bench/ (machine, QEMU mode, vCPUs,
            every run) and printed beside the v9 ebizzy table of the series' cover
            letter (spfteach/data/spf-v9-ebizzy.json): compare ratios and shares, not raw
            numbers (records/s on 16-80 CPUs vs faults/s on emulated vCPUs)."""))
    _common(hp)
    _build_opts(hp, debug_default=False)
    _boot_opts(hp, timeout=900)
    hp.add_argument("--threads", type=integer, metavar="N",
                    help="faulting threads (default: --smp)")
    hp.add_argument("--mb", type=integer, default=32, metavar="M",
                    help="MiB per thread (default 32)")
    hp.add_argument("--rounds", type=integer, default=4, metavar="R", help="rounds (default 4)")
    hp.add_argument("--repeat", type=integer, default=3, metavar="N",
                    help="boot each kernel N times, one repetition of the sequence per boot "
                         "(default 3)")
    hp.add_argument("--kernels", metavar="LIST",
                    help="comma-separated, from series (the port), vanilla (the same tree and "
                         "config without the series), spf-n (the series with "
                         "CONFIG_SPECULATIVE_PAGE_FAULT=n), v6.12 (Linux 6.12 with per-VMA "
                         "locks), v6.12-novma (6.12 without them); default: the first three, "
                         "or series alone with --debug")
    hp.add_argument("--own", action=argparse.BooleanOptionalAction, default=True,
                    help="add the own-buffer workload: each thread maps, writes and unmaps "
                         f"its own {bench.OWN_BUF_KB} KiB buffers (default: yes)")
    hp.add_argument("--thp", action=argparse.BooleanOptionalAction, default=None,
                    help="add a run on a MADV_HUGEPAGE mapping to each side (default: when the "
                         "kernel has CONFIG_TRANSPARENT_HUGEPAGE; needs an even --mb)")
    hp.add_argument("--json", action="store_true", help="print the guest's JSON document")
    hp.add_argument("--no-save", action="store_true",
                    help="do not write spfteach/data/kernel-bench/ (in the checkout)")
    return kp


# --- the steps -------------------------------------------------------------------------


def _layout(args: argparse.Namespace) -> Layout:
    return Layout.from_options(args.build_dir, args.kernel_dir)


def upstream_of(prof: str) -> Upstream:
    return LINUX_612 if is_612(prof) else LINUX_61


def do_fetch_612(layout: Layout, progress: Progress, prof: str) -> None:
    """linux-source-6.12 installed in the recorded version and unpacked (no series); for
    v6.12-novma, its copy without per-VMA locks too."""
    managed = debsource.recorded(layout, LINUX_612) is not None
    tools.ensure_packages(progress.say, packages=debsource.fetch_packages(layout, LINUX_612))
    if managed:
        version = debsource.ensure(layout, progress.say, up=LINUX_612)
        progress.say(f"source: {LINUX_612.package} {version}")
    source.unpack_612(layout, progress)
    if prof == "v6.12-novma":
        source.make_novma(layout, progress)


def do_fetch(layout: Layout, progress: Progress, prof: str = "plain") -> source.Applied:
    if is_612(prof):
        do_fetch_612(layout, progress, prof)
        return source.Applied([], [], True)
    # linux-source-6.1 in the version the series was made on, not whatever is newest
    tools.ensure_packages(progress.say, packages=debsource.fetch_packages(layout))
    version = debsource.ensure(layout, progress.say)
    if version:
        progress.say(f"source: {debsource.PACKAGE} {version}")
    source.unpack(layout, progress)
    applied = source.apply_series(layout, progress)
    if not applied.patches and not applied.skipped:
        progress.say(f"no patches ({layout.rel(layout.series)} missing or empty): the tree "
                     "is pristine linux-source-6.1")
    elif not applied.skipped:
        progress.say(f"applied {len(applied.patches)} patch(es) from {layout.rel(layout.series)};"
                     f" {len(applied.changed)} file(s) changed in the tree")
    if applied.offsets:
        progress.say(f"note: {len(applied.offsets)} hunk(s) applied at an offset (this tree "
                     f"differs a little from the series' base): {'; '.join(applied.offsets[:4])}"
                     + (" ..." if len(applied.offsets) > 4 else ""))
    return applied


@dataclass(frozen=True)
class Built:
    image: Path
    initrd: Path
    series: list[str]  # the patches in it, for the record (none in the vanilla kernel)
    source_version: str | None = None  # the Debian linux-source-6.1 (or 6.12) it was built from
    profile: str = "plain"  # plain, debug, vanilla, spf-n, v6.12, v6.12-debug or v6.12-novma
    config_differences: dict | None = None  # vanilla, spf-n, novma: .config against its base
    tree_edit: str | None = None  # v6.12-novma: how its tree differs from Debian's 6.12


def prof_of(args: argparse.Namespace) -> str:
    """The profile the options name: ``--debug`` and ``--variant`` (validate refused both)."""
    return profile(bool(getattr(args, "debug", False)), getattr(args, "variant", None) or "series")


def do_build(layout: Layout, args: argparse.Namespace, progress: Progress,
             prof: str | None = None) -> Built:
    prof = prof or prof_of(args)
    diff = None
    with build_lock(layout.build, progress):
        applied = do_fetch(layout, progress, prof)
        if prof == "vanilla":
            source.unpack_vanilla(layout, progress)
        if prof in BASELINE_OF:
            # The baseline must be its kernel minus the feature, nothing else: compare
            # the two .config files before spending minutes on the build.
            configure(layout, BASELINE_OF[prof][0], progress)
            configure(layout, prof, progress)
            diff = check_same_but_series(layout, prof)
        build_kernel(layout, prof, progress, force=args.force, njobs=args.jobs)
        initrd = guest.build_guest(layout, progress)
    return Built(layout.bzimage(prof), initrd,
                 [] if prof == "vanilla" or is_612(prof) else applied.patches,
                 source_version(layout, prof), prof,
                 {k: list(v) for k, v in diff.items()} if diff is not None else None,
                 source.novma_description() if prof == "v6.12-novma" else None)


def has_spf(layout: Layout, prof: str) -> bool:
    config = layout.out(prof) / ".config"
    return config.is_file() and \
        read_assignments(config).get("CONFIG_SPECULATIVE_PAGE_FAULT") == "y"


def has_vma_lock_stats(layout: Layout, prof: str) -> bool:
    """Per-VMA locks with their vmstat counters (the v6.12 kernels but novma)."""
    config = layout.out(prof) / ".config"
    return config.is_file() and read_assignments(config).get(PER_VMA_STATS) == "y"


def do_boot(layout: Layout, args: argparse.Namespace, progress: Progress,
            built: Built, guest_args: list[str], label: str, timeout: float,
            echo: bool) -> tuple[Verdict, dict]:
    """Boot the built kernel with ``guest_args`` and judge the console; return verdict, host."""
    image, initrd = built.image, built.initrd
    accel = qemu.choose(args.accel, layout, image, progress)
    append = qemu.cmdline(guest_args, smp=args.smp)
    cmd = qemu.command(image, initrd, accel, append, smp=args.smp, memory=args.memory)
    log = layout.logs / f"{label}-console.log"
    why = accel.reason if len(accel.reason) < 70 else accel.reason[:67] + "..."
    progress.say(f"booting the {built.profile} kernel: QEMU {accel.name} ({why}), "
                 f"{args.smp} vCPUs, {args.memory}; /init {' '.join(guest_args)}")
    boot = qemu.run(cmd, timeout, log=log, progress=progress,
                    echo=sys.stdout if echo else None, label=label)
    verdict = judge(boot, timeout, str(log))
    if not verdict.passed:  # the next run overwrites <label>-console.log: keep this one
        kept = log.with_name(f"{label}-console-{time.strftime('%Y%m%dT%H%M%S')}-FAIL.log")
        shutil.copyfile(log, kept)
        log = kept
    host = {"accel": accel.name, "accel_reason": accel.reason, "smp": args.smp,
            "memory": args.memory, "profile": built.profile,
            "config_fragments": [f.stem for f in fragments(layout, built.profile)],
            "kernel_cmdline": append,
            "qemu_command": " ".join(cmd), "console_log": str(log),
            "boot_seconds": round(boot.seconds, 2), "qemu_exit": boot.returncode,
            "series": built.series, "source_version": built.source_version,
            "source_package": upstream_of(built.profile).package,
            **({"tree_edit": built.tree_edit} if built.tree_edit else {}),
            "release": (verdict.doc or {}).get("kernel", {}).get("release"),
            "splats": [str(s) for s in verdict.splats], "problems": verdict.problems,
            "passed": verdict.passed}
    return verdict, host


def _summary(verdict: Verdict, host: dict) -> str:
    head = "PASS" if verdict.passed else "FAIL"
    return (f"{head}: {host['profile']} kernel, QEMU {host['accel']} with {host['smp']} vCPUs, "
            f"{host['boot_seconds']:.1f} s; console: {host['console_log']}")


def _steps_report(doc: dict) -> list[str]:
    lines = []
    for step in doc.get("steps", []):
        if "program" not in step:
            continue
        res = step.get("result") or {}
        keys = ("reads", "writes", "mismatches", "lost_writes", "pages_per_sec", "faults_per_sec",
                "writer", "thp")
        figures = ", ".join(f"{k}={res[k]}" for k in keys if k in res)
        vm = step.get("vmstat", {})
        # The attempts and successes always; an abort reason only when it happened.
        spf = {k: v for k, v in bench.spf_counters(vm).items()
               if v or k in ("spf_attempt", bench.SUCCESS_COUNTER)}
        lines.append(f"  {step['program']}: {'ok' if res.get('ok') else 'NOT ok'}, "
                     f"{step.get('wall_seconds', 0):.1f} s, {figures}")
        lines.append(f"    vmstat: pgfault={vm.get('pgfault', '?')} "
                     + " ".join(f"{k}={v}" for k, v in spf.items()))
    return lines


def source_version(layout: Layout, prof: str = "plain") -> str | None:
    """The Debian version the tree is unpacked from (None: a tarball of the user's)."""
    up = upstream_of(prof)
    return debsource.installed_version(package=up.package) \
        if debsource.recorded(layout, up) else None


def cmd_fetch(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    prof = profile(False, args.variant)
    with build_lock(layout.build, progress):
        do_fetch(layout, progress, prof)
        if prof == "vanilla":
            source.unpack_vanilla(layout, progress)
    progress.say(f"source ready: {layout.source(prof)}")
    return 0


def cmd_build(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    built = do_build(layout, args, progress)
    progress.say(f"ready: {built.image} and {built.initrd}")
    return 0


def cmd_check(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    with build_lock(layout.build, progress):
        do_fetch(layout, progress)
        compile_check(layout, progress, force=args.force, njobs=args.jobs)
    version = source_version(layout)
    progress.say(f"compile check passed on {debsource.PACKAGE} {version or '(your tarball)'}: "
                 f"{' '.join(CHECK_TARGETS)} build with THP, USERFAULTFD, NUMA_BALANCING, "
                 "MEMCG on")
    return 0


def cmd_boot(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    built = do_build(layout, args, progress)
    verdict, host = do_boot(layout, args, progress, built, list(args.guest_args), "boot",
                            args.timeout, echo=True)
    return _report(verdict, host, False, progress)


def cmd_test(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    timeout = validate.boot_timeout(args)
    built = do_build(layout, args, progress)
    torture = f"torture:seconds={args.seconds}" + (
        f",seed={args.seed}" if args.seed is not None else "")
    verdict, host = do_boot(layout, args, progress, built, [torture], "test", timeout,
                            echo=False)
    if verdict.doc is not None and has_spf(layout, built.profile):
        _require_speculation(verdict)
    if verdict.doc is not None and has_vma_lock_stats(layout, built.profile):
        _require_per_vma_locking(verdict)
    return _report(verdict, host, args.json, progress)


#: vmstat counter of the faults handled under a per-VMA lock (CONFIG_PER_VMA_LOCK_STATS).
VMA_LOCK_SUCCESS = "vma_lock_success"


def _require_per_vma_locking(verdict: Verdict) -> None:
    """On a kernel with per-VMA lock statistics the torture test must have handled some
    fault under a per-VMA lock: else the path the 6.12 test is about did not run."""
    assert verdict.doc is not None
    counts = [int(step["vmstat"][VMA_LOCK_SUCCESS]) for step in verdict.doc.get("steps", [])
              if VMA_LOCK_SUCCESS in step.get("vmstat", {})]
    if not counts:
        verdict.problems.append(f"no {VMA_LOCK_SUCCESS} counter in the guest's vmstat deltas: "
                                "is CONFIG_PER_VMA_LOCK_STATS on, and the guest current?")
    elif sum(counts) == 0:
        verdict.problems.append("no fault was handled under a per-VMA lock "
                                f"({VMA_LOCK_SUCCESS} stayed 0)")


def _require_speculation(verdict: Verdict) -> None:
    """On an SPF kernel the torture test must have taken the speculative path at least once."""
    assert verdict.doc is not None
    total, seen = 0, False
    for step in verdict.doc.get("steps", []):
        n = bench.speculative_successes(step.get("vmstat", {}))
        if n is not None:
            seen, total = True, total + n
    if not seen:
        verdict.problems.append(f"no {bench.SUCCESS_COUNTER} counter in the guest's vmstat "
                                "deltas: is the counters patch applied?")
    elif total == 0:
        verdict.problems.append("no fault was handled speculatively (is the sysctl on?)")


def _report(verdict: Verdict, host: dict, as_json: bool, progress: Progress) -> int:
    # Commands judge more after the boot (speculation seen, the bench target): the
    # host record shows the final verdict.
    host["problems"], host["passed"] = verdict.problems, verdict.passed
    if as_json:
        # No document (the guest died) still gives one JSON object, so stdout always parses.
        doc = verdict.doc if verdict.doc is not None else {"ok": False, "steps": []}
        print(json.dumps({**doc, "profile": "+".join(host.get("config_fragments") or [])
                          or host.get("profile"),
                          "source_version": host.get("source_version"), "host": host}, indent=1))
    elif verdict.doc is not None:
        for line in _steps_report(verdict.doc):
            print(line, file=sys.stderr)
    for line in verdict.problems:
        progress.say(f"problem: {line}")
    progress.say(_summary(verdict, host))
    return 0 if verdict.passed else 1


#: What ``bench`` compares without --kernels: the 6.1 three (6.12 is asked for by name).
BENCH_DEFAULT = ("series", "vanilla", "spf-n")


def bench_kernels(args: argparse.Namespace) -> list[str]:
    """The kernels a bench compares: --kernels, else the 6.1 three (only the series' with
    --debug, which has no vanilla build)."""
    if args.kernels:
        return list(dict.fromkeys(args.kernels.split(",")))
    return ["series"] if args.debug else list(BENCH_DEFAULT)


def cmd_bench(args: argparse.Namespace, progress: Progress) -> int:
    layout = _layout(args)
    threads = args.threads or args.smp
    kernels = bench_kernels(args)
    # The series' kernel first: it fetches, and the others are checked against its .config.
    order = sorted(kernels, key=lambda k: k != "series")
    built = {k: do_build(layout, args, progress,
                         prof=profile(args.debug and k == "series", k)) for k in order}
    # THP only where configured, the sysctl only on an SPF kernel: known now.
    thp = args.thp
    if thp is None:  # validate refused an explicit --thp the profile cannot give
        thp = profile_has(layout, built[order[0]].profile, THP_OPTION)
        if thp and args.mb % 2:
            progress.say(f"no THP run: --mb {args.mb} is not whole 2 MiB huge pages")
            thp = False
    verdict = Verdict(doc={"spfteach_guest": "1", "ok": True, "steps": []})
    runs: list[bench.Run] = []
    boots: list[dict] = []
    hosts: dict[str, dict] = {}
    for rep in range(args.repeat):
        # Each repetition boots every kernel once, starting from a different one each time,
        # so that no kernel is always the first (or last) of a warm or cold machine.
        for k in kernels[rep % len(kernels):] + kernels[:rep % len(kernels)]:
            gargs = bench.guest_args(threads, args.mb, args.rounds,
                                     has_spf(layout, built[k].profile), 1, thp=thp,
                                     own=args.own, warmup=True)
            one, host = do_boot(layout, args, progress, built[k], gargs, f"bench-{k}",
                                args.timeout, echo=False)
            hosts.setdefault(k, host)
            boots.append({"kernel": k, "repetition": rep, "profile": built[k].profile,
                          "config_profile": "+".join(host["config_fragments"]),
                          "release": host.get("release"), "boot_seconds": host["boot_seconds"],
                          "console_log": host["console_log"], "passed": one.passed,
                          "problems": one.problems, "guest": one.doc})
            verdict.splats += one.splats
            verdict.problems += [f"{k} kernel, repetition {rep + 1}: {p}" for p in one.problems]
            if one.doc is None:
                break
            assert verdict.doc is not None
            verdict.doc["steps"] += [{**st, "kernel": k, "repetition": rep}
                                     for st in one.doc.get("steps", [])]
            verdict.doc["ok"] = verdict.doc["ok"] and one.doc.get("ok") is True
            verdict.doc.setdefault("kernel", one.doc.get("kernel"))
            runs += bench.runs(one.doc, kernel=k, first_repetition=rep)
        else:
            continue
        break  # a guest died: the figures so far are kept, and the verdict says what happened
    host = dict(hosts.get("series") or next(iter(hosts.values())))
    verdict.problems += bench.target_problems(runs)
    vs = bench.versus_vanilla(runs)
    host["bench"] = {"runs": [bench.summary(r) for r in runs if r.kernel == "series"],
                     "target_met": bench.target_met(runs), "kernels": kernels,
                     "vanilla": [bench.summary(r) for r in runs if r.kernel == "vanilla"],
                     "spf_n": [bench.summary(r) for r in runs if r.kernel == "spf-n"],
                     "v6_12": [bench.summary(r) for r in runs if r.kernel == "v6.12"],
                     "v6_12_novma": [bench.summary(r) for r in runs
                                     if r.kernel == "v6.12-novma"],
                     "gains": bench.gains(runs),
                     "kernel_sources": {k: {"profile": b.profile,
                                            "package": upstream_of(b.profile).package,
                                            "source_version": b.source_version,
                                            "release": (hosts.get(k) or {}).get("release"),
                                            "series": b.series, "tree_edit": b.tree_edit}
                                        for k, b in built.items()},
                     "ratio_on_vs_off": {w: rs for w in bench.WORKLOADS
                                         if (rs := bench.pair_ratios(runs, ("series", "on"),
                                                                     ("series", "off"), w))},
                     **{key: vs.get(key, {}) for key in bench.VERSUS},
                     "cost_targets": bench.cost_targets(runs),
                     "config_differences": {k: b.config_differences for k, b in built.items()
                                            if b.config_differences is not None},
                     "boots": [{k: v for k, v in b.items() if k != "guest"} for b in boots]}
    if not args.no_save and runs:
        path = bench.save(layout.data, bench.record(host, runs, layout.kernel_dir, boots))
        host["saved"] = str(path)
        progress.say(f"figures saved to {path}")
    if not args.json:
        print(bench.table(runs, host))
    return _report(verdict, host, args.json, progress)


COMMANDS = {"fetch": cmd_fetch, "build": cmd_build, "check": cmd_check, "boot": cmd_boot,
            "test": cmd_test, "bench": cmd_bench}


def run(args: argparse.Namespace) -> int:
    """Run ``spfteach kernel STEP``; a KernelError becomes one line and exit status 2.

    Every check that needs no work (:func:`validate.check`) runs before the step, so
    bad input is refused in a second, not after the fetch and the build.  An OSError
    the driver did not foresee (a disk that fills up, a directory removed under it)
    is one line too: a traceback would tell the user less.
    """
    if not getattr(args, "kernel_cmd", None):
        hint_no_step("spfteach kernel", list(COMMANDS))
        return 2
    progress = Progress()
    try:
        validate.check(args)
        return COMMANDS[args.kernel_cmd](args, progress)
    except KernelError as err:
        progress.done()
        print(f"spfteach: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        progress.done()
        where = f" ({err.filename})" if err.filename else ""
        print(f"spfteach: error: {err.strerror or err}{where}; the next run redoes the "
              "unfinished step", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nspfteach: interrupted; the next run redoes the unfinished step",
              file=sys.stderr)
        return 130
