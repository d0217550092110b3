"""memblock: the boot-time physical memory allocator, as the crash reservation sees it.

The kernel keeps two sorted lists of physical ranges: ``memory`` (RAM the firmware described, with flags
such as NOMAP, HOTPLUG, MIRROR) and ``reserved`` (ranges already in use). An allocation searches the free
parts (memory minus reserved) inside a window ``[start, end)`` and, by default, takes the highest aligned
fit (top-down); bottom-up takes the lowest. This module is a value: every operation returns a new
``Memblock`` and never mutates, so each boot stage is a pure function of the one before.

Mirrors mm/memblock.c: ``memblock_find_in_range_node`` (search), ``memblock_reserve`` / ``memblock_free``
(list updates), ``memblock_phys_alloc_range`` (find + reserve), ``memblock_phys_mem_size``.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Final

from kdumplab.frozen import maker
from kdumplab.ranges import SZ_4K, align_up

__all__ = ["Flag", "Region", "Memblock", "Draft", "NUMA_NO_NODE", "ANYWHERE", "make_region"]

NUMA_NO_NODE: Final = -1
#: the end of a window that is the whole physical address space
ANYWHERE: Final = (1 << 64) - 1


class Flag(enum.Flag):
    """memblock region flags (include/linux/memblock.h)."""

    NONE = 0
    HOTPLUG = enum.auto()
    MIRROR = enum.auto()
    NOMAP = enum.auto()
    DRIVER_MANAGED = enum.auto()
    #: MEMBLOCK_RSRV_KERN (7.x, include/linux/memblock.h): set on what memblock's allocators reserve, not on
    #: plain memblock_reserve() calls; regions with different flags never merge
    RSRV_KERN = enum.auto()


_NONE: Final = Flag.NONE  # (a module constant: read faster than the enum's attribute on the hot path)


@dataclass(frozen=True, slots=True, order=True)
class Region:
    """One memblock region ``[base, base + size)``."""

    base: int
    size: int
    nid: int = 0
    flags: Flag = Flag.NONE
    end: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.size < 0:
            raise ValueError(f"bad memblock region base={self.base:#x} size={self.size:#x}")
        object.__setattr__(self, "end", self.base + self.size)


def _native_region(base: int, size: int, nid: int, flags: Flag, end: int) -> Region:
    """``Region(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Region.__new__(Region)
    o.base = base  # type: ignore[misc]
    o.size = size  # type: ignore[misc]
    o.nid = nid  # type: ignore[misc]
    o.flags = flags  # type: ignore[misc]
    o.end = end  # type: ignore[misc]
    return o


# Hot-path constructors (kdumplab.frozen): the allocator makes a new Region and a new Memblock on every
# reserve. Only values that __post_init__ would accept reach them.
_make_region: Final = maker(Region, ("base", "size", "nid", "flags", "end"), _native_region)


def make_region(base: int, size: int, nid: int, flags: Flag) -> Region:
    """``Region(base, size, nid, flags)`` for a base and size already known to be non-negative (a checked
    Machine's banks, the allocator's own arithmetic)."""
    return _make_region(base, size, nid, flags, base + size)


_region = make_region


_base = attrgetter("base")  # bisect keys (C-level getters: bisect calls them once per probe)
_end = attrgetter("end")


def _insert(regions: tuple[Region, ...], base: int, size: int, flags: Flag, nid: int) -> tuple[Region, ...]:
    """Add ``[base, base+size)`` to a list, keeping it sorted, non-overlapping and merged.

    The kernel merges neighbours that touch and have the same flags (memblock_merge_regions); overlapping
    parts of a new range are dropped where an existing region already covers them.
    """
    if size <= 0:
        return regions
    end = base + size
    lo = bisect_right(regions, base, key=_end)  # first region ending after base
    if lo == len(regions) or regions[lo].base >= end:
        a, b, region = _free_slot(regions, lo, base, end, flags, nid)
        return regions[:a] + (region,) + regions[b:]
    if lo > 0 and regions[lo - 1].end == base:
        lo -= 1  # a neighbour touching on the left may merge
    hi = lo
    while hi < len(regions) and regions[hi].base <= end:
        hi += 1
    window = regions[lo:hi]
    pieces: list[Region] = []
    cursor = base
    for r in window:
        if r.end <= cursor or r.base >= end:
            continue
        if r.base > cursor:
            pieces.append(Region(cursor, r.base - cursor, nid, flags))
        cursor = max(cursor, r.end)
    if cursor < end:
        pieces.append(Region(cursor, end - cursor, nid, flags))
    merged: list[Region] = []
    for r in sorted(window + tuple(pieces), key=lambda r: r.base):
        if merged and merged[-1].end == r.base and merged[-1].flags == r.flags and merged[-1].nid == r.nid:
            prev = merged.pop()
            r = Region(prev.base, prev.size + r.size, prev.nid, prev.flags)
        merged.append(r)
    return regions[:lo] + tuple(merged) + regions[hi:]


def _free_slot(regions: tuple[Region, ...] | list[Region], i: int, base: int, end: int, flags: Flag, nid: int
               ) -> tuple[int, int, Region]:
    """The common case of :func:`_insert`: ``[base, end)`` overlaps nothing, and ``regions[i]`` is the first
    region after it. It merges with a neighbour that touches it with the same flags and node: the new region
    replaces ``regions[a:b]``; returns ``(a, b, region)``."""
    a = b = i
    if i > 0:
        left = regions[i - 1]
        if left.end == base and left.flags == flags and left.nid == nid:
            a, base = i - 1, left.base
    if i < len(regions):
        right = regions[i]
        if right.base == end and right.flags == flags and right.nid == nid:
            b, end = i + 1, right.end
    return a, b, _make_region(base, end - base, nid, flags, end)


def _reserved_with(regions: tuple[Region, ...], base: int, size: int, flags: Flag) -> tuple[Region, ...]:
    """memblock_reserve's list update: the general :func:`_insert`, or its common case without the merge."""
    end = base + size
    i = bisect_right(regions, base, key=_end)  # first region ending after base
    if size > 0 and (i == len(regions) or regions[i].base >= end):  # overlaps nothing (the usual case)
        a, b, region = _free_slot(regions, i, base, end, flags, 0)
        return regions[:a] + (region,) + regions[b:]
    return _insert(regions, base, size, flags, 0)


def _remove(regions: tuple[Region, ...], base: int, size: int) -> tuple[Region, ...]:
    """Cut ``[base, base+size)`` out of a list (memblock_remove_range)."""
    end = base + size
    out: list[Region] = []
    if size > 0:  # regions[lo:hi] overlap the cut (the list is sorted and disjoint); the others stay as they are
        lo = hi = bisect_right(regions, base, key=_end)
        while hi < len(regions) and regions[hi].base < end:
            r = regions[hi]
            if r.base < base:
                out.append(_region(r.base, base - r.base, r.nid, r.flags))
            if r.end > end:
                out.append(_region(end, r.end - end, r.nid, r.flags))
            hi += 1
        return tuple(regions[:lo]) + tuple(out) + tuple(regions[hi:])
    for r in regions:
        if r.end <= base or r.base >= end:
            out.append(r)
            continue
        if r.base < base:
            out.append(Region(r.base, base - r.base, r.nid, r.flags))
        if r.end > end:
            out.append(Region(end, r.end - end, r.nid, r.flags))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Memblock:
    """The memory and reserved lists at one moment of boot."""

    memory: tuple[Region, ...]
    reserved: tuple[Region, ...] = ()
    bottom_up: bool = False
    movable_node: bool = False
    #: flags an allocation's reserved region gets (Flag.RSRV_KERN on 7.x; none before)
    alloc_flags: Flag = Flag.NONE
    #: memory allocations made so far, in order, with the name of the step (for explain and the map).
    log: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

    @classmethod
    def from_memory(cls, regions: tuple[Region, ...] | list[Region]) -> Memblock:
        """memblock_add() of each region: sorted, overlaps dropped, touching same-node regions merged."""
        if len(regions) == 1:  # one bank: nothing to sort, drop or merge
            return _memblock(tuple(regions), (), False, False, _NONE, ())
        merged: list[Region] = []
        # sorted as Region orders itself, but with the flags compared by value (Flag has no order: two banks
        # over the same range with other flags were a TypeError, found by tests/test_memblock.py)
        for r in sorted(regions, key=lambda r: (r.base, r.size, r.nid, r.flags.value)):
            if merged and r.base < merged[-1].end:  # overlap: keep what is already there
                if r.end <= merged[-1].end:
                    continue
                r = Region(merged[-1].end, r.end - merged[-1].end, r.nid, r.flags)
            if merged and merged[-1].end == r.base and merged[-1].flags == r.flags and merged[-1].nid == r.nid:
                prev = merged.pop()
                r = Region(prev.base, prev.size + r.size, prev.nid, prev.flags)
            merged.append(r)
        return cls(memory=tuple(merged))

    # -- queries ---------------------------------------------------------------------------------

    def phys_mem_size(self) -> int:
        """memblock_phys_mem_size(): every memory region, NOMAP ones included."""
        return sum(r.size for r in self.memory)

    def start_of_dram(self) -> int:
        return self.memory[0].base if self.memory else 0

    def end_of_dram(self) -> int:
        return self.memory[-1].end if self.memory else 0

    def is_region_memory(self, base: int, size: int) -> bool:
        """True if ``[base, base+size)`` lies inside one memory region (memblock_is_region_memory)."""
        return any(r.base <= base and base + size <= r.end for r in self.memory)

    def is_region_reserved(self, base: int, size: int) -> bool:
        """True if ``[base, base+size)`` overlaps any reserved range (memblock_is_region_reserved)."""
        return any(r.base < base + size and base < r.end for r in self.reserved)

    def _usable(self, m: Region, nid: int, flags: Flag) -> bool:
        if nid != NUMA_NO_NODE and m.nid != nid:
            return False
        if not m.flags and not flags:
            return True  # plain memory, plain request: nothing below can refuse it
        if self.movable_node and Flag.HOTPLUG in m.flags:
            return False
        if Flag.MIRROR in flags and Flag.MIRROR not in m.flags:
            return False
        if Flag.NOMAP in m.flags and Flag.NOMAP not in flags:
            return False
        return Flag.DRIVER_MANAGED not in m.flags

    def free_ranges(self, nid: int = NUMA_NO_NODE, flags: Flag = Flag.NONE) -> Iterator[tuple[int, int, int]]:
        """Free ``(start, end, nid)`` ranges, low to high (for_each_free_mem_range).

        Skipped like the kernel does: NOMAP memory (unless asked for), hot-pluggable memory when
        ``movable_node`` is on, non-mirrored memory when ``flags`` asks for MIRROR, driver-managed memory,
        and other nodes when ``nid`` is given (:meth:`Draft.free_ranges`).
        """
        return iter(Draft(self).free_ranges(nid, flags))

    def find_in_range(self, size: int, align: int, start: int, end: int, nid: int = NUMA_NO_NODE,
                      flags: Flag = Flag.NONE) -> int | None:
        """memblock_find_in_range_node(): the address an allocation would get, or None.

        The window is ``[start, end)``; start is raised to one page, so physical page 0 is never
        returned. Top-down takes, from the highest free range down, ``round_down(end - size, align)``
        if it still lies inside the range; bottom-up takes the lowest ``round_up(start, align)`` that fits.
        """
        if size <= 0:
            return None
        if start < SZ_4K:  # (comparisons rather than max(): this runs ~30 times per model.run)
            start = SZ_4K
        if end < start:
            end = start
        if not self.bottom_up:
            return self._find_top_down(size, align, start, end, nid, flags)
        for lo, hi, _ in self.free_ranges(nid, flags):  # bottom-up: the lowest aligned fit
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                cand = align_up(lo, align)
                if cand < hi and hi - cand >= size:
                    return cand
        return None

    def _find_top_down(self, size: int, align: int, start: int, end: int, nid: int, flags: Flag) -> int | None:
        """find_in_range's top-down search: from the highest memory region down, and in each from its highest
        free part down, found lazily (a top-down allocation usually fits in the first one; tests/test_memblock.py
        checks it against a plain search over every free part)."""
        reserved = self.reserved
        plain = flags is Flag.NONE
        for m in reversed(self.memory):
            m_base, m_end = m.base, m.end
            if m_end <= start or m_base >= end or (nid != NUMA_NO_NODE and m.nid != nid):
                continue
            if not (plain and m.flags is Flag.NONE) and not self._usable(m, nid, flags):
                continue
            lo_lim = m_base if m_base > start else start
            cursor = m_end if m_end < end else end
            i = bisect_left(reserved, cursor, key=_base) - 1  # the last reserved range starting below cursor
            while cursor > lo_lim:
                if i >= 0:
                    r = reserved[i]
                    lo = r.end
                    if lo > lo_lim:
                        if cursor - lo >= size:  # the free part [r.end, cursor) can hold it before alignment
                            cand = (cursor - size) // align * align
                            if cand >= lo:
                                return cand
                        if r.base < cursor:
                            cursor = r.base
                        i -= 1
                        continue
                if cursor >= size:  # the lowest free part [lo_lim, cursor)
                    cand = (cursor - size) // align * align
                    if cand >= lo_lim:
                        return cand
                break
        return None

    # -- updates ---------------------------------------------------------------------------------

    def reserve(self, base: int, size: int, what: str = "", flags: Flag = Flag.NONE) -> Memblock:
        """memblock_reserve()."""
        # a Memblock's reserved list is always a tuple
        return _memblock(self.memory, _reserved_with(self.reserved, base, size, flags),  # type: ignore[arg-type]
                         self.bottom_up, self.movable_node, self.alloc_flags, self.log + ((what, base, size),))

    def free(self, base: int, size: int) -> Memblock:
        """memblock_free() / memblock_phys_free(): give a reserved range back."""
        return _memblock(self.memory, _remove(self.reserved, base, size), self.bottom_up, self.movable_node,
                         self.alloc_flags, self.log)

    def mark_nomap(self, base: int, size: int) -> Memblock:
        """memblock_mark_nomap(): flag memory as never to be mapped (splits regions as needed)."""
        memory = self.memory
        for m in self.memory:
            lo, hi = max(m.base, base), min(m.end, base + size)
            if lo < hi:
                memory = _remove(memory, lo, hi - lo)
                memory = _insert(memory, lo, hi - lo, m.flags | Flag.NOMAP, m.nid)
        return replace(self, memory=memory)

    def remove(self, base: int, size: int) -> Memblock:
        """memblock_remove(): the range stops being memory at all (mem=, usable-memory-range caps)."""
        return replace(self, memory=_remove(self.memory, base, size),
                       reserved=_remove(self.reserved, base, size))

    def alloc_range(self, size: int, align: int, start: int, end: int, what: str = "",
                    nid: int = NUMA_NO_NODE, flags: Flag = Flag.NONE) -> tuple[int | None, Memblock]:
        """memblock_phys_alloc_range() / memblock_alloc_range_nid(): find, then reserve.

        A request for one node falls back to any node; a request for mirrored memory falls back to any
        memory (the kernel warns about the latter).
        """
        addr = self._find_for_alloc(size, align, start, end, nid, flags)
        if addr is None:
            return None, self
        return addr, self.reserve(addr, size, what, self.alloc_flags)

    def draft(self) -> Draft:
        """A :class:`Draft` of this memblock: for a run of updates that needs only the result of the last."""
        return Draft(self)

    def _find_for_alloc(self, size: int, align: int, start: int, end: int, nid: int, flags: Flag) -> int | None:
        """alloc_range's search: in ``nid``, then any node; for MIRROR, then any memory."""
        if self.bottom_up or size <= 0:
            addr = self.find_in_range(size, align, start, end, nid, flags)
        else:  # find_in_range's top-down search, called directly (this runs ~40 times per model.run)
            lo = start if start >= SZ_4K else SZ_4K
            addr = self._find_top_down(size, align, lo, end if end >= lo else lo, nid, flags)
        if addr is None and nid != NUMA_NO_NODE:
            addr = self.find_in_range(size, align, start, end, NUMA_NO_NODE, flags)
        if addr is None and Flag.MIRROR in flags:
            addr = self.find_in_range(size, align, start, end, nid, flags & ~Flag.MIRROR)
        return addr


def _native_memblock(memory: tuple[Region, ...], reserved: tuple[Region, ...], bottom_up: bool, movable_node: bool,
                     alloc_flags: Flag, log: tuple[tuple[str, int, int], ...]) -> Memblock:
    """``Memblock(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Memblock.__new__(Memblock)
    o.memory = memory  # type: ignore[misc]
    o.reserved = reserved  # type: ignore[misc]
    o.bottom_up = bottom_up  # type: ignore[misc]
    o.movable_node = movable_node  # type: ignore[misc]
    o.alloc_flags = alloc_flags  # type: ignore[misc]
    o.log = log  # type: ignore[misc]
    return o


#: ``Memblock(memory, reserved, bottom_up, movable_node, alloc_flags, log)`` on the hot path
_memblock: Final = maker(Memblock, ("memory", "reserved", "bottom_up", "movable_node", "alloc_flags", "log"),
                         _native_memblock)


class Draft:
    """A Memblock being changed in place, for a run of updates whose in-between states nobody keeps (the
    early steps of one boot, the late allocations): the same lists and the same rules as :class:`Memblock`'s
    methods, without a new tuple, a new Region and a new Memblock per update. :meth:`memblock` gives the value.

    The reserved list lives as plain int lists (the bases, ends, flags and nodes of its regions), over which
    the updates and a top-down allocation in plain memory (every boot but movable_node / mirror / no-map
    layouts) run with no objects made, no method calls and no key functions. Regions are made only when a
    Memblock is asked for (:meth:`memblock`, :meth:`_view`), each at most once: ``_made`` keeps the Region of
    every entry no update has touched since (the input's own, or one made for an earlier Memblock), so a run of
    merging reserves makes one Region at the end, not one per call. The rare paths (a reserve overlapping
    what is reserved, a free of size 0, searches in flagged memory or bottom-up) run Memblock's own functions
    on a Memblock of the present state. tests/test_memblock.py checks a Draft against Memblock's methods call by
    call, and its ``alloc_range`` against Memblock's request by request."""

    __slots__ = ("memory", "bottom_up", "movable_node", "alloc_flags", "log", "_bases", "_ends", "_flags",
                 "_nids", "_made", "_top_first", "_slot")
    #: (base, end, nid) of each memory region, highest first, when all of them are plain memory (else None)
    _top_first: list[tuple[int, int, int]] | None
    #: where the range the last :meth:`_find` returned goes in the reserved list (-1: not known)
    _slot: int

    def __init__(self, mb: Memblock) -> None:
        self.memory = mb.memory
        self.bottom_up = mb.bottom_up
        self.movable_node = mb.movable_node
        self.alloc_flags = mb.alloc_flags
        self.log = list(mb.log)
        self._load(mb.reserved)
        self._memory_index()
        self._slot = -1

    def _load(self, regions: tuple[Region, ...]) -> None:
        """Take ``regions`` as the reserved list."""
        self._made: list[Region | None] = list(regions)
        self._bases = [r.base for r in regions]
        self._ends = [r.end for r in regions]
        self._flags = [r.flags for r in regions]
        self._nids = [r.nid for r in regions]

    def _memory_index(self) -> None:
        top: list[tuple[int, int, int]] = []
        memory = self.memory
        for i in range(len(memory) - 1, -1, -1):
            m = memory[i]
            if m.flags is not _NONE:
                self._top_first = None
                return
            top.append((m.base, m.end, m.nid))
        self._top_first = top

    @property
    def reserved(self) -> tuple[Region, ...]:
        """The reserved list as Regions (made for the entries changed since they were last asked for)."""
        made = self._made
        for i in range(len(made)):  # (not ``None in made``: that calls each Region's __eq__)
            if made[i] is None:
                base, end = self._bases[i], self._ends[i]
                made[i] = _make_region(base, end - base, self._nids[i], self._flags[i], end)
        return tuple(made)  # type: ignore[arg-type]

    def memblock(self) -> Memblock:
        """The Memblock this draft now stands for."""
        return _memblock(self.memory, self.reserved, self.bottom_up, self.movable_node, self.alloc_flags,
                         tuple(self.log))

    def _view(self) -> Memblock:
        """A Memblock of the present state, for the Region-based searches (bottom-up, flagged memory)."""
        return _memblock(self.memory, self.reserved, self.bottom_up, self.movable_node, self.alloc_flags, ())

    # -- queries (as Memblock's) -------------------------------------------------------------------

    def start_of_dram(self) -> int:
        return self.memory[0].base if self.memory else 0

    def end_of_dram(self) -> int:
        return self.memory[-1].end if self.memory else 0

    def free_ranges(self, nid: int = NUMA_NO_NODE, flags: Flag = Flag.NONE) -> list[tuple[int, int, int]]:
        """The free ``(start, end, nid)`` ranges, low to high, of the memory regions an allocation for ``nid``
        with ``flags`` may use (:meth:`Memblock._usable`): memory less the reserved list, region by region."""
        out = []
        bases, ends = self._bases, self._ends
        n = len(bases)
        view = None
        for m in self.memory:
            if not (nid == NUMA_NO_NODE and m.flags is _NONE and flags is _NONE):
                view = view or self._view()
                if not view._usable(m, nid, flags):
                    continue
            cursor, m_end, m_nid = m.base, m.end, m.nid
            i = bisect_right(ends, cursor)  # the first reserved region ending above the region's base
            while i < n:
                base = bases[i]
                if base >= m_end:
                    break
                if base > cursor:
                    out.append((cursor, base, m_nid))
                if ends[i] > cursor:
                    cursor = ends[i]
                i += 1
            if cursor < m_end:
                out.append((cursor, m_end, m_nid))
        return out

    # -- updates (as Memblock's, in place) ---------------------------------------------------------

    def reserve(self, base: int, size: int, what: str = "", flags: Flag = Flag.NONE) -> None:
        """:meth:`Memblock.reserve`."""
        self._reserve(base, size, what, flags, -1)

    def _reserve(self, base: int, size: int, what: str, flags: Flag, i: int) -> None:
        """:meth:`reserve`, told (``i`` >= 0) that the range overlaps nothing and goes before entry ``i`` (the
        place :meth:`_find` found it), or finding that out (-1). A range that overlaps nothing reserved is
        :func:`_free_slot`'s case (it merges with a neighbour that touches it with the same flags and node),
        written over the int lists."""
        self.log.append((what, base, size))
        if size <= 0:
            return
        top = base + size
        bases, ends, fl, nids = self._bases, self._ends, self._flags, self._nids
        n = len(bases)
        if i < 0:
            i = bisect_right(ends, base)  # first region ending after base
            if i < n and bases[i] < top:  # overlaps what is reserved: the general merge
                self._load(_insert(self.reserved, base, size, flags, 0))
                return
        made = self._made
        left = i > 0 and ends[i - 1] == base and fl[i - 1] == flags and nids[i - 1] == 0
        if i < n and bases[i] == top and fl[i] == flags and nids[i] == 0:  # merges with the region above
            if left:  # and the one below: the two become one
                ends[i - 1] = ends[i]
                made[i - 1] = None
                del bases[i], ends[i], fl[i], nids[i], made[i]
            else:
                bases[i] = base
                made[i] = None
        elif left:  # merges with the region below
            ends[i - 1] = top
            made[i - 1] = None
        else:
            bases.insert(i, base)
            ends.insert(i, top)
            fl.insert(i, flags)
            nids.insert(i, 0)
            made.insert(i, None)

    def free(self, base: int, size: int) -> None:
        """:meth:`Memblock.free` (:func:`_remove`) over the int lists: the regions overlapping
        ``[base, base+size)`` go, the first leaving its piece below the cut, the last its piece above it."""
        if size <= 0:  # (an empty cut still splits a region around base: _remove's own loop)
            self._load(_remove(self.reserved, base, size))
            return
        end = base + size
        bases, ends, fl, nids = self._bases, self._ends, self._flags, self._nids
        lo = hi = bisect_right(ends, base)
        n = len(bases)
        while hi < n and bases[hi] < end:
            hi += 1
        if lo == hi:
            return
        made = self._made
        if hi == lo + 1:  # one region overlaps the cut (the usual case), changed in place
            below, above = bases[lo] < base, ends[lo] > end
            if below and above:  # the cut lies inside it: it becomes two
                bases.insert(lo + 1, end)
                ends.insert(lo + 1, ends[lo])
                fl.insert(lo + 1, fl[lo])
                nids.insert(lo + 1, nids[lo])
                made.insert(lo + 1, None)
                ends[lo] = base
            elif below:
                ends[lo] = base
            elif above:
                bases[lo] = end
            else:
                del bases[lo], ends[lo], fl[lo], nids[lo], made[lo]
                return
            made[lo] = None
            return
        kept_bases, kept_ends, kept_flags, kept_nids = [], [], [], []
        if bases[lo] < base:
            kept_bases.append(bases[lo])
            kept_ends.append(base)
            kept_flags.append(fl[lo])
            kept_nids.append(nids[lo])
        if ends[hi - 1] > end:
            kept_bases.append(end)
            kept_ends.append(ends[hi - 1])
            kept_flags.append(fl[hi - 1])
            kept_nids.append(nids[hi - 1])
        bases[lo:hi] = kept_bases
        ends[lo:hi] = kept_ends
        fl[lo:hi] = kept_flags
        nids[lo:hi] = kept_nids
        made[lo:hi] = [None] * len(kept_bases)

    def mark_nomap(self, base: int, size: int) -> None:
        """:meth:`Memblock.mark_nomap`."""
        self.memory = self._view().mark_nomap(base, size).memory
        self._memory_index()

    def alloc_range(self, size: int, align: int, start: int, end: int, what: str = "",
                    nid: int = NUMA_NO_NODE) -> int | None:
        """:meth:`Memblock.alloc_range`: the address, or None (nothing changed)."""
        addr = self._find(size, align, start, end, nid, True)
        if addr is not None:
            self._reserve(addr, size, what, self.alloc_flags, self._slot)
        return addr

    def alloc_repeated(self, count: int, size: int, align: int, what: str, nid: int = NUMA_NO_NODE,
                       any_node: bool = True) -> int | None:
        """``count`` top-down :meth:`alloc_range` calls of ``size`` bytes anywhere (``any_node``: in ``nid``,
        else in any node, as alloc_range; otherwise in ``nid`` only), when ``size`` is a multiple of ``align``:
        the address of the last allocation made, None if none fitted.

        Each such allocation takes the highest aligned fit, so they fill the highest free range that holds one
        from its top down, ``size`` after ``size``, then the next lower one: found once per free range, not once
        per allocation, and reserved as one run (one log entry per run). tests/test_memblock.py compares it with
        alloc_range call by call."""
        if size <= 0 or size % align or self.bottom_up:
            raise ValueError(f"alloc_repeated: size {size:#x}, align {align:#x}, bottom-up {self.bottom_up}")
        lowest = None
        while count > 0:
            addr = self._find(size, align, 0, ANYWHERE, nid, any_node)
            if addr is None:
                break
            # the free range holding addr ends below at the reserved region before it (entry slot - 1, where the
            # search found it) or its memory region's base; the run reserved in it goes where addr would
            slot = self._slot
            i = slot if slot >= 0 else bisect_right(self._ends, addr)
            floor = self._ends[i - 1] if i else 0
            for m in self.memory:
                if m.base <= addr < m.end:
                    if m.base > floor:
                        floor = m.base
                    if floor < SZ_4K:
                        floor = SZ_4K
                    break
            take = min(count, (addr - floor) // size + 1)
            lowest = addr - (take - 1) * size
            self._reserve(lowest, take * size, what, self.alloc_flags, slot)
            count -= take
        return lowest

    def _find(self, size: int, align: int, start: int, end: int, nid: int, any_node: bool) -> int | None:
        """The address alloc_range takes (``any_node``: in ``nid``, then in any node), or None; ``_slot``: where
        that range goes in the reserved list (it lies in the free part above entry ``_slot - 1`` and below entry
        ``_slot``, so it overlaps nothing), -1 when the search ran on Regions."""
        memory = self._top_first
        self._slot = -1
        if memory is None or self.bottom_up or size <= 0:
            view = self._view()
            if any_node:
                return view._find_for_alloc(size, align, start, end, nid, Flag.NONE)
            return view.find_in_range(size, align, start, end, nid)
        # Memblock._find_top_down over the int lists
        bases, ends = self._bases, self._ends
        n = len(bases)
        if start < SZ_4K:
            start = SZ_4K
        if memory and end > memory[0][1]:  # a window reaching above all memory ends at its top: the same search,
            end = memory[0][1]  # and (compiled) no comparisons with a bound above 2^62 (a boxed int) in the loop
        if end < start:
            end = start
        want = nid
        while True:
            for m_base, m_end, m_nid in memory:
                if m_end <= start or m_base >= end or (want != NUMA_NO_NODE and m_nid != want):
                    continue
                lo_lim = m_base if m_base > start else start
                cursor = m_end if m_end < end else end
                # the last reserved range starting below cursor (the last of all, when the search starts above
                # them: the first search of a top-down allocation, from the top of RAM)
                i = n - 1 if n == 0 or bases[n - 1] < cursor else bisect_left(bases, cursor) - 1
                while cursor > lo_lim:
                    if i >= 0:
                        lo = ends[i]
                        if lo > lo_lim:
                            if cursor - lo >= size:  # the free part [lo, cursor) can hold it
                                cand = (cursor - size) // align * align
                                if cand >= lo:
                                    self._slot = i + 1
                                    return cand
                            below = bases[i]
                            if below < cursor:
                                cursor = below
                            i -= 1
                            continue
                    if cursor - lo_lim >= size:  # the lowest free part [lo_lim, cursor)
                        cand = (cursor - size) // align * align
                        if cand >= lo_lim:
                            self._slot = i + 1
                            return cand
                    break
            if want == NUMA_NO_NODE or not any_node:
                return None
            want = NUMA_NO_NODE
