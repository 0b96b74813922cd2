"""Get the source trees: unpack Debian's linux-source-6.1 once, then apply the series.

Unpacking is the slow part (1.5 GB, ~15 s) and depends only on the tarball, so it
happens once per tarball.  Applying the series happens every time a patch changes,
and must be fast and must not make ``make`` rebuild the world.  So:

* the first time a patch touches a file, its pristine copy is kept in
  ``<build>/pristine-files/`` (a manifest lists them, and which files did not exist);
* the series is applied, patch by patch, to a *staging* copy of just those files,
  with ``patch -p1 --fuzz=0`` — a hunk that needs fuzz, or any failure, stops there
  and the real tree is left as it was;
* only files whose patched content differs from the tree's are written, so an edit
  to one patch touches one file's timestamp, and ``make`` recompiles what depends
  on it and nothing else; files no longer patched get their pristine text back.

Linux 6.12 (per-VMA locks) is unpacked the same way into a tree of its own, and never
patched.  Its no-per-VMA-lock twin (:func:`make_novma`) is a hard-linked copy of it
(seconds, no disk) in which one file, ``mm/Kconfig``, is replaced by a new file whose
``config PER_VMA_LOCK`` says ``def_bool n``: the option has no prompt, so a fragment
cannot turn it off, and editing the shared tree in place would change the other kernel.
The builds write objects only under ``O=``, so the shared files are only ever read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import debsource, tools
from .errors import KernelError
from .layout import Layout
from .patches import PatchInfo, SeriesEntry, explain_failure, offsets, parse_patch, read_series
from .runner import Progress, run_logged
from .stamps import Stamp, digest
from .upstream import LINUX_612

ABSENT = "absent"  # manifest value: the pristine tree has no such file (a patch creates it)
PATCH_CMD = ("patch", "--fuzz=0", "--no-backup-if-mismatch", "--forward", "--batch")


def unpack(layout: Layout, progress: Progress) -> bool:
    """Unpack the tarball into ``layout.src`` unless already done; True if it did work."""
    if not layout.tarball.is_file():
        raise KernelError(f"{layout.tarball} not found: install the kernel source with "
                          f"`{tools.sudo()}{tools.install_command(['linux-source-6.1'])}` "
                          "(`spfteach kernel fetch` does it when run as root)")
    # Objects built from another tree would look newer than the new sources: drop them
    # (not the 6.12 kernels': their tree is another tarball's, with stamps of its own).
    stale_stamps = [p for p in layout.stamps.glob("*.json") if not _is_612_stamp(p.name)]
    return _unpack_into(layout, layout.tarball, layout.src, "unpack", progress, "",
                        stale=(layout.saved, *[o for o in layout.build.glob("out*")
                                               if not o.name.startswith("out-v6.12")],
                               *stale_stamps))


def _is_612_stamp(name: str) -> bool:
    return "6.12" in name


def unpack_612(layout: Layout, progress: Progress) -> bool:
    """linux-source-6.12 into ``layout.src_612``, as Debian ships it; True if it did work."""
    tarball = layout.tarball_612
    if not tarball.is_file():
        raise KernelError(f"{tarball} not found: install it with `{tools.sudo()}"
                          f"{tools.install_command([LINUX_612.package])}` (`spfteach kernel "
                          "fetch --variant v6.12` does it when run as root)")
    return _unpack_into(layout, tarball, layout.src_612, "unpack-6.12", progress,
                        " (Linux 6.12, per-VMA locks; no patches)",
                        stale=(layout.novma_src, *layout.build.glob("out-v6.12*"),
                               layout.stamps / f"{NOVMA_STAMP}.json"))


#: The one edit that makes the no-per-VMA-lock tree: (file, the entry, its line before, after).
NOVMA_EDIT = ("mm/Kconfig", "config PER_VMA_LOCK", "def_bool y", "def_bool n")
NOVMA_STAMP = "novma-6.12"


def novma_description() -> str:
    """The edit in words, for the README and the bench record."""
    path, entry, old, new = NOVMA_EDIT
    return (f"{path}: '{entry}' changed from '{old}' to '{new}' in a hard-linked copy of "
            "linux-source-6.12 (linux-6.12-novma; every other file shared, read-only)")


def disable_per_vma_lock(kconfig: str) -> str:
    """``mm/Kconfig`` with ``PER_VMA_LOCK``'s ``def_bool y`` made ``def_bool n``.

    Exactly one line changes; a tree whose entry does not read as 6.12's (the option
    renamed, given a prompt, or its default moved) is an error rather than a guess.
    """
    _, entry, old, new = NOVMA_EDIT
    head = f"{entry}\n\t{old}\n"
    if kconfig.count(head) != 1:
        raise KernelError(f"mm/Kconfig of linux-source-6.12 has no single '{entry}' entry "
                          f"whose first line is '{old}': this tree is not the 6.12 the "
                          "v6.12-novma variant was made for; see kernel/README.md (6.12)")
    return kconfig.replace(head, f"{entry}\n\t{new}\n")


def make_novma(layout: Layout, progress: Progress) -> bool:
    """The v6.12-novma tree (see the module's docstring); True if it did work."""
    unpacked = Stamp(layout.stamps, "unpack-6.12").read()
    if unpacked is None:
        raise KernelError("linux-source-6.12 is not unpacked yet: run "
                          "`spfteach kernel fetch --variant v6.12`")
    key = digest([str(unpacked.get("key")), *NOVMA_EDIT])
    stamp = Stamp(layout.stamps, NOVMA_STAMP)
    dest = layout.novma_src
    if stamp.matches(key) and dest.is_dir():
        return False
    tools.require("cp", purpose="copy the 6.12 tree by hard links")
    stamp.clear()
    tmp = dest.with_name(dest.name + ".copying")
    for old in (dest, tmp, layout.out("v6.12-novma")):
        shutil.rmtree(old, ignore_errors=True)
    progress.say(f"linking {layout.src_612} into {dest} (per-VMA locks off)")
    seconds = run_logged(["cp", "-al", str(layout.src_612), str(tmp)],
                         log=layout.logs / "novma-6.12.log", label="cp -al", progress=progress)
    kconfig = tmp / NOVMA_EDIT[0]
    text = disable_per_vma_lock(kconfig.read_text())
    kconfig.unlink()  # a new file: the hard link to the 6.12 tree's mm/Kconfig is cut
    kconfig.write_text(text)
    tmp.rename(dest)
    stamp.write(key, edit=novma_description(), seconds=round(seconds, 1))
    progress.say(f"per-VMA locks off in {dest}: {novma_description()}")
    return True


def unpack_vanilla(layout: Layout, progress: Progress) -> bool:
    """A second, never patched unpack of the tarball (``layout.vanilla_src``); True if it did
    work.  Its own tree, not the patched one with the series undone: the patched tree keeps
    changing under the edit-build loop, and a baseline that moves with it measures nothing.
    """
    if not layout.tarball.is_file():
        raise KernelError(f"{layout.tarball} not found: run `spfteach kernel fetch` first")
    return _unpack_into(layout, layout.tarball, layout.vanilla_src, "unpack-vanilla", progress,
                        " (the vanilla baseline)", stale=(layout.out("vanilla"),))


def _unpack_into(layout: Layout, tarball: Path, dest: Path, name: str, progress: Progress,
                 what: str, stale: tuple[Path, ...]) -> bool:
    """Unpack ``tarball`` into ``dest`` unless its stamp ``name`` says done (then False)."""
    st = tarball.stat()
    key = digest([str(tarball), str(st.st_size), str(st.st_mtime_ns)])
    stamp = Stamp(layout.stamps, name)
    if stamp.matches(key) and dest.is_dir():
        return False
    tools.require("tar", "xz", purpose="unpack the kernel source")
    stamp.clear()
    tmp = dest.with_name(dest.name + ".unpacking")
    for old in (dest, tmp, *stale):
        if old.is_file():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)
    tmp.mkdir(parents=True)
    progress.say(f"unpacking {tarball} into {dest}{what} (1.5 GB, ~15 s)")
    seconds = run_logged(["tar", "-xf", str(tarball), "-C", str(tmp),
                          "--strip-components=1"],
                         log=layout.logs / f"{name}.log", label=name.replace("-", " "),
                         progress=progress)
    tmp.rename(dest)
    Stamp(layout.stamps, name).write(key, tarball=str(tarball), seconds=round(seconds, 1))
    progress.say(f"unpacked in {seconds:.1f} s")
    return True


