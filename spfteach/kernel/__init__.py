"""Drive the real kernel: fetch, build, boot and test linux-source-6.1 with the SPF series
(and linux-source-6.12, per-VMA locks, to compare with).

``spfteach kernel ...`` is wired into the main command by :func:`add_subparser`
and :func:`run`; every failure is a :class:`KernelError` with a one-line message
(``run`` prints it as ``spfteach: error: ...`` and returns 2).  The pipeline:

=========  ==========================================================  ==================
step       what                                                        module
=========  ==========================================================  ==================
packages   Debian packages, installed when root                        :mod:`.tools`
unpack     /usr/src/linux-source-6.1.tar.xz -> <build>/linux, once     :mod:`.source`
apply      kernel/patches/series, ``patch -p1 --fuzz=0``               :mod:`.source`
6.12       --variant v6.12*: linux-source-6.12 -> <build>/linux-6.12   :mod:`.source`
config     tinyconfig + kernel/configs/*.config, checked               :mod:`.config`
bzImage    ``make O=<build>/out[-debug] bzImage``                      :mod:`.build`
check      defconfig + compile-check.config, ``make mm/ ...``           :mod:`.build`
guest      static /init from kernel/guest + initramfs                  :mod:`.guest`
boot       QEMU (KVM if a probe boot works, else TCG), timeout         :mod:`.qemu`
verdict    the guest's JSON between markers + a scan for kernel splats :mod:`.verdict`
=========  ==========================================================  ==================

Steps that write the build tree hold a lock on it (:mod:`.lock`).  Before any
step, :mod:`.validate` refuses whatever bad input can be seen without work
(options, the port, the build dir, the guest steps of :mod:`.initargs`), and
the parser (:mod:`.options`) refuses malformed values, each in one line.

The guest contract (kernel/guest/init.c follows it): words after ``--`` on the
kernel command line are /init's steps; /init prints ONE JSON object on the
console between the lines ``===SPFTEACH-JSON-BEGIN===`` and
``===SPFTEACH-JSON-END===`` with ``"ok": true|false`` and a ``steps`` list whose
program steps carry their ``result`` and their ``/proc/vmstat`` deltas under
``vmstat``; then it powers off.  See README.md beside this file.
"""

from __future__ import annotations

from .commands import add_subparser, run
from .errors import KernelError

__all__ = ["KernelError", "add_subparser", "run"]
