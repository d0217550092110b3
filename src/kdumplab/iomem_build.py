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

from kdumplab.iomem import Resource, _resource, _start, insert, parse
from kdumplab.machine import Machine
from kdumplab.memblock import Flag, Memblock
from kdumplab.outcome import BootOutcome
from kdumplab.policy import Feature, PolicyData

__all__ = ["build_iomem"]

_end = attrgetter("end")


@functools.lru_cache(maxsize=64)
def _devices(lines: tuple[str, ...]) -> tuple[Resource, ...]:
    """The machine's non-RAM entries, parsed once per distinct list (they never depend on the boot)."""
    return parse("\n".join(lines), "machine iomem_devices") if lines else ()


def build_iomem(policy: PolicyData, machine: Machine, mb: Memblock, outcome: BootOutcome) -> tuple[Resource, ...]:
    tree = _devices(tuple(machine.iomem_devices))
    for r in mb.memory:
        name = "reserved" if Flag.NOMAP in r.flags else "System RAM"
        tree = insert(tree, _resource(r.base, r.end, name, ()))
    k = machine.kernel
    if k is not None:
        code_start = k.load_address + (k.stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0)
        for res in (_resource(code_start, k.load_address + k.init_begin, "Kernel code", ()),
                    _resource(k.load_address + k.sdata, k.load_address + k.end, "Kernel data", ())):
            tree = _insert_inside(tree, res)
    for region in outcome.regions:
        if region.in_iomem:
            tree = _insert_inside(tree, _resource(region.start, region.end, region.name, ()))
    page = machine.page_size
    out = []
    reserved = mb.reserved
    for top in tree:
        if top.name == "System RAM":
            spans = []  # the reserved ranges rounded out to pages, from the first that can reach into this entry
            top_end = top.end
            for i in range(bisect_right(reserved, top.start - page, key=_end), len(reserved)):
                r = reserved[i]
                start = r.base // page * page  # align_down, align_up (written out: ~20 ranges an entry)
                if start >= top_end:
                    break
                spans.append((start, -(-r.end // page) * page))
            top = _reserve_all_with_split(top, spans)
        out.append(top)
    return tuple(out)


def _reserve_all_with_split(parent: Resource, spans: list[tuple[int, int]]) -> Resource:
    """``reserve_with_split(parent, start, end)`` for each span in turn (spans sorted by start), in one pass.

    Each call skips what the parent's children and the earlier spans' pieces already cover. Since every
    earlier span starts at or below this one, what they cover above its start is exactly
    ``[start, highest end so far)``: so the span shrinks to start there, and is then cut around the
    original children only. The shrunk starts never decrease, so a child that ends at or below one is passed
    for good, and the children (in address order) are read only up to the span's end
    (tests/test_model_reuse.py checks it against the call-by-call form).
    """
    children = parent.children
    n = len(children)
    pieces: list[Resource] = []
    covered = p_start = parent.start
    p_end = parent.end
    k = 0  # the first child that may still end above a span's start
    for start, end in spans:
        if start < covered:
            start = covered  # covered >= parent.start: max(start, parent.start, covered)
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
                pieces.append(_resource(cursor, child.start, "reserved", ()))
            cursor = child.end
        if cursor < end:
            pieces.append(_resource(cursor, end, "reserved", ()))
    if not pieces:
        return parent
    return _resource(p_start, p_end, parent.name, tuple(sorted(children + tuple(pieces), key=_start)))


def _insert_inside(tree: tuple[Resource, ...], res: Resource) -> tuple[Resource, ...]:
    """request_resource() into the top-level entry that holds ``res``; dropped silently if none does."""
    for i, top in enumerate(tree):
        if top.start <= res.start and res.end <= top.end:
            try:
                # request_resource(top, res): a child of top even when both cover the same range (the 2019
                # review's NOMAP low region is a whole top-level "reserved" entry of its own)
                return tree[:i] + (_resource(top.start, top.end, top.name, insert(top.children, res)),) + tree[i + 1:]
            except ValueError:
                return tree
    return tree
