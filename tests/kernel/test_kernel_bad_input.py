"""Bad input to `spfteach kernel` is one line, exit status 2, at once: never after a build.

Each case runs the real command (`.venv/bin/spfteach kernel ...`) in a subprocess
and checks what a user sees: exit status 2, exactly one line on stderr, starting
with `spfteach: error:` and saying what is wrong, no traceback, nothing on stdout,
in well under a few seconds, and no work started: the fresh `--build-dir` every
case names is never created.

The commands run with an empty PATH and a tarball that does not exist, so that a
check that let bad input through could not start a fetch (it would stop at once
for want of `dpkg-query`, with a different message, and the case would fail on the
expected text).  No kernel tree is needed and nothing here is marked `kernel`.
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spfteach.kernel import add_subparser, bench, commands, initargs, qemu, run, validate
from spfteach.kernel.layout import REPO, Layout

SPFTEACH = Path(sys.executable).parent / "spfteach"
PORT = REPO / "kernel"
#: A refusal should take the time to start Python and nothing more (~0.4 s here).
FAST = 5.0

# --- the cases: (id, arguments after `spfteach kernel`, text the error line must contain) ---
# {build} is a fresh directory that must never be created; {tmp} the test's tmp dir; {file} a
# regular file; {mine} a non-empty directory of someone else's; {port}, {noseries},
# {gone}, {noconfigs}, {noguest}, {binary}: small ports, whole or missing one piece.

B = ["--build-dir", "{build}", "--kernel-dir", str(PORT)]
STEP_CASES = [
    ("no-step", [], "kernel needs a step: fetch, build, check, boot, test or bench "
                    "(try: spfteach kernel --help)"),
    ("unknown-step", ["bogus"], "invalid choice: 'bogus'"),
    ("unknown-option", ["boot", "--frobnicate", *B], "unrecognized arguments: '--frobnicate'"),
    ("unknown-kernel-option", ["--frobnicate"], "unrecognized arguments"),
    ("guest-steps-to-test", ["test", *B, "--", "torture"], "only `spfteach kernel boot` takes"),
    ("option-without-value", ["boot", "--smp"], "argument --smp: expected one argument"),
    ("accel-choice", ["boot", "--accel", "xen", *B], "argument --accel: invalid choice: 'xen'"),
]
PATH_CASES = [
    ("build-dir-empty", ["fetch", "--build-dir", ""], "--build-dir is empty"),
    ("kernel-dir-empty", ["fetch", "--kernel-dir", "", "--build-dir", "{build}"],
     "--kernel-dir is empty"),
    ("build-dir-blank", ["fetch", "--build-dir", "  "], "--build-dir is blank"),
    ("build-dir-tilde", ["fetch", "--build-dir", "~/spfteach-build"], "starts with ~"),
    ("build-dir-is-a-file", ["fetch", "--build-dir", "{file}"], "is a file"),
    ("build-dir-under-a-file", ["fetch", "--build-dir", "{file}/build"],
     "lies under {file}, which is a file"),
    ("build-dir-not-writable-proc", ["fetch", "--build-dir", "/proc/spfteach-test/build"],
     "cannot create or write a directory there"),
    ("build-dir-not-writable-sys", ["fetch", "--build-dir", "/sys/spfteach-test"],
     "cannot create or write a directory there"),
    ("build-dir-someone-elses", ["fetch", "--build-dir", "{mine}"],
     "is not empty and is not a build tree"),
    ("build-dir-space", ["fetch", "--build-dir", "{tmp}/with space"], "spaces or colons"),
    ("build-dir-colon", ["fetch", "--build-dir", "{tmp}/a:b"], "spaces or colons"),
    ("thp-without-thp-in-the-profile", ["bench", "--thp", "--kernel-dir", "{port}",
                                        "--build-dir", "{build}"],
     "--thp: the plain profile (qemu.config) does not set CONFIG_TRANSPARENT_HUGEPAGE=y: "
     "drop --thp, or add it to a fragment in"),
    ("build-dir-in-the-port", ["fetch", "--kernel-dir", "{port}", "--build-dir",
                               "{port}/patches/build"], "inside the port's patches/"),
    ("build-dir-symlink-loop", ["fetch", "--build-dir", "{tmp}/loop/build"],
     "cannot be resolved"),
    ("build-dir-name-too-long", ["fetch", "--build-dir", "{tmp}/" + "n" * 300],
     "cannot create or write a directory there"),
    ("kernel-dir-missing", ["fetch", "--kernel-dir", "{tmp}/none", "--build-dir", "{build}"],
     "{tmp}/none does not exist"),
    ("kernel-dir-is-a-file", ["fetch", "--kernel-dir", "{file}", "--build-dir", "{build}"],
     "is not a directory"),
    ("kernel-dir-without-series", ["fetch", "--kernel-dir", "{noseries}",
                                   "--build-dir", "{build}"], "has no patches/series"),
    ("series-names-a-missing-patch", ["fetch", "--kernel-dir", "{gone}",
                                      "--build-dir", "{build}"],
     "names 0001-gone.patch, which does not exist"),
    ("series-not-text", ["fetch", "--kernel-dir", "{binary}", "--build-dir", "{build}"],
     "is not text"),
    ("port-without-configs", ["build", "--kernel-dir", "{noconfigs}", "--build-dir", "{build}"],
     "the port needs at least one config fragment"),
    ("port-without-guest", ["boot", "--kernel-dir", "{noguest}", "--build-dir", "{build}"],
     "no guest programs in"),
    ("port-without-612-fragment", ["build", "--variant", "v6.12", "--kernel-dir", "{port}",
                                   "--build-dir", "{build}"],
     "the 6.12 kernels need a fragment in {port}/configs/v6.12"),
]
NUMBER_CASES = [
    ("smp-word", ["boot", *B, "--smp", "two"], "'two' is not a whole number"),
    ("smp-arabic-indic", ["boot", *B, "--smp", "\u0661"], "digits other than 0-9"),
    ("smp-fullwidth", ["test", *B, "--smp", "\uff12"], "digits other than 0-9"),
    ("smp-underscore", ["boot", *B, "--smp", "1_0"], "is not a whole number"),
    ("smp-spaces", ["boot", *B, "--smp", " 2"], "is not a whole number"),
    ("smp-empty", ["boot", *B, "--smp", ""], "'' is not a whole number"),
    ("smp-5000-digits", ["boot", *B, "--smp", "9" * 5000], "too many digits"),
    ("smp-zero", ["boot", *B, "--smp", "0"], "--smp must be at least 1"),
    ("smp-negative", ["bench", *B, "--smp", "-3"], "--smp must be at least 1"),
    ("smp-over-nr-cpus", ["test", *B, "--smp", "9"],
     "at most 8 CPU(s) (CONFIG_NR_CPUS=8 in kernel/configs/runtime-full.config"),
    ("memory-fraction", ["boot", *B, "--memory", "1.5G"], "not a memory size: write a whole"),
    ("memory-word", ["boot", *B, "--memory", "lots"], "not a memory size"),
    ("memory-unit-mb", ["boot", *B, "--memory", "512MB"], "like 512M or 1G"),
    ("memory-arabic-indic", ["boot", *B, "--memory", "\u0665\u0661\u0662M"],
     "digits other than 0-9"),
    ("memory-zero", ["boot", *B, "--memory", "0"], "--memory 0M is too small"),
    ("memory-tiny", ["bench", *B, "--memory", "16M"], "--memory 16M is too small"),
    ("memory-absurd", ["boot", *B, "--memory", "999999999999G"], "more than this machine's"),
    ("memory-too-many-digits", ["boot", *B, "--memory", "9" * 40 + "G"], "not a memory size"),
    ("timeout-nan", ["boot", *B, "--timeout", "nan"], "'nan' is not a number of seconds"),
    ("timeout-inf", ["bench", *B, "--timeout", "inf"], "'inf' is not a number of seconds"),
    ("timeout-exponent", ["boot", *B, "--timeout", "1e3"], "is not a number of seconds"),
    ("timeout-zero", ["test", *B, "--timeout", "0"], "--timeout 0: give a number of seconds"),
    ("timeout-negative", ["boot", *B, "--timeout", "-5"], "--timeout -5: give a number"),
    ("timeout-a-month", ["boot", *B, "--timeout", "2592000"], "at most 604800 (a week)"),
    ("seconds-zero", ["test", *B, "--seconds", "0"], "--seconds must be at least 1"),
    ("seconds-negative", ["test", *B, "--seconds", "-10"], "--seconds must be at least 1"),
    ("seconds-huge", ["test", *B, "--seconds", "99999999999"], "more than a day"),
    ("seed-negative", ["test", *B, "--seed", "-3"], "--seed -3: give a whole number from 0"),
    ("seed-word", ["test", *B, "--seed", "one"], "is not a whole number"),
    ("seconds-word", ["test", *B, "--seconds", "ten"], "'ten' is not a whole number"),
    ("seconds-over-timeout", ["test", *B, "--seconds", "60", "--timeout", "30"],
     "--seconds 60 does not fit in --timeout 30"),
    ("jobs-zero", ["build", *B, "-j", "0"], "-j/--jobs must be at least 1"),
    ("jobs-negative", ["check", *B, "--jobs", "-2"], "-j/--jobs must be at least 1"),
    ("jobs-absurd", ["build", *B, "-j", "100000"], "-j 100000 is more than"),
    ("jobs-word", ["boot", *B, "-j", "all"], "'all' is not a whole number"),
    ("repeat-zero", ["bench", *B, "--repeat", "0"], "--repeat must be at least 1"),
    ("repeat-absurd", ["bench", *B, "--repeat", "51"],
     "--repeat 51: at most 50 (each repetition boots every kernel once)"),
    ("kernels-unknown", ["bench", *B, "--kernels", "series,linus"],
     "--kernels 'series,linus': give a comma-separated list of series, vanilla, spf-n"),
    ("kernels-empty", ["bench", *B, "--kernels", ""], "--kernels '': give a comma-separated"),
    ("kernels-debug-vanilla", ["bench", *B, "--debug", "--kernels", "series,vanilla"],
     "only the series' kernel has a debug build"),
    ("variant-debug", ["build", *B, "--debug", "--variant", "vanilla"],
     "--variant vanilla has no debug build"),
    ("variant-unknown", ["build", *B, "--variant", "linus"], "invalid choice: 'linus'"),
    ("variant-novma-debug", ["build", *B, "--debug", "--variant", "v6.12-novma"],
     "--variant v6.12-novma has no debug build"),
    ("test-variant-without-debug-build", ["test", *B, "--variant", "vanilla"],
     "give --no-debug (test uses the debug kernel by default)"),
    ("fetch-variant-unknown", ["fetch", *B, "--variant", "v6.13"], "invalid choice: 'v6.13'"),
    ("thp-odd-mb", ["bench", *B, "--thp", "--mb", "7"],
     "--thp with --mb 7: each thread's slice must be whole 2 MiB huge pages"),
    ("threads-zero", ["bench", *B, "--threads", "0"], "--threads must be at least 1"),
    ("threads-absurd", ["bench", *B, "--threads", "5000"], "--threads 5000 is more than"),
    ("threads-beyond-memory", ["bench", *B, "--threads", "64"], "bench touches 2048 MiB"),
    ("mb-zero", ["bench", *B, "--mb", "0"], "--mb must be at least 1"),
    ("mb-beyond-memory", ["bench", *B, "--mb", "4096"], "bench touches 8192 MiB"),
    ("rounds-zero", ["bench", *B, "--rounds", "0"], "--rounds must be at least 1"),
    ("rounds-absurd", ["bench", *B, "--rounds", "50000"], "--rounds 50000 is more than"),
]
GUEST_CASES = [
    ("faultbench-own-buf-not-dividing", ["faultbench:own=1,mb=1,buf=384"],
     "faultbench with own=1: buf=384 KiB must be whole 4 KiB pages that divide mb=1 MiB"),
    ("faultbench-own-with-thp", ["faultbench:own=1,thp=1,mb=2"], "thp=1 does not go with it"),
    ("faultbench-thp-odd-mb", ["faultbench:thp=1,mb=3"],
     "faultbench with thp=1 and mb=3: each thread's slice must be whole 2 MiB huge pages"),
    ("unknown-step", ["tortue"], "guest step 'tortue' is not one /init knows"),
    ("empty-word", [""], "guest step '' is not one /init knows"),
    ("word-with-space", ["torture vmstat"], "is not one /init knows"),
    ("word-with-newline", ["torture\nvmstat"], "'torture\\nvmstat'"),
    ("spfteach-option-after-dashes", ["torture", "--smp", "4"], "go before the --"),
    ("unknown-key", ["torture:second=60"], "torture has no option 'second'"),
    ("key-without-value", ["torture:seconds"], "write seconds=N"),
    ("octal-looking", ["torture:seconds=010"], "without leading zeros"),
    ("arabic-indic-value", ["torture:seconds=\u0661\u0660"], "ASCII digits"),
    ("zero-seconds", ["torture:seconds=0"], "seconds=0 is out of range: from 1 to 86400"),
    ("overflowing-value", ["torture:seconds=99999999999999999999999"], "whole number"),
    ("too-many-ops-threads", ["torture:ops=9"], "ops=9 is out of range: from 0 to 8"),
    ("key-twice", ["torture:seconds=5,seconds=6"], "seconds is given twice"),
    ("trailing-comma", ["torture:seconds=5,"], "an empty option"),
    ("sysctl-value", ["sysctl=2"], "sysctl=0 (off) or sysctl=1 (on)"),
    ("vmstat-options", ["vmstat:all"], "'vmstat:all' is not one /init knows"),
    ("writer-value", ["faultbench:writer=2"], "writer=2 is out of range"),
    ("faultbench-beyond-memory", ["faultbench:threads=100,mb=100"], "touches 10000 MiB"),
    ("torture-beyond-timeout", ["torture:seconds=400"],
     "the torture steps run 400 s but QEMU is stopped after --timeout 300 s"),
    ("too-many-steps", ["vmstat"] * 33, "33 guest steps are too many"),
]


def _fill(text: str, where: dict[str, Path]) -> str:
    for name, path in where.items():
        text = text.replace("{" + name + "}", str(path))
    return text


def _port(root: Path, series: str | bytes | None = "", configs: bool = True,
          guest: bool = True) -> Path:
    """A small port with each piece present or not."""
    (root / "patches").mkdir(parents=True)
    if isinstance(series, bytes):
        (root / "patches" / "series").write_bytes(series)
    elif series is not None:
        (root / "patches" / "series").write_text(series)
    if configs:
        (root / "configs").mkdir()
        (root / "configs" / "qemu.config").write_text("CONFIG_SMP=y\nCONFIG_NR_CPUS=4\n")
    if guest:
        (root / "guest").mkdir()
        (root / "guest" / "init.c").write_text("int main(void) { return 0; }\n")
    return root


@pytest.fixture
def where(tmp_path: Path) -> dict[str, Path]:
    """The places the cases name, made in tmp_path."""
    (tmp_path / "a-file").write_text("not a directory\n")
    mine = tmp_path / "mine"
    (mine / "linux").mkdir(parents=True)
    (mine / "linux" / "notes.txt").write_text("my own kernel work\n")
    (mine / "logs").mkdir()  # a common name: not taken for the mark of a build tree
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    return {"build": tmp_path / "fresh-build", "file": tmp_path / "a-file", "mine": mine,
            "port": _port(tmp_path / "port"),
            "noseries": _port(tmp_path / "noseries", series=None),
            "gone": _port(tmp_path / "gone", series="0001-gone.patch\n"),
            "noconfigs": _port(tmp_path / "noconfigs", configs=False),
            "noguest": _port(tmp_path / "noguest", guest=False),
            "binary": _port(tmp_path / "binary", series=b"\xff\xfe\x00series\n"),
            "tmp": tmp_path}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The user's environment without SPFTEACH_*, an empty PATH, and no tarball."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPFTEACH_")}
    env.update(PATH=str(empty), SPFTEACH_LINUX_TARBALL=str(tmp_path / "no-such.tar.xz"))
    env.update(extra)
    return env


def refused(args: list[str], expected: str, where: dict[str, Path],
            **env: str) -> str:
    """Run `spfteach kernel ARGS`; check it refused at once, in one line; return the line."""
    argv = [str(SPFTEACH), "kernel", *(_fill(a, where) for a in args)]
    start = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                       env=_env(where["tmp"], **env))
    took = time.monotonic() - start
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("spfteach: error: "), r.stderr
    assert _fill(expected, where) in lines[0]
    assert r.stdout == ""
    assert took < FAST, f"took {took:.1f} s"
    assert not where["build"].exists(), "the fresh build dir was created: work started"
    return lines[0]


@pytest.mark.parametrize("args,expected", [c[1:] for c in STEP_CASES],
                         ids=[c[0] for c in STEP_CASES])
def test_steps_and_parsing(args: list[str], expected: str, where: dict[str, Path]) -> None:
    refused(args, expected, where)


@pytest.mark.parametrize("args,expected", [c[1:] for c in PATH_CASES],
                         ids=[c[0] for c in PATH_CASES])
def test_paths(args: list[str], expected: str, where: dict[str, Path]) -> None:
    if "/sys/" in args[-1] and not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    refused(args, expected, where)
    assert (where["mine"] / "linux" / "notes.txt").read_text() == "my own kernel work\n"
    assert not (where["file"].parent / "build").exists()


@pytest.mark.parametrize("args,expected", [c[1:] for c in NUMBER_CASES],
                         ids=[c[0] for c in NUMBER_CASES])
def test_numbers(args: list[str], expected: str, where: dict[str, Path]) -> None:
    refused(args, expected, where)


@pytest.mark.parametrize("words,expected", [c[1:] for c in GUEST_CASES],
                         ids=[c[0] for c in GUEST_CASES])
def test_guest_steps(words: list[str], expected: str, where: dict[str, Path]) -> None:
    refused(["boot", *B, "--", *words], expected, where)


def test_environment_variables(where: dict[str, Path]) -> None:
    """A blank or bad $SPFTEACH_BUILD / $SPFTEACH_KERNEL_DIR is named in the error."""
    refused(["fetch"], "$SPFTEACH_BUILD is blank", where, SPFTEACH_BUILD="   ")
    refused(["fetch"], "$SPFTEACH_BUILD {file} is a file", where,
            SPFTEACH_BUILD=str(where["file"]))
    refused(["fetch", "--build-dir", "{build}"], "$SPFTEACH_KERNEL_DIR {tmp} has no patches",
            where, SPFTEACH_KERNEL_DIR=str(where["tmp"]))
    refused(["fetch"], "$SPFTEACH_BUILD '~/b' starts with ~", where, SPFTEACH_BUILD="~/b")


def test_an_empty_variable_counts_as_unset(monkeypatch) -> None:
    """SPFTEACH_BUILD= (empty) is unset, as for most programs: the default tree is used."""
    monkeypatch.setenv("SPFTEACH_BUILD", "")
    monkeypatch.setenv("SPFTEACH_KERNEL_DIR", "")
    layout = Layout.from_options()
    assert layout.build == (REPO / "kernel" / "build").resolve()
    assert layout.kernel_dir == PORT.resolve()


# --- in-process: what a subprocess cannot arrange -----------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spfteach")
    add_subparser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["kernel", *argv])


def one_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("spfteach: error: "), err
    return err[0]


@pytest.mark.parametrize("failure", [errno.EROFS, errno.EACCES])
def test_a_read_only_build_dir(tmp_path: Path, monkeypatch, capsys, failure: int) -> None:
    """An existing directory we may not write (read-only mount, or not ours): refused before
    any work, whatever the permission bits say to root."""
    build = tmp_path / "ro"
    build.mkdir()

    def cannot(*args: object, **kwargs: object) -> None:
        raise OSError(failure, os.strerror(failure), str(build))

    monkeypatch.setattr(validate.tempfile, "TemporaryFile", cannot)
    monkeypatch.setattr(commands, "COMMANDS", {})  # any step that ran would be a KeyError
    assert run(parse(["fetch", "--build-dir", str(build), "--kernel-dir", str(PORT)])) == 2
    line = one_line(capsys)
    assert "cannot create or write a directory there" in line and os.strerror(failure) in line
    assert list(build.iterdir()) == []


def test_too_little_space_for_a_new_tree(tmp_path: Path, monkeypatch, capsys) -> None:
    class Usage:
        free = 300 * 10**6

    monkeypatch.setattr(validate.shutil, "disk_usage", lambda path: Usage())
    monkeypatch.setattr(commands, "COMMANDS", {})
    build = tmp_path / "b"
    assert run(parse(["fetch", "--build-dir", str(build), "--kernel-dir", str(PORT)])) == 2
    assert "has 0.3 GB free, and a new build tree needs about 2 GB" in one_line(capsys)


def test_kvm_asked_for_where_there_is_none(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(qemu, "KVM_DEVICE", tmp_path / "kvm")
    monkeypatch.setattr(commands, "COMMANDS", {})
    build = tmp_path / "b"
    assert run(parse(["boot", "--accel", "kvm", "--build-dir", str(build),
                      "--kernel-dir", str(PORT)])) == 2
    assert f"--accel kvm: there is no {tmp_path / 'kvm'} here" in one_line(capsys)
    assert not build.exists()


def test_icount_with_two_vcpus_is_refused_before_any_build(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    """Two vCPUs under QEMU's instruction clock hang at boot: say so before a build."""
    monkeypatch.setattr(commands, "COMMANDS", {})
    build = tmp_path / "b"
    assert run(parse(["bench", "--accel", "icount", "--smp", "2", "--build-dir", str(build),
                      "--kernel-dir", str(PORT)])) == 2
    assert "--accel icount boots one vCPU only" in one_line(capsys)
    assert not build.exists()


