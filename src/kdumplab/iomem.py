"""/proc/iomem: the resource tree, rendered exactly as the kernel prints it, and parsed back.

The kernel prints one line per resource, depth first, siblings in address order: two spaces of
indentation per level (at most 5 levels are counted), start and end as lowercase hex zero-padded to at
least 8 digits (4 if the root ended below 0x10000, never the case for iomem), joined by ``-``, then
`` : `` and the name. The end is inclusive. Readers without CAP_SYS_ADMIN see every address as zeros
(kernel/resource.c ``r_show``).

Inside kdumplab a resource is half-open ``[start, end)``; only the text has inclusive ends.
The same parser reads live, captured and sosreport copies (``tools/check``) and the lab's serial logs.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Final

from kdumplab.errors import KdumplabError
from kdumplab.frozen import maker

__all__ = ["Resource", "render", "parse", "walk", "insert", "reserve_with_split", "MAX_IORES_LEVEL"]

#: kernel/resource.c (5.10 .. 7.2): ``enum { MAX_IORES_LEVEL = 5 }``. The seq_file walk (``r_next`` ->
#: ``next_resource``) visits every depth, but ``r_show`` counts parents only up to this many levels, so a
#: deeper resource is printed with 5 levels (10 spaces) of indentation and no text ever has more.
MAX_IORES_LEVEL = 5
_WIDTH = 8


@dataclass(frozen=True, slots=True)
class Resource:
    """One /proc/iomem entry ``[start, end)`` with its children, in address order."""

    start: int
    end: int
    name: str
    children: tuple[Resource, ...] = ()

    @property
    def last(self) -> int:
        return self.end - 1

    def line(self, depth: int = 0, hide_addresses: bool = False) -> str:
        start, last = (0, 0) if hide_addresses else (self.start, self.last)
        indent = "  " * min(depth, MAX_IORES_LEVEL)
        return f"{indent}{start:0{_WIDTH}x}-{last:0{_WIDTH}x} : {self.name}"


_start = attrgetter("start")
def _native_resource(start: int, end: int, name: str, children: tuple[Resource, ...]) -> Resource:
    """``Resource(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Resource.__new__(Resource)
    o.start = start  # type: ignore[misc]
    o.end = end  # type: ignore[misc]
    o.name = name  # type: ignore[misc]
    o.children = children  # type: ignore[misc]
    return o


#: ``Resource(start, end, name, children)`` where the values are known good (kdumplab.frozen)
_resource: Final = maker(Resource, ("start", "end", "name", "children"), _native_resource)


def walk(resources: Iterable[Resource], depth: int = 0) -> Iterator[tuple[int, Resource]]:
    """Depth-first ``(depth, resource)`` pairs in the kernel's print order."""
    for r in resources:
        yield depth, r
        yield from walk(r.children, depth + 1)


def render(resources: Iterable[Resource], hide_addresses: bool = False) -> str:
    """The text of /proc/iomem for a list of top-level resources."""
    return "".join(r.line(d, hide_addresses) + "\n" for d, r in walk(resources))


def insert(siblings: tuple[Resource, ...], new: Resource) -> tuple[Resource, ...]:
    """insert_resource(): put ``new`` at the right depth; it adopts siblings that it contains.

    A resource that fits inside an existing sibling descends into it. Siblings that lie inside ``new``
    become its children. A partial overlap is refused by the kernel; here it raises ValueError because
    the model never builds one.
    """
    if not siblings or siblings[-1].start <= new.start:
        i = len(siblings)  # bisect_right's answer, without its search: entries made in address order (the model's)
    else:
        i = bisect_right(siblings, new.start, key=_start)
    if i > 0:
        s = siblings[i - 1]
        if s.start <= new.start and new.end <= s.end and not (s.start == new.start and s.end == new.end):
            return siblings[:i - 1] + (_resource(s.start, s.end, s.name, insert(s.children, new)),) + siblings[i:]
        if s.end > new.start and not (new.start <= s.start and s.end <= new.end):
            raise ValueError(f"{new.name} [{new.start:#x}, {new.end:#x}) overlaps {s.name}")
        if s.start == new.start and s.end <= new.end:
            i -= 1  # same start: new contains it, adopt below
    j = i
    while j < len(siblings) and siblings[j].start < new.end:
        if siblings[j].end > new.end:
            if siblings[j].start == new.start:
                s = siblings[j]
                return siblings[:j] + (_resource(s.start, s.end, s.name, insert(s.children, new)),) + siblings[j + 1:]
            raise ValueError(f"{new.name} [{new.start:#x}, {new.end:#x}) overlaps {siblings[j].name}")
        j += 1
    if i == j and not new.children:  # nothing to adopt (the common case)
        return siblings[:i] + (new,) + siblings[j:]
    adopted = _resource(new.start, new.end, new.name, tuple(sorted(new.children + siblings[i:j], key=_start)))
    return siblings[:i] + (adopted,) + siblings[j:]


def reserve_with_split(parent: Resource, start: int, end: int, name: str = "reserved") -> Resource:
    """reserve_region_with_split(): add ``[start, end)`` under ``parent``, cut around its children.

    Parts already covered by a child are skipped; what remains becomes one or more ``name`` entries at
    the children's level, so a ``reserved`` entry never overlaps ``Kernel code`` or ``Crash kernel``.
    """
    start, end = max(start, parent.start), min(end, parent.end)
    pieces = []
    cursor = start
    for child in parent.children:
        if child.end <= cursor or child.start >= end:
            continue
        if child.start > cursor:
            pieces.append(Resource(cursor, child.start, name))
        cursor = max(cursor, child.end)
    if cursor < end:
        pieces.append(Resource(cursor, end, name))
    if not pieces:
        return parent
    return replace(parent, children=tuple(sorted(parent.children + tuple(pieces), key=lambda r: r.start)))


_LINE = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")


def parse(text: str, where: str = "iomem") -> tuple[Resource, ...]:
    """Parse /proc/iomem text into a tree. Every malformed line is an error naming ``where:lineno``.

    Addresses that are all zeros (read without CAP_SYS_ADMIN) parse, but each entry then has
    ``start == 0`` and ``end == 1``; callers can tell with :func:`addresses_hidden`.
    """
    # stack of (depth, start, end, name, children list)
    roots: list[Resource] = []
    stack: list[tuple[int, int, int, str, list[Resource]]] = []

    def close_to(depth: int) -> None:
        while stack and stack[-1][0] >= depth:
            d, s, e, n, kids = stack.pop()
            node = Resource(s, e, n, tuple(kids))
            (stack[-1][4] if stack else roots).append(node)

    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _LINE.match(raw.rstrip("\r"))
        if not m:
            raise KdumplabError(f"{where}:{lineno}", f"not an iomem line: {raw.strip()[:60]!r}",
                                "expected 'start-end : name'")
        indent, s_hex, e_hex, name = m.groups()
        if len(indent) % 2:
            raise KdumplabError(f"{where}:{lineno}", "odd indentation")
        depth = len(indent) // 2
        if depth > MAX_IORES_LEVEL:
            raise KdumplabError(f"{where}:{lineno}", f"indented {depth} levels; the kernel prints at most "
                                f"{MAX_IORES_LEVEL}", "deeper resources are printed at the fifth level")
        start, last = int(s_hex, 16), int(e_hex, 16)
        if last < start or last >= 1 << 64:
            raise KdumplabError(f"{where}:{lineno}", f"end {e_hex} is before start {s_hex} or past 2^64")
        if depth > (stack[-1][0] + 1 if stack else 0):
            raise KdumplabError(f"{where}:{lineno}", "indented deeper than its parent allows")
        close_to(depth)
        if stack and not (stack[-1][1] <= start and last + 1 <= stack[-1][2]):
            raise KdumplabError(f"{where}:{lineno}", f"{name!r} lies outside its parent {stack[-1][3]!r}")
        stack.append((depth, start, last + 1, name, []))
    close_to(0)
    return tuple(roots)


def addresses_hidden(resources: Iterable[Resource]) -> bool:
    """True if the text was read without CAP_SYS_ADMIN (every address printed as zeros)."""
    items = [r for _, r in walk(resources)]
    return bool(items) and all(r.start == 0 and r.end == 1 for r in items)


def find(resources: Iterable[Resource], name: str) -> tuple[Resource, ...]:
    """Every resource with exactly this name, in print order."""
    return tuple(r for _, r in walk(resources) if r.name == name)
