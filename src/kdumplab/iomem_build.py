"""Building the /proc/iomem tree of a predicted boot (arch/arm64/kernel/setup.c).

``request_standard_resources`` adds one top-level entry per memblock memory region ("System RAM", or
"reserved" for NOMAP regions) with ``Kernel code`` and ``Kernel data`` inside; the crash resources are
inserted (6.1: before, at reservation time; 6.12+: at early_initcall; 5.10: inside the same loop) and end up
as children of the System RAM entry that holds them; at arch_initcall every memblock reserved range,
rounded out to pages, is added inside its System RAM entry as "reserved", split around what is there.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from operator import attrgetter

from kdumplab.iomem import Resource, _resource, insert, parse
from kdumplab.machine import Machine
from kdumplab.memblock import Flag, Memblock, Region
from kdumplab.outcome import BootOutcome
from kdumplab.policy import Feature, PolicyData

__all__ = ["build_iomem"]

_end = attrgetter("end")
_NONE = Flag.NONE


@functools.lru_cache(maxsize=64)
def _devices(lines: tuple[str, ...]) -> tuple[Resource, ...]:
    """The machine's non-RAM entries, parsed once per distinct list (they never depend on the boot)."""
    return parse("\n".join(lines), "machine iomem_devices") if lines else ()


def build_iomem(policy: PolicyData, machine: Machine, mb: Memblock, outcome: BootOutcome) -> tuple[Resource, ...]:
    tree = _devices(machine.iomem_devices)
    for r in mb.memory:
        name = "reserved" if r.flags is not _NONE and Flag.NOMAP in r.flags else "System RAM"
        tree = insert(tree, _resource(r.base, r.end, name, ()))
    # request_resource() of the kernel's and the crash kernel's entries into the top-level entry that holds
    # each: the tops' children are collected first and each top is made once, below
    kids = [top.children for top in tree]
    k = machine.kernel
    if k is not None:
        code_start = k.load_address + (k.stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0)
        _insert_inside(tree, kids, _resource(code_start, k.load_address + k.init_begin, "Kernel code", ()))
        _insert_inside(tree, kids, _resource(k.load_address + k.sdata, k.load_address + k.end, "Kernel data", ()))
    for region in outcome.regions:
        if region.in_iomem:
            _insert_inside(tree, kids, _resource(region.start, region.end, region.name, ()))
    page = machine.page_size
    out = []
    reserved = tuple(mb.reserved)
    for i, top in enumerate(tree):
        children = kids[i]
        if top.name == "System RAM":  # from the first reserved region that can reach into this entry (bisect_right's
            # answer; without its search where that is the first region, as below a boot's one RAM entry)
            reach = top.start - page
            first = 0 if not reserved or reserved[0].end > reach else bisect_right(reserved, reach, key=_end)
            children = _reserve_all_with_split(top.start, top.end, children, reserved, first, page)
        out.append(top if children is top.children else _resource(top.start, top.end, top.name, children))
    return tuple(out)


def _reserve_all_with_split(p_start: int, p_end: int, children: tuple[Resource, ...], reserved: tuple[Region, ...],
                            first: int, page: int) -> tuple[Resource, ...]:
    """The children of ``[p_start, p_end)`` (``children``: in address order, as :func:`insert` keeps them) after
    ``reserve_with_split(parent, start, end)`` for each memblock reserved region from ``reserved[first]`` on
    (sorted by base), rounded out to pages, up to the first one that starts at or above ``p_end``; in one pass
    (``children`` itself when nothing is added).

    Each call skips what the parent's children and the earlier spans' pieces already cover. Since every
    earlier span starts at or below this one, what they cover above its start is exactly
    ``[start, highest end so far)``: so the span shrinks to start there, and is then cut around the
    original children only. The shrunk starts never decrease, so a child that ends at or below one is passed
    for good, and the children (in address order) are read only up to the span's end. The pieces come out in
    address order too, so the result is the two lists merged (a child before a piece at the same address, as
    a stable sort of the children followed by the pieces has it), not sorted again
    (tests/test_model_reuse.py checks it against the call-by-call form).
    """
    n = len(children)
    out: list[Resource] = []
    shown = 0  # children[:shown] are in ``out``
    covered = p_start
    k = 0  # the first child that may still end above a span's start
    for j in range(first, len(reserved)):
        r = reserved[j]
        start = r.base // page * page  # align_down, align_up (written out: ~20 regions an entry)
        if start >= p_end:
            break
        end = -(-r.end // page) * page
        if start < covered:
            start = covered  # covered >= p_start: max(start, p_start, covered)
        if end > p_end:
            end = p_end
        if end > covered:
            covered = end
        if start >= end:
            continue  # all of it is covered already
        while k < n and children[k].end <= start:
            k += 1
        cursor = start
        for i in range(k, n):
            child = children[i]
            if child.start >= end:
                break
            if child.end <= cursor:
                continue
            if child.start > cursor:
                shown = _show_until(out, children, shown, cursor)
                out.append(_resource(cursor, child.start, "reserved", ()))
            cursor = child.end
        if cursor < end:
            shown = _show_until(out, children, shown, cursor)
            out.append(_resource(cursor, end, "reserved", ()))
    if len(out) == shown:
        return children  # no piece added
    out += children[shown:]
    return tuple(out)


def _show_until(out: list[Resource], children: tuple[Resource, ...], shown: int, at: int) -> int:
    """Append the children from ``children[shown]`` on that start at or below ``at`` to ``out``; the new count."""
    n = len(children)
    while shown < n and children[shown].start <= at:
        out.append(children[shown])
        shown += 1
    return shown


def _insert_inside(tree: tuple[Resource, ...], kids: list[tuple[Resource, ...]], res: Resource) -> None:
    """request_resource() into the top-level entry that holds ``res`` (``kids[i]``: the children of ``tree[i]``
    so far); dropped silently if none does."""
    for i, top in enumerate(tree):
        if top.start <= res.start and res.end <= top.end:
            try:
                # request_resource(top, res): a child of top even when both cover the same range (the 2019
                # review's NOMAP low region is a whole top-level "reserved" entry of its own)
                kids[i] = insert(kids[i], res)
            except ValueError:
                return  # a partial overlap: request_resource fails, nothing changes
            return