def test_an_unexpected_os_error_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """A disk that fills up mid-step is the system's fault, not a bug: one line, no trace."""
    def full(args: argparse.Namespace, progress: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "b" / "x"))

    monkeypatch.setitem(commands.COMMANDS, "fetch", full)
    assert run(parse(["fetch", "--build-dir", str(tmp_path / "b"),
                      "--kernel-dir", str(PORT)])) == 2
    assert os.strerror(errno.ENOSPC) in one_line(capsys)


# --- and good input still passes -----------------------------------------------------------

GOOD = [
    ["fetch"], ["build"], ["build", "--debug", "-j", "2"], ["check", "-j", "1"],
    ["boot"], ["boot", "--debug", "--", "torture:seconds=60,ops=2,seed=7"],
    ["boot", "--smp", "4", "--memory", "1g", "--timeout", "90.5", "--", "sysctl=0",
     "faultbench:writer=1", "torture:seconds=5", "vmstat"],
    ["test"], ["test", "--seconds", "60"], ["test", "--no-debug", "--json", "--timeout", "61"],
    ["bench"], ["bench", "--repeat", "5", "--no-thp", "--threads", "4", "--mb", "8",
                "--rounds", "2"],
    ["bench", "--thp", "--repeat", "10"], ["bench", "--mb", "7"],
    ["bench", "--kernels", "vanilla,series", "--no-own"], ["bench", "--debug"],
    ["build", "--variant", "vanilla"], ["build", "--variant", "spf-n", "-j", "2"],
    ["boot", "--variant", "vanilla", "--", "faultbench:own=1,mb=4,buf=64"],
]