@dataclass
class Applied:
    patches: list[str]
    changed: list[str]  # files whose content changed in the tree by this apply
    skipped: bool  # the stamp said the series was already applied
    offsets: list[str] = field(default_factory=list)  # hunks applied at a shifted line


def series_entries(layout: Layout) -> list[SeriesEntry]:
    if not layout.series.is_file():
        return []
    return read_series(layout.series, layout.rel(layout.series))


def apply_series(layout: Layout, progress: Progress) -> Applied:
    """Make the tree equal pristine + series, touching only files whose content changes."""
    entries = series_entries(layout)
    unpacked = Stamp(layout.stamps, "unpack").read()
    if unpacked is None:
        raise KernelError("the source is not unpacked yet: run `spfteach kernel fetch`")
    key = apply_key(layout, entries)
    stamp = Stamp(layout.stamps, "apply")
    names = [e.patch.name for e in entries]
    if stamp.matches(key):
        return Applied(names, [], True)
    if entries:
        tools.require("patch", purpose="apply kernel/patches/series")
    stamp.clear()
    (layout.logs / "apply.log").unlink(missing_ok=True)
    infos = [parse_patch(e.patch.read_text(errors="replace"), e.strip) for e in entries]
    touched = sorted({f for info in infos for f in info.files})
    manifest = _save_pristine(layout, touched)
    staging = _stage(layout, touched, manifest)
    shifted = []
    for entry, info in zip(entries, infos, strict=True):
        shifted += [f"{entry.patch.name}: {o}" for o in _apply_one(layout, staging, entry, info)]
    changed = _sync(layout, staging, manifest, set(touched))
    shutil.rmtree(staging, ignore_errors=True)
    stamp.write(key, patches=names, touched=touched, offsets=shifted)
    return Applied(names, changed, False, shifted)


