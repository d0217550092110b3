"""Crash kernel view against test-vectors.md Part 8 (E1, E2); derivations from kernel-spec.md E.1-E.3."""

from __future__ import annotations

from kdumplab.crashview import CRASH_KERNELS, crash_view
from kdumplab.kexec import KERNEL_KEXEC, kexec_tools, load_crash_kernel
from tests.test_kexec import HIGH, INITRD, V08


def _k3():
    return load_crash_kernel(kexec_tools("2.0.25"), KERNEL_KEXEC["6.12"], V08, HIGH, INITRD)


def test_e1_612_uses_both_pairs():
    v = crash_view(CRASH_KERNELS["6.12"], _k3())
    assert v.usable == ((0xF4000000, 0xFBFFFFFF), (0x17F000000, 0x23EFFFFFF))
    assert v.iomem_lines[0] == "f4000000-fbffffff : System RAM"
    assert v.elfcorehdr_log == "OF: fdt: Reserving 1 KiB of memory at 0x23efff000 for elfcorehdr"
    assert v.swiotlb_low_mem


def test_e2_510_first_pair_only():
    v = crash_view(CRASH_KERNELS["5.10"], _k3())
    assert v.usable == ((0x17F000000, 0x23EFFFFFF),)
    assert v.elfcorehdr_log == "Reserving 1KB of memory at 0x23efff000 for elfcorehdr"
    assert not v.swiotlb_low_mem