@pytest.mark.parametrize("argv", GOOD, ids=[" ".join(a) for a in GOOD])
def test_good_input_passes_the_checks(argv: list[str], tmp_path: Path) -> None:
    """The checks refuse only what cannot work: the README's commands and the defaults pass
    (and only the build dir is created: empty, ready for the first step)."""
    build = tmp_path / "build"
    validate.check(parse([argv[0], "--build-dir", str(build), "--kernel-dir", str(PORT),
                          *argv[1:]]))
    assert build.is_dir() and list(build.iterdir()) == []


def test_an_existing_tree_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "stamps").mkdir()
    (tmp_path / "notes").write_text("whatever a previous run left\n")
    validate.check(parse(["fetch", "--build-dir", str(tmp_path), "--kernel-dir", str(PORT)]))


def test_bench_step_count_matches_its_steps() -> None:
    for repeat in (1, 3, 5):
        for spf in (True, False):
            for thp in (True, False):
                for own in (True, False):
                    for warm in (True, False):
                        assert bench.step_count(repeat, spf, thp, own, warm) == \
                            len(bench.guest_args(2, 8, 2, spf, repeat, thp, own, warm))
    # One bench boot (one repetition, everything on) fits CONFIG_INIT_ENV_ARG_LIMIT easily.
    assert bench.step_count(1, True, True, True, True) == 12 <= qemu.MAX_INIT_ARGS


def test_guest_steps_parse_with_the_programs_defaults() -> None:
    step = initargs.parse("faultbench:threads=4,writer=1")
    assert step.options == {"threads": 4, "mb": 16, "rounds": 4, "writer": 1, "thp": 0, "own": 0,
                            "buf": 256, "warmup": 0}
    assert initargs.parse("torture:").options["seconds"] == 5
    assert initargs.parse("sysctl=1") == initargs.Step("sysctl", {"value": 1})
