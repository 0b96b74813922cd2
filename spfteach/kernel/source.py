"""Get the source tree: unpack Debian's linux-source-6.1 once, then apply the series.

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

ABSENT = "absent"  # manifest value: the pristine tree has no such file (a patch creates it)
PATCH_CMD = ("patch", "--fuzz=0", "--no-backup-if-mismatch", "--forward", "--batch")


def unpack(layout: Layout, progress: Progress) -> bool:
    """Unpack the tarball into ``layout.src`` unless already done; True if it did work."""
    if not layout.tarball.is_file():
        raise KernelError(f"{layout.tarball} not found: install the kernel source with "
                          f"`{tools.sudo()}{tools.install_command(['linux-source-6.1'])}` "
                          "(`spfteach kernel fetch` does it when run as root)")
    # Objects built from another tree would look newer than the new sources: drop them.
    return _unpack_into(layout, layout.src, "unpack", progress, "",
                        stale=(layout.saved, *layout.build.glob("out*"), layout.stamps))


def unpack_vanilla(layout: Layout, progress: Progress) -> bool:
    """A second, never patched unpack of the tarball (``layout.vanilla_src``); True if it did
    work.  Its own tree, not the patched one with the series undone: the patched tree keeps
    changing under the edit-build loop, and a baseline that moves with it measures nothing.
    """
    if not layout.tarball.is_file():
        raise KernelError(f"{layout.tarball} not found: run `spfteach kernel fetch` first")
    return _unpack_into(layout, layout.vanilla_src, "unpack-vanilla", progress,
                        " (the vanilla baseline)", stale=(layout.out("vanilla"),))


def _unpack_into(layout: Layout, dest: Path, name: str, progress: Progress, what: str,
                 stale: tuple[Path, ...]) -> bool:
    """Unpack the tarball into ``dest`` unless its stamp ``name`` says done (then False)."""
    st = layout.tarball.stat()
    key = digest([str(layout.tarball), str(st.st_size), str(st.st_mtime_ns)])
    stamp = Stamp(layout.stamps, name)
    if stamp.matches(key) and dest.is_dir():
        return False
    tools.require("tar", "xz", purpose="unpack the kernel source")
    stamp.clear()
    tmp = dest.with_name(dest.name + ".unpacking")
    for old in (dest, tmp, *stale):
        shutil.rmtree(old, ignore_errors=True)
    tmp.mkdir(parents=True)
    progress.say(f"unpacking {layout.tarball} into {dest}{what} (1.5 GB, ~15 s)")
    seconds = run_logged(["tar", "-xf", str(layout.tarball), "-C", str(tmp),
                          "--strip-components=1"],
                         log=layout.logs / f"{name}.log", label=name.replace("-", " "),
                         progress=progress)
    tmp.rename(dest)
    Stamp(layout.stamps, name).write(key, tarball=str(layout.tarball), seconds=round(seconds, 1))
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
