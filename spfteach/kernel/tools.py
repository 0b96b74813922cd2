"""Host tools and Debian packages: find them, install them when we may, else say which.

Each step names the programs it runs (``require("make", "gcc", "flex")``) before it
starts, so a missing one is a one-line error naming the Debian package to install
rather than a build that dies ten minutes in with "flex: not found".  ``fetch``
goes further: it checks the whole package list with ``dpkg-query`` and, when run
as root, installs what is missing with ``apt-get`` (after ``apt-get update``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from .errors import KernelError

#: Everything the pipeline needs from Debian 12; the compiler too (with libc6-dev's static
#: libc for the guest programs), since a fresh machine need not have build-essential.
PACKAGES = ("linux-source-6.1", "gcc", "make", "libc6-dev", "patch", "xz-utils", "flex", "bison",
            "bc", "libelf-dev", "libssl-dev", "cpio", "qemu-system-x86", "busybox-static")

#: Program -> the Debian package that provides it.
TOOL_PACKAGES = {
    "make": "make", "gcc": "gcc", "patch": "patch", "tar": "tar", "xz": "xz-utils",
    "flex": "flex", "bison": "bison", "bc": "bc", "perl": "perl", "cpio": "cpio",
    "qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
}

#: Headers the kernel's host programs need (objtool: libelf; sign-file/extract-cert: openssl).
HEADER_PACKAGES = {"/usr/include/libelf.h": "libelf-dev",
                   "/usr/include/openssl/opensslv.h": "libssl-dev"}

KERNEL_BUILD_TOOLS = ("make", "gcc", "flex", "bison", "bc", "perl")


def install_command(packages: list[str] | tuple[str, ...]) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(packages)


def require(*tools: str, purpose: str = "") -> None:
    """Fail with one line naming every missing program and the packages that provide them."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    pkgs = sorted({TOOL_PACKAGES.get(t, t) for t in missing})
    why = f" (needed to {purpose})" if purpose else ""
    raise KernelError(f"{', '.join(missing)} not found on PATH{why}: install with "
                      f"`{sudo()}{install_command(pkgs)}`")


def require_headers() -> None:
    """The kernel's host tools include these headers; their absence fails deep in the build."""
    missing = sorted({pkg for path, pkg in HEADER_PACKAGES.items() if not os.path.exists(path)})
    if missing:
        raise KernelError(f"development headers missing ({', '.join(missing)}): install with "
                          f"`{sudo()}{install_command(missing)}`")


def sudo() -> str:
    return "" if os.geteuid() == 0 else "sudo "


def dpkg_missing(packages: tuple[str, ...] = PACKAGES) -> list[str] | None:
    """The packages not installed, or None when this is not a dpkg system."""
    if shutil.which("dpkg-query") is None:
        return None
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages],
                       capture_output=True, text=True)
    installed = {line.split()[0] for line in r.stdout.splitlines()
                 if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def ensure_packages(say: Callable[[str], None],
                    missing_fn: Callable[[], list[str] | None] | None = None,
                    runner: Callable[[list[str]], int] | None = None,
                    packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Install the missing Debian packages when root, else fail naming the exact command.

    Returns the packages it installed.  On a non-Debian host it cannot check
    packages, so it checks the programs instead and leaves the tarball check to
    the unpack step.
    """
    missing = missing_fn() if missing_fn else dpkg_missing(packages)
    if missing is None:
        require(*TOOL_PACKAGES, purpose="build and boot the kernel")
        return []
    if not missing:
        return []
    cmd = install_command(missing)
    if os.geteuid() != 0:
        raise KernelError(f"missing Debian packages: {' '.join(missing)}; install them with "
                          f"`sudo {cmd}` (or run this as root and it will)")
    if shutil.which("apt-get") is None:
        raise KernelError(f"missing packages {' '.join(missing)} and no apt-get here: "
                          "install them with your package manager")
    run = runner or _run_apt
    say("apt-get update")
    if run(["apt-get", "update", "-qq"]) != 0:
        raise KernelError("`apt-get update` failed: check the network and /etc/apt/sources.list, "
                          f"then run `{cmd}`")
    say(cmd)
    if run(cmd.split()) != 0:
        raise KernelError(f"`{cmd}` failed: run it by hand to see why")
    return missing


def _run_apt(cmd: list[str]) -> int:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL).returncode