def apply_key(layout: Layout, entries: list[SeriesEntry]) -> str:
    unpacked = Stamp(layout.stamps, "unpack").read() or {}
    return digest([str(unpacked.get("key")), layout.series,
                   *[f"-p{e.strip}" for e in entries], *[e.patch for e in entries]])


def _manifest_path(layout: Layout) -> Path:
    return layout.saved / "MANIFEST.json"


def _save_pristine(layout: Layout, files: list[str]) -> dict[str, str]:
    """Keep a pristine copy of each file the first time a series touches it.

    A file absent from the manifest has never been written by us, so the tree
    still holds its pristine text.
    """
    path = _manifest_path(layout)
    manifest: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    new = [f for f in files if f not in manifest]
    for rel in new:
        src = layout.src / rel
        if src.is_file():
            dst = layout.saved / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            manifest[rel] = "saved"
        else:
            manifest[rel] = ABSENT
    if new or not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _stage(layout: Layout, files: list[str], manifest: dict[str, str]) -> Path:
    """A small tree holding the pristine text of just the files the series touches."""
    staging = layout.build / "patch-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for rel in files:
        if manifest.get(rel) == "saved":
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(layout.saved / rel, dst)
    return staging


def _apply_one(layout: Layout, staging: Path, entry: SeriesEntry, info: PatchInfo) -> list[str]:
    """Apply one patch in the staging tree; return the hunks it placed at an offset."""
    cmd = [*PATCH_CMD, f"-p{entry.strip}", "-i", str(entry.patch)]
    r = subprocess.run(cmd, cwd=staging, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace")
    log = layout.logs / "apply.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    if r.returncode != 0:
        why = explain_failure(r.stdout + r.stderr, info)
        raise KernelError(f"{layout.rel(entry.patch)} does not apply to linux-source-6.1"
                          f"{debsource.apply_hint(layout)} (patch -p{entry.strip} --fuzz=0): "
                          f"{why}; the tree was left as it was")
    return offsets(r.stdout)


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _sync(layout: Layout, staging: Path, manifest: dict[str, str],
          touched: set[str]) -> list[str]:
    """Write into the tree only the files whose content changes (make goes by mtime)."""
    changed = []
    for rel in sorted(manifest):
        # A file no longer patched returns to pristine (or goes, if only a patch created it).
        want: Path | None = staging / rel if rel in touched else layout.saved / rel
        if rel not in touched and manifest[rel] == ABSENT:
            want = None
        dst = layout.src / rel
        if (_sha(want) if want else None) == _sha(dst):
            continue
        changed.append(rel)
        if want is not None and want.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".spfteach-tmp")
            shutil.copy(want, tmp)  # content and mode; a new mtime, so make sees the change
            tmp.replace(dst)
        else:
            dst.unlink(missing_ok=True)
    return changed
