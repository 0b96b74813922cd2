"""Is the package that grades the package that was shipped?

A notebook cell runs as the same user as the grader, so it could rewrite the
installed ``spfteach`` files (make ``explore`` find nothing, say).  The worker is
a fresh interpreter, so rebinding names in the notebook changes nothing; files on
disk are another matter.  The worker therefore hashes the source files of the
package *it imported* (:func:`package_digest`, sha256 over every ``*.py`` by
relative path) and compares the digest against a reference before it grades.

Where the reference comes from decides how robust this is:

* a digest taken by the parent when ``spfteach.grading`` is first imported
  (:data:`BASELINE`) catches a cell that edits the files *after* that import,
  but not one that edits them before it, and the parent's memory is the
  student's to rebind;
* a digest pinned by the instructor (``expect=``, printed at release with
  ``python -m spfteach.grading.integrity``) in a *hidden* grading cell, which
  nbgrader inserts only at autograde time, is out of the student's reach: that
  is the robust one, and the worker checks it when given.

Both are checked when present; any difference refuses to grade.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The installed package's directory.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

REFUSED = "not graded: the spfteach package was modified on disk (0 points)"


def package_digest(root: Path = PACKAGE_ROOT) -> str:
    """sha256 over the package's ``*.py`` files (relative path and content, sorted),
    ``__pycache__`` excluded: the same tree gives the same digest anywhere."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


#: The digest when ``spfteach.grading`` was first imported in this process.
BASELINE = package_digest()


if __name__ == "__main__":  # pragma: no cover - the instructor's release step
    print(package_digest())
