"""/proc/iomem of an x86 boot (arch/x86/kernel/e820.c ``e820__reserve_resources``, setup.c).

x86 builds the tree from the e820 map, not from memblock: each e820 entry is a top-level resource ("System RAM"
for usable RAM, "Reserved" for the rest), PCI and ACPI devices add their windows, and setup_arch puts the kernel's
four resources (Kernel code, rodata, data, bss) inside the System RAM that holds them. The crash regions are
inserted at reservation time (insert_resource). Unlike arm64, memblock's reserved ranges never appear as
"reserved" children: the tree does not depend on early allocations at all.
"""

from __future__ import annotations

from kdumplab.iomem import Resource, insert, parse
from kdumplab.machine import Machine
from kdumplab.outcome import BootOutcome

__all__ = ["build_iomem_x86"]


def _inside(tree: tuple[Resource, ...], res: Resource) -> tuple[Resource, ...]:
    for i, top in enumerate(tree):
        if top.start <= res.start and res.end <= top.end:
            try:
                return tree[:i] + (insert((top,), res)[0],) + tree[i + 1:]
            except ValueError:
                return tree
    return tree


def build_iomem_x86(machine: Machine, outcome: BootOutcome) -> tuple[Resource, ...]:
    """The predicted /proc/iomem tree of an x86 machine after the crash reservation."""
    tree: tuple[Resource, ...] = parse("\n".join(machine.iomem_devices), "machine iomem_devices") \
        if machine.iomem_devices else ()
    for start, end in machine.ram_ranges():
        tree = insert(tree, Resource(start, end, "System RAM"))
    k = machine.kernel
    if k is not None:
        for name, lo, hi in k.section_ranges():
            tree = _inside(tree, Resource(k.load_address + lo, k.load_address + hi, name))
    for region in outcome.regions:
        if region.in_iomem:
            tree = _inside(tree, Resource(region.start, region.end, region.name))
    return tree
