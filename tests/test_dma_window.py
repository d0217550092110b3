"""The DMA window (DT ``dma-ranges``) as each generation turns it into the end of ZONE_DMA, which is the low
crash window (CRASH_ADDR_LOW_MAX = arm64_dma_phys_limit), and the -dtb file that carries it.

Expected values are hand derivations from the kernel source, cited per row; the recorded boots
(tests/data/boots/*-dma*) check the same thing end to end.
"""

from __future__ import annotations

import pytest

from kdumplab import early, model, presets
from kdumplab.lab.qemu import BootSpec, dma_ranges_argv, dumpdtb_argv
from kdumplab.policy import for_kernel
from kdumplab.ranges import SZ_1G, SZ_4G

M = 1 << 20

# 5.10 / 6.1 arch/arm64/mm/init.c zone_sizes_init: zone_dma_bits = min3(32, fls64(of_dma_get_max_cpu_address),
# fls64(iort)), then max_zone_phys(bits) = min(DMA_BIT_MASK(bits), end of DRAM - 1) + 1: the window's highest
# address rounded up to a power of two minus one.
# 6.12 zone_sizes_init / 7.2 dma_limits_init: zone_dma_limit = the highest address itself, capped at U32_MAX
# because DRAM starts below 4 GiB; max_zone_phys(limit) = min(limit, end of DRAM - 1) + 1.
# (window size, RAM size) -> (old kernels, new kernels)
CASES = {
    (1 * SZ_1G, 8 * SZ_1G): (0x8000_0000, 0x8000_0000),  # highest 0x7fffffff: 31 bits either way
    (2 * SZ_1G, 8 * SZ_1G): (SZ_4G, 0xC000_0000),  # 0xbfffffff has 32 bits
    (1536 * M, 8 * SZ_1G): (SZ_4G, 0xA000_0000),
    (768 * M, 8 * SZ_1G): (0x8000_0000, 0x7000_0000),  # 0x6fffffff has 31 bits
    (512 * M, 2 * SZ_1G): (0x8000_0000, 0x6000_0000),
    (3 * SZ_1G, 16 * SZ_1G): (SZ_4G, SZ_4G),  # 0xffffffff: the 32-bit cap
    (2 * SZ_1G, 2 * SZ_1G): (0xC000_0000, 0xC000_0000),  # the end of DRAM caps both
}


@pytest.mark.parametrize("kernel", ["5.10", "6.1", "6.12", "7.2"])
@pytest.mark.parametrize(("window", "mem"), sorted(CASES))
def test_dma_limit_per_generation(kernel: str, window: int, mem: int):
    policy = for_kernel(kernel)
    machine = presets.qemu_virt(mem, kernel=kernel, dma_window=window)
    limit = early.dma_phys_limit(policy, early.boot_memblock(policy, machine), machine)
    old, new = CASES[(window, mem)]
    assert limit == (old if kernel in ("5.10", "6.1") else new)


def test_window_moves_the_low_crash_region():
    """The issue's example: 6.12 crashkernel=512M with a 1 GiB window sits right below the 64 MiB CMA area,
    which sits right below the window's end."""
    r = model.run(model.Scenario(presets.qemu_virt(8 * SZ_1G, kernel="6.12", dma_window=SZ_1G), "crashkernel=512M",
                                 "6.12"))
    assert r.outcome.log == ("crashkernel reserved: 0x000000005c000000 - 0x000000007c000000 (512 MB)",)


def test_dtb_from_a_file_is_sized_as_qemu_loads_it():
    """QEMU 7.2 load_device_tree: (file + 10000) * 2; seen as memblock 0x48200000..0x48208921 for 7,553 bytes."""
    assert presets.qemu_loaded_dtb_size(7553) == 0x8922
    m = presets.qemu_virt(8 * SZ_1G, kernel="6.12", dma_window=SZ_1G, dtb_file_size=7553)
    assert (m.dtb.start, m.dtb.end) == (0x4820_0000, 0x4820_8922)
    assert presets.qemu_virt(8 * SZ_1G, kernel="6.12").dtb.size == 1 << 20  # QEMU's own tree: 1 MiB


def test_window_outside_ram_is_refused():
    with pytest.raises(Exception, match="dma-window"):
        presets.qemu_virt(2 * SZ_1G, kernel="6.12", dma_window=4 * SZ_1G)


def test_lab_builds_the_tree_with_one_property():
    spec = BootSpec("6.12", "8G", "crashkernel=512M", ("4G", "4G"), dma_window="1536M")
    assert dumpdtb_argv(spec, "F")[:4] == ("qemu-system-aarch64", "-M", "virt,dumpdtb=F", "-accel")
    assert "-numa" in dumpdtb_argv(spec, "F")
    assert dma_ranges_argv(spec, "F") == ("fdtput", "-t", "x", "F", "/pcie@10000000", "dma-ranges", "02000000",
                                          "0", "40000000", "0", "40000000", "0", "60000000")
    assert dma_ranges_argv(BootSpec("6.12", "16G", dma_window="8G"), "F")[-2:] == ("2", "0")


@pytest.mark.parametrize(("field", "value", "where"), [("dma_window", "9G", "--dma-window"), ("cpu", "max", "--cpu")])
def test_bootspec_refuses(field: str, value: str, where: str):
    with pytest.raises(Exception, match=where):
        BootSpec("6.12", "8G", **{field: value})


def test_uefi_is_predicted_and_a_dma_window_under_uefi_turns_acpi_off():
    """plan --firmware uefi answers with EDK2's layout (the kernel placed by the EFI stub near the top of the
    first node, not at 0x40200000); with a DMA window QEMU runs with acpi=off so that EDK2 hands over the DT."""
    from click.testing import CliRunner

    from kdumplab.cli import main
    from kdumplab.lab.qemu import dumpdtb_argv, qemu_argv

    r = CliRunner().invoke(main, ["plan", "--kernel", "6.12", "--firmware", "uefi", "--mem", "4G",
                                  "--cmdline", "crashkernel=512M", "--json"])
    assert r.exit_code == 0, r.output
    assert "135600000-13732ffff : Kernel code" in r.output  # tests/data/boots-uefi/6.12-u-cal-4G-512M
    spec = BootSpec("6.12", "8G", firmware="uefi", dma_window="1G")
    assert spec.firmware_name == "uefi"
    argv = qemu_argv(spec, "vmlinuz", "initrd", bios="QEMU_EFI.fd", dtb="virt.dtb")
    assert argv[argv.index("-M") + 1] == "virt,acpi=off"
    assert "virt,acpi=off,dumpdtb=F" in dumpdtb_argv(spec, "F")
    plain = qemu_argv(BootSpec("6.12", "8G", firmware="uefi"), "vmlinuz", "initrd", bios="QEMU_EFI.fd")
    assert plain[plain.index("-M") + 1] == "virt"
