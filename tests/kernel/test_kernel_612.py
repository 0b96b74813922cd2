"""Linux 6.12 in the pipeline (issue 25): per-VMA locks, SPF's mainline successor.

The driver's side on small fakes (a fake linux-source-6.12 tarball, fake apt answers): the
6.12 tree is unpacked beside 6.1's and never patched; the no-per-VMA-lock tree is a
hard-linked copy with one new file; the 6.12 profiles merge their own fragment and never
ask for the series' options; the test of a 6.12 kernel asks for faults handled under a
per-VMA lock and not for speculative ones.  The one ``kernel`` test builds the real 6.12
debug kernel (KASAN, lockdep, DEBUG_VM) and runs the torture test on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from spfteach.kernel import bench, commands, config, debsource, source, validate
from spfteach.kernel.errors import KernelError
from spfteach.kernel.layout import REPO, Layout
from spfteach.kernel.runner import Progress
from spfteach.kernel.upstream import LINUX_61, LINUX_612
from spfteach.kernel.verdict import Verdict

#: The entry of 6.12's mm/Kconfig the novma tree changes, with its neighbours.
KCONFIG = ("config ARCH_SUPPORTS_PER_VMA_LOCK\n       def_bool n\n\n"
           "config PER_VMA_LOCK\n\tdef_bool y\n\tdepends on ARCH_SUPPORTS_PER_VMA_LOCK && MMU "
           "&& SMP\n\thelp\n\t  Allow per-vma locking during page fault handling.\n\n"
           "config LOCK_MM_AND_FIND_VMA\n\tbool\n")


def quiet() -> Progress:
    return Progress(stream=open(os.devnull, "w"), every=0.05)


@pytest.fixture
def fake612(tmp_path: Path) -> Layout:
    """A tiny 'linux-source-6.12' tarball (and no 6.1 one), an empty port."""
    top = tmp_path / "tar" / "linux-source-6.12"
    (top / "mm").mkdir(parents=True)
    (top / "mm" / "Kconfig").write_text(KCONFIG)
    (top / "mm" / "memory.c").write_text("vm_fault_t lock_vma_under_rcu(void);\n")
    (top / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\n")
    tarball = tmp_path / "linux-source-6.12.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(top, arcname="linux-source-6.12")
    kdir = tmp_path / "port"
    (kdir / "patches").mkdir(parents=True)
    (kdir / "patches" / "series").write_text("# none\n")
    (kdir / "configs" / "v6.12").mkdir(parents=True)
    (kdir / "configs" / "qemu-tiny.config").write_text("CONFIG_SMP=y\n"
                                                       "CONFIG_SPECULATIVE_PAGE_FAULT=y\n")
    (kdir / "configs" / "debug.config").write_text("CONFIG_DEBUG_VM=y\n")
    (kdir / "configs" / "v6.12" / "per-vma-lock.config").write_text(
        "CONFIG_PER_VMA_LOCK=y\nCONFIG_PER_VMA_LOCK_STATS=y\n")
    return Layout(kernel_dir=kdir, build=tmp_path / "build", tarball=tmp_path / "no-6.1.tar.xz",
                  data=tmp_path / "data", tarball_612=tarball)


# --- fetch: the version recorded, the tree unpacked as shipped ---------------------------


def test_the_612_version_is_recorded_and_managed_like_61s() -> None:
    text = (REPO / "kernel" / LINUX_612.version_file).read_text()
    assert text.split()[0] == "6.12.118-1~deb12u1"
    layout = Layout.from_options()
    assert layout.tarball_of(LINUX_612) == Path("/usr/src/linux-source-6.12.tar.xz")
    assert debsource.recorded(layout, LINUX_612) == "6.12.118-1~deb12u1"
    assert debsource.recorded(layout) == (REPO / "kernel" / "SOURCE-VERSION").read_text().split()[0]


def test_ensure_installs_the_recorded_612(tmp_path: Path) -> None:
    port = tmp_path / "kernel"
    port.mkdir()
    (port / "SOURCE-VERSION-6.12").write_text("6.12.118-1~deb12u1\n")
    layout = Layout.from_options(str(tmp_path / "build"), str(port))
    calls: list[list[str]] = []

    def out(cmd: list[str]) -> str:
        calls.append(cmd)
        if cmd[0] == "dpkg-query":
            assert cmd[-1] == "linux-source-6.12"
            return ""
        assert cmd == ["apt-cache", "madison", "linux-source-6.12"]
        return ("linux-source-6.12 | 6.12.118-1~deb12u1 | http://deb.debian.org/debian-security "
                "bookworm-security/main\n")

    def apt(cmd: list[str]) -> int:
        calls.append(cmd)
        return 0
    assert debsource.ensure(layout, print, out, apt, up=LINUX_612) == "6.12.118-1~deb12u1"
    assert calls[-1][-1] == "linux-source-6.12=6.12.118-1~deb12u1"
    # 6.1 is not recorded in this port: not managed, nothing asked of apt
    assert debsource.ensure(layout, print, out, apt, up=LINUX_61) is None


def test_an_archive_without_612_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(KernelError, match=r"the archive offers no linux-source-6.12 \(wanted "
                                          r"6.12.118-1~deb12u1\): run `apt-get update`"):
        debsource.choose("6.12.118-1~deb12u1", [], None, LINUX_612.package)


def test_612_is_unpacked_beside_61_and_never_patched(fake612: Layout) -> None:
    assert source.unpack_612(fake612, quiet()) is True
    assert (fake612.src_612 / "mm" / "Kconfig").read_text() == KCONFIG
    assert not fake612.src.exists()  # the 6.1 tree is another tarball's
    assert source.unpack_612(fake612, quiet()) is False  # the stamp says done
    assert fake612.source("v6.12") == fake612.source("v6.12-debug") == fake612.src_612
    assert fake612.source("v6.12-novma") == fake612.novma_src
    assert fake612.out("v6.12-debug").name == "out-v6.12-debug"


def test_no_612_tarball_is_one_line_naming_the_package(fake612: Layout) -> None:
    gone = Layout(fake612.kernel_dir, fake612.build, tarball_612=fake612.build / "none.tar.xz")
    with pytest.raises(KernelError, match=r"none.tar.xz not found: install it with .*"
                                          r"linux-source-6.12"):
        source.unpack_612(gone, quiet())


def test_the_fetch_command_fails_in_one_line_without_the_612_source(
        fake612: Layout, tmp_path: Path, monkeypatch, capsys) -> None:
    from spfteach.kernel import tools
    monkeypatch.setenv("SPFTEACH_LINUX612_TARBALL", str(tmp_path / "missing.tar.xz"))
    monkeypatch.setattr(tools, "dpkg_missing", lambda packages=tools.PACKAGES: [])
    args = _parse(["kernel", "fetch", "--variant", "v6.12", "--build-dir", str(fake612.build),
                   "--kernel-dir", str(fake612.kernel_dir)])
    assert commands.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spfteach: error: ")
    assert "missing.tar.xz not found" in err[0] and "linux-source-6.12" in err[0]


def test_the_novma_tree_is_a_hard_linked_copy_with_one_new_file(fake612: Layout) -> None:
    source.unpack_612(fake612, quiet())
    assert source.make_novma(fake612, quiet()) is True
    novma, shipped = fake612.novma_src, fake612.src_612
    assert (shipped / "mm" / "Kconfig").read_text() == KCONFIG  # 6.12 itself untouched
    kconfig = (novma / "mm" / "Kconfig").read_text()
    assert kconfig == KCONFIG.replace("config PER_VMA_LOCK\n\tdef_bool y\n",
                                      "config PER_VMA_LOCK\n\tdef_bool n\n")
    assert (novma / "mm" / "Kconfig").stat().st_ino != (shipped / "mm" / "Kconfig").stat().st_ino
    # every other file is the same inode: no copy, and nothing else can differ
    assert (novma / "mm" / "memory.c").stat().st_ino == (shipped / "mm" / "memory.c").stat().st_ino
    assert source.make_novma(fake612, quiet()) is False  # the stamp says done
    stamp = json.loads((fake612.stamps / "novma-6.12.json").read_text())
    assert "def_bool y' to 'def_bool n'" in stamp["edit"] and "mm/Kconfig" in stamp["edit"]


def test_a_kconfig_that_is_not_612s_is_refused() -> None:
    with pytest.raises(KernelError, match="no single 'config PER_VMA_LOCK' entry"):
        source.disable_per_vma_lock(KCONFIG.replace("\tdef_bool y", "\tbool \"Per-VMA\""))
    with pytest.raises(KernelError, match="no single"):
        source.disable_per_vma_lock(KCONFIG + KCONFIG)


def test_novma_needs_612_unpacked_first(fake612: Layout) -> None:
    with pytest.raises(KernelError, match=r"fetch --variant v6.12"):
        source.make_novma(fake612, quiet())


# --- config: the same fragments, their own on top, the feature checked off -----------------


def test_612_profiles_and_their_fragments(fake612: Layout) -> None:
    assert config.profile(False, "v6.12") == "v6.12"
    assert config.profile(True, "v6.12") == "v6.12-debug"
    assert config.profile(False, "v6.12-novma") == "v6.12-novma"
    names = [f.name for f in config.fragments(fake612, "v6.12")]
    assert names == ["qemu-tiny.config", "per-vma-lock.config"]
    assert [f.name for f in config.fragments(fake612, "v6.12-debug")][-1] == "debug.config"
    novma = config.fragments(fake612, "v6.12-novma")
    assert novma[-1] == fake612.out("v6.12-novma") / config.NOVMA_FRAGMENT
    # the series' option is not asked of a tree that does not have it
    asked = config.requested(config.fragments(fake612, "v6.12"), "v6.12")
    assert "CONFIG_SPECULATIVE_PAGE_FAULT" not in asked
    assert asked["CONFIG_PER_VMA_LOCK_STATS"][0] == "y"
    # novma: both per-VMA options asked off (its fragment is written at configure time)
    off = config.requested(novma, "v6.12-novma")
    assert off["CONFIG_PER_VMA_LOCK"][0] == off["CONFIG_PER_VMA_LOCK_STATS"][0] == "n"
    # the 6.1 profiles never see the 6.12 fragment
    assert [f.name for f in config.fragments(fake612, "plain")] == ["qemu-tiny.config"]


def test_no_612_fragment_is_one_line(fake612: Layout) -> None:
    (fake612.configs_612 / "per-vma-lock.config").unlink()
    with pytest.raises(KernelError, match=r"the 6.12 kernels need a fragment in .*v6.12"):
        config.fragments(fake612, "v6.12")


def test_novma_may_differ_from_612_in_the_per_vma_options_only(fake612: Layout) -> None:
    for prof, text in (("v6.12", "CONFIG_SMP=y\nCONFIG_PER_VMA_LOCK=y\n"
                                 "CONFIG_PER_VMA_LOCK_STATS=y\n"),
                       ("v6.12-novma", "CONFIG_SMP=y\n# CONFIG_PER_VMA_LOCK_STATS is not set\n")):
        fake612.out(prof).mkdir(parents=True, exist_ok=True)
        (fake612.out(prof) / ".config").write_text(text)
    assert config.check_same_but_series(fake612, "v6.12-novma") == {
        "CONFIG_PER_VMA_LOCK": ("y", None), "CONFIG_PER_VMA_LOCK_STATS": ("y", "n")}
    (fake612.out("v6.12-novma") / ".config").write_text("# CONFIG_SMP is not set\n")
    with pytest.raises(KernelError, match=r"differs from the v6.12 one's in more than the "
                                          r"per-VMA lock options \(CONFIG_SMP y vs n\)"):
        config.check_same_but_series(fake612, "v6.12-novma")


# --- the verdict: the same checkers on 6.12's console; per-VMA locking asked, not SPF -------

#: Reports in 6.12's words (lib/Kconfig.kasan's generic mode, lockdep), dropped into the
#: middle of a real 6.12 debug console.
REPORTS_612 = {
    "KASAN": "[   12.345678] BUG: KASAN: slab-use-after-free in lock_vma_under_rcu+0x2d1/0x3f0\n"
             "[   12.345700] Read of size 8 at addr ffff888004a1c3d0 by task spfguest/77\n",
    "lockdep": "[   12.345678] WARNING: possible circular locking dependency detected\n"
               "[   12.345700] 6.12.118 #1 Not tainted\n",
    "BUG": "[   12.345678] BUG: Bad rss-counter state mm:00000000c5e3b0a2 type:MM_ANONPAGES "
           "val:1\n",
    "WARNING": "[   12.345678] WARNING: CPU: 1 PID: 77 at mm/memory.c:6288 "
               "lock_vma_under_rcu+0x1a/0x3f0\n",
}


def test_a_real_612_debug_console_is_clean_and_each_report_fails_it() -> None:
    from spfteach.kernel import console, qemu
    from spfteach.kernel.verdict import judge
    from tests.paths import FIXTURES
    clean = (FIXTURES / "kernel" / "console-612-clean.log").read_text()
    assert console.scan_splats(clean) == []
    doc = console.extract_json(clean)
    assert doc["kernel"]["release"] == "6.12.118" and doc["vma_lock_stats"] is True
    assert doc["steps"][0]["vmstat"]["vma_lock_success"] > 0
    assert judge(qemu.Boot(clean, 0, 28.0, ["qemu"], None), 60, "log").passed
    at = clean.index("[    5.706712] zram0")
    for kind, report in REPORTS_612.items():
        v = judge(qemu.Boot(clean[:at] + report + clean[at:], 0, 28.0, ["qemu"], None), 60,
                  "log")
        assert not v.passed and v.splats[0].kind == kind, (kind, v.splats)



def _verdict(vmstat: dict) -> Verdict:
    return Verdict(doc={"ok": True, "steps": [{"program": "torture", "vmstat": vmstat}]})


def test_a_612_test_requires_faults_under_a_per_vma_lock() -> None:
    v = _verdict({"pgfault": 10, "vma_lock_success": 7, "vma_lock_abort": 1})
    commands._require_per_vma_locking(v)
    assert v.passed
    v = _verdict({"pgfault": 10, "vma_lock_success": 0})
    commands._require_per_vma_locking(v)
    assert v.problems == ["no fault was handled under a per-VMA lock (vma_lock_success "
                          "stayed 0)"]
    v = _verdict({"pgfault": 10})
    commands._require_per_vma_locking(v)
    assert "no vma_lock_success counter" in v.problems[0]


def test_the_612_kernels_are_asked_for_per_vma_locking_not_speculation(
        fake612: Layout) -> None:
    for prof, text in (("v6.12-debug", "CONFIG_PER_VMA_LOCK=y\nCONFIG_PER_VMA_LOCK_STATS=y\n"),
                       ("v6.12-novma", "# CONFIG_PER_VMA_LOCK_STATS is not set\n"),
                       ("debug", "CONFIG_SPECULATIVE_PAGE_FAULT=y\n")):
        fake612.out(prof).mkdir(parents=True, exist_ok=True)
        (fake612.out(prof) / ".config").write_text(text)
    assert commands.has_vma_lock_stats(fake612, "v6.12-debug")
    assert not commands.has_spf(fake612, "v6.12-debug")
    assert not commands.has_vma_lock_stats(fake612, "v6.12-novma")
    assert not commands.has_spf(fake612, "v6.12-novma")
    assert commands.has_spf(fake612, "debug") and not commands.has_vma_lock_stats(fake612, "debug")


def _parse(argv: list[str]):  # noqa: ANN202
    import argparse
    parser = argparse.ArgumentParser(prog="spfteach")
    commands.add_subparser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(argv)


def test_only_the_series_and_612_have_debug_builds(tmp_path: Path) -> None:
    where = ["--build-dir", str(tmp_path / "b"), "--kernel-dir", str(REPO / "kernel")]
    with pytest.raises(KernelError, match="v6.12-novma has no debug build.*drop --debug"):
        validate.check(_parse(["kernel", "build", "--debug", "--variant", "v6.12-novma",
                               *where]))
    with pytest.raises(KernelError, match="give --no-debug"):
        validate.check(_parse(["kernel", "test", "--variant", "v6.12-novma", *where]))
    args = _parse(["kernel", "test", "--variant", "v6.12", *where])
    validate.check(args)  # the 6.12 debug kernel is what the kernel test builds
    assert commands.prof_of(args) == "v6.12-debug"


# --- bench: each design over its own baseline ----------------------------------------------


def _run(kernel: str, spf: str, writer: bool, rate: float, rep: int) -> bench.Run:
    counters = {"vma_lock_success": 4000, "vma_lock_abort": 3} if kernel == "v6.12" else {}
    return bench.Run(spf=spf, writer=writer, threads=2, faults=4096, writer_ops=0,
                     faults_per_sec=rate, best_round_pages_per_sec=rate, pgfault=4100,
                     speculative=None, counters=counters, pages_per_sec=rate, kernel=kernel,
                     repetition=rep)


def test_the_gain_of_each_design_over_its_own_baseline() -> None:
    runs = []
    for rep in range(2):
        for w in (False, True):
            runs += [_run("vanilla", "n/a", w, 100.0, rep),
                     _run("series", "on", w, 100.0 + 300 * w, rep),
                     _run("series", "off", w, 100.0 - 75 * w, rep),
                     _run("v6.12", "n/a", w, 120.0 + 60 * w * (1 + rep), rep),
                     _run("v6.12-novma", "n/a", w, 120.0 - 60 * w, rep)]
    got = bench.gains(runs)
    assert got["spf_on_vs_off"]["writer"]["runs"] == [16.0, 16.0]
    assert got["per_vma_on_vs_off"]["writer"]["runs"] == [3.0, 4.0]
    assert got["per_vma_on_vs_off"]["writer"]["median"] == 3.5
    assert got["per_vma_on_vs_off"]["no_writer"]["runs"] == [1.0, 1.0]
    assert got["per_vma_on_vs_off"]["writer"]["sd"] == pytest.approx(0.7071, abs=1e-4)
    vs = bench.versus_vanilla(runs)
    assert vs["ratio_v6_12_novma_vs_vanilla"]["writer"]["runs"] == [0.6, 0.6]
    text = bench.table(runs, {"accel": "tcg", "smp": 2})
    assert "per-VMA locks (6.12), on / off" in text and "3.50x (2 runs, sd 0.707)" in text
    assert "vma-locked" in text and " 4000" in text
    # SPF's target (95 % speculative after first touch) is never asked of a 6.12 kernel
    only_612 = [r for r in runs if r.kernel.startswith("v6.12")]
    assert bench.target_met(only_612) is None and bench.target_problems(only_612) == []


def test_bench_takes_the_612_kernels_by_name(tmp_path: Path) -> None:
    where = ["--build-dir", str(tmp_path / "b"), "--kernel-dir", str(REPO / "kernel")]
    args = _parse(["kernel", "bench", "--kernels", "vanilla,series,v6.12,v6.12-novma", *where])
    validate.check(args)
    assert commands.bench_kernels(args) == ["vanilla", "series", "v6.12", "v6.12-novma"]
    assert commands.bench_kernels(_parse(["kernel", "bench", *where])) == [
        "series", "vanilla", "spf-n"]


# --- the real thing --------------------------------------------------------------------------

KERNEL = [sys.executable, "-m", "spfteach.kernel"]


@pytest.mark.kernel
@pytest.mark.timeout(3600)
def test_real_612_debug_kernel_passes_the_torture_under_per_vma_locks() -> None:
    """linux-source-6.12 (the recorded version) fetched and built with the debug layer (KASAN,
    lockdep, PROVE_RCU, DEBUG_VM) and CONFIG_PER_VMA_LOCK_STATS; the torture test passes with
    no kernel report, and faults were handled under per-VMA locks (vma_lock_success > 0), not
    speculatively (6.12 has no SPF).  SPFTEACH_TEST_SECONDS_612 sets the torture's length
    (20 s)."""
    seconds = os.environ.get("SPFTEACH_TEST_SECONDS_612", "20")
    start = time.monotonic()
    r = subprocess.run([*KERNEL, "test", "--variant", "v6.12", "--json", "--seconds", seconds],
                       capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    host = doc["host"]
    assert host["profile"] == "v6.12-debug" and host["passed"] and host["splats"] == []
    assert doc["ok"] is True and doc["kernel_log"]["clean"] is True
    assert doc["kernel"]["release"].startswith("6.12."), doc["kernel"]
    assert host["source_package"] == "linux-source-6.12" and host["series"] == []
    recorded = (REPO / "kernel" / "SOURCE-VERSION-6.12").read_text().split()[0]
    assert host["source_version"] == recorded
    assert doc["vma_lock_stats"] is True and doc["spf_available"] is False
    layout = Layout.from_options()
    final = config.read_assignments(layout.out("v6.12-debug") / ".config")
    for option in ("CONFIG_KASAN", "CONFIG_PROVE_LOCKING", "CONFIG_DEBUG_VM", "CONFIG_PER_VMA_LOCK",
                   "CONFIG_PER_VMA_LOCK_STATS"):
        assert final.get(option) == "y", option
    torture = [s for s in doc["steps"] if s.get("program") == "torture"]
    assert len(torture) == 1
    res, vmstat = torture[0]["result"], torture[0]["vmstat"]
    assert (res["mismatches"], res["lost_writes"], res["final_mismatches"],
            res["fork_failures"], res["op_errors"]) == (0, 0, 0, 0, 0), res
    assert res["seconds"] >= float(seconds)
    assert vmstat["vma_lock_success"] > 0, vmstat
    for k in ("vma_lock_abort", "vma_lock_retry", "vma_lock_miss"):
        assert k in vmstat, (k, "reported even when it stays at 0")
    assert not [k for k in vmstat if k.startswith(("spf_", "speculative_"))]
    print(f"6.12 debug kernel: fetch+build+torture {time.monotonic() - start:.0f} s; "
          f"vma_lock_* {({k: v for k, v in vmstat.items() if k.startswith('vma_lock_')})}")


@pytest.mark.kernel
@pytest.mark.timeout(1800)
def test_real_612_tree_has_what_the_pipeline_relies_on(kernel_tree_612: Path) -> None:
    """The unpacked 6.12 (the kernel_tree_612 fixture: fetch only) has the per-VMA lock code
    and counters the v6.12 kernels are about, and the one mm/Kconfig entry v6.12-novma edits,
    in the form the edit expects: a new Debian 6.12 that moved it fails here, in seconds,
    rather than as a build of the wrong kernel."""
    assert (kernel_tree_612 / "Makefile").read_text().splitlines()[2] == "PATCHLEVEL = 12"
    memory = (kernel_tree_612 / "mm" / "memory.c").read_text()
    assert "struct vm_area_struct *lock_vma_under_rcu(struct mm_struct *mm," in memory
    events = (kernel_tree_612 / "include" / "linux" / "vm_event_item.h").read_text()
    for counter in ("VMA_LOCK_SUCCESS", "VMA_LOCK_ABORT", "VMA_LOCK_RETRY", "VMA_LOCK_MISS"):
        assert counter in events
    kconfig = (kernel_tree_612 / "mm" / "Kconfig").read_text()
    edited = source.disable_per_vma_lock(kconfig)
    changed = [(a, b) for a, b in zip(kconfig.splitlines(), edited.splitlines(), strict=True)
               if a != b]
    assert changed == [("\tdef_bool y", "\tdef_bool n")]
