"""SVG text made fit to be inlined in a notebook page: sized to its cell, ids unique.

Graphviz and matplotlib both write an SVG with a fixed width and height in points
(a walk is ~1800 pt wide: wider than any JupyterLab cell) and with element ids
that repeat from one picture to the next (``graph0``, ``node1`` from graphviz;
glyph and clip-path ids from matplotlib).  Two such SVGs inlined in one page (a
widget's HTML, two outputs) then share ids, and a ``url(#clip)`` or ``href`` of
one picture resolves into the other.  Plain string work, no XML parser: both
writers emit one root ``<svg ...>`` tag and quoted ``id="..."`` attributes.
"""

from __future__ import annotations

import re
import uuid

_ROOT = re.compile(r"<svg\b[^>]*>", re.S)
_ATTR = r'\s{name}\s*=\s*"([^"]*)"'
_ID = re.compile(r'\sid="([^"]+)"')
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: what the root tag gets: shrink to the cell when wider, keep the aspect ratio
FIT_STYLE = "max-width:100%;height:auto"


def fresh_prefix(stem: str = "svg") -> str:
    """A prefix no other picture has, even one drawn by an earlier kernel whose
    output is still on the page (a counter would restart at 1 there)."""
    return f"{stem}{uuid.uuid4().hex[:8]}-"


def check_prefix(prefix: str) -> str:
    """An id must be an XML name: a letter or ``_`` first, then ``[A-Za-z0-9_.-]``."""
    if not _NAME.match(prefix):
        raise ValueError(f"id prefix {prefix!r} is no XML name start: use letters, digits, "
                         "'_', '-' or '.', beginning with a letter or '_'")
    return prefix


def _number(length: str) -> float:
    m = re.match(r"\s*([0-9.]+)", length)
    if not m:
        raise ValueError(f"SVG length {length!r} has no number")
    return float(m.group(1))


def fit_root(svg: str) -> str:
    """The root ``<svg>`` sized by CSS: ``max-width:100%;height:auto``.

    The ``width`` attribute stays (a small picture is not blown up to the cell's
    width), ``height`` goes (``height:auto`` computes it from the ``viewBox``, so
    a shrunk picture keeps its aspect ratio); a ``viewBox`` is added when the
    writer left it out, since without one nothing would scale.
    """
    m = _ROOT.search(svg)
    if m is None:
        raise ValueError("no <svg> element in the text")
    tag = m.group(0)
    width = re.search(_ATTR.format(name="width"), tag)
    height = re.search(_ATTR.format(name="height"), tag)
    new = tag
    if re.search(_ATTR.format(name="viewBox"), tag) is None:
        if width is None or height is None:
            raise ValueError("the <svg> element has neither a viewBox nor width and height")
        box = f' viewBox="0 0 {_number(width.group(1)):g} {_number(height.group(1)):g}"'
        new = new[:-1].rstrip("/") + box + (" />" if new.endswith("/>") else ">")
    if height is not None:
        new = new.replace(height.group(0), "", 1)
    style = re.search(_ATTR.format(name="style"), new)
    if style is not None:
        merged = f' style="{style.group(1).rstrip(";")};{FIT_STYLE}"'
        new = new.replace(style.group(0), merged, 1)
    else:
        new = new.replace("<svg", f'<svg style="{FIT_STYLE}"', 1)
    return svg[:m.start()] + new + svg[m.end():]


def prefix_ids(svg: str, prefix: str) -> str:
    """Every ``id`` renamed ``prefix + id``, and every reference to one with it:
    ``url(#id)``, ``href="#id"`` and ``xlink:href="#id"``.  Only ids the text
    defines are renamed, so a reference into the page (none today) is left."""
    check_prefix(prefix)
    ids = set(_ID.findall(svg))
    if not ids:
        return svg

    def rename(m: re.Match[str]) -> str:
        name = m.group(2)
        return f"{m.group(1)}{prefix}{name}{m.group(3)}" if name in ids else m.group(0)

    svg = re.sub(r'(\sid=")([^"]+)(")', rename, svg)
    svg = re.sub(r"(url\(\s*#)([^)\s]+)(\s*\))", rename, svg)
    return re.sub(r'((?:xlink:)?href="#)([^"]+)(")', rename, svg)


def strip_prolog(svg: str) -> str:
    """The text from ``<svg`` on: an XML declaration or a DOCTYPE inside an HTML
    page is at best ignored, and a comment before the root says nothing."""
    m = _ROOT.search(svg)
    if m is None:
        raise ValueError("no <svg> element in the text")
    return svg[m.start():]


def inline_svg(svg: str, prefix: str) -> str:
    """All three: what a picture needs to sit in a cell next to others."""
    return prefix_ids(fit_root(strip_prolog(svg)), prefix)
