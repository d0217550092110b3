"""Building the /proc/iomem tree of a predicted boot (arch/arm64/kernel/setup.c).

``request_standard_resources`` adds one top-level entry per memblock memory region ("System RAM", or
"reserved" for NOMAP regions) with ``Kernel code`` and ``Kernel data`` inside; the crash resources are
inserted (6.1: before, at reservation time; 6.12+: at early_initcall; 5.10: inside the same loop) and end up
as children of the System RAM entry that holds them; at arch_initcall every memblock reserved range,
rounded out to pages, is added inside its System RAM entry as "reserved", split around what is there.
"""

from __future__ import annotations

from bisect import bisect_right

from kdumplab.iomem import Resource, insert, parse, reserve_with_split
from kdumplab.machine import Machine
from kdumplab.memblock import Flag, Memblock
from kdumplab.outcome import BootOutcome
from kdumplab.policy import Feature, PolicyData
from kdumplab.ranges import align_down, align_up

__all__ = ["build_iomem"]


def build_iomem(policy: PolicyData, machine: Machine, mb: Memblock, outcome: BootOutcome) -> tuple[Resource, ...]:
    tree: tuple[Resource, ...] = parse("\n".join(machine.iomem_devices), "machine iomem_devices") \
        if machine.iomem_devices else ()
    for r in mb.memory:
        name = "reserved" if Flag.NOMAP in r.flags else "System RAM"
        tree = insert(tree, Resource(r.base, r.end, name))
    k = machine.kernel
    if k is not None:
        code_start = k.load_address + (k.stext if policy.has(Feature.KERNEL_FROM_STEXT) else 0)
        for res in (Resource(code_start, k.load_address + k.init_begin, "Kernel code"),
                    Resource(k.load_address + k.sdata, k.load_address + k.end, "Kernel data")):
            tree = _insert_inside(tree, res)
    for region in outcome.regions:
        if region.in_iomem:
            tree = _insert_inside(tree, Resource(region.start, region.end, region.name))
    page = machine.page_size
    out = []
    ends = [r.end for r in mb.reserved]
    for top in tree:
        if top.name == "System RAM":
            i = bisect_right(ends, top.start - page)  # the first range that can reach into this entry
            while i < len(mb.reserved) and align_down(mb.reserved[i].base, page) < top.end:
                r = mb.reserved[i]
                top = reserve_with_split(top, align_down(r.base, page), align_up(r.end, page))
                i += 1
        out.append(top)
    return tuple(out)


def _insert_inside(tree: tuple[Resource, ...], res: Resource) -> tuple[Resource, ...]:
    """request_resource() into the top-level entry that holds ``res``; dropped silently if none does."""
    for i, top in enumerate(tree):
        if top.start <= res.start and res.end <= top.end:
            try:
                return tree[:i] + (insert((top,), res)[0],) + tree[i + 1:]
            except ValueError:
                return tree
    return tree
