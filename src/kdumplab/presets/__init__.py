"""Built-in machines: ``qemu-virt`` (exactly what ``qemu-system-aarch64 -M virt`` builds) and real machines
described in ``data/*.toml`` (each citing the public dump it came from)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from kdumplab import profiles
from kdumplab.errors import KdumplabError
from kdumplab.firmware_fdt import QemuDtb, qemu_dtb_file_size
from kdumplab.frozen import maker
from kdumplab.machine import Bank, KernelBuild, KernelImage, Machine, Reservation, load_machine
from kdumplab.policy import for_kernel
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1G, SZ_2M, SZ_128M, PhysRange, align_up, iec, iec_hex

__all__ = ["qemu_virt", "qemu_virt_high_io", "machine", "preset_names", "DEBIAN_IMAGES", "QEMU_VIRT_RAM_BASE",
           "QEMU_VIRT_DEVICES"]

QEMU_VIRT_RAM_BASE: Final = 0x4000_0000
#: QEMU's -M virt DTB is created with a 1 MiB total size (seen as a 1 MiB memblock reservation)
QEMU_VIRT_DTB_SIZE: Final = 1 << 20



def qemu_loaded_dtb_size(file_size: int) -> int:
    """The total size of a DTB that QEMU loads from a ``-dtb`` file, which is what the kernel reserves.

    QEMU 7.2 softmmu/device_tree.c ``load_device_tree``: the file's size plus 10000 bytes of room for its own
    /chosen edits, doubled, becomes the tree's total size (``fdt_open_into``); hw/arm/boot.c copies that
    many bytes into guest RAM. A 7,553-byte file is reserved as 35,106 bytes
    (tests/data/boots/6.12-dma1G-8G-512M: memblock 0x48200000..0x48208921).
    """
    return (file_size + 10000) * 2

#: The arm64 kernels the lab boots, as the boot loader sees them: (package, image) by kernel name. A view of
#: the kernel profiles (kdumplab.profiles: Debian's in debian_arm64, the lab's own builds in lab_built, and
#: any profile file given as --kernel), where each image's numbers and their sources are written.
DEBIAN_IMAGES: Mapping[str, tuple[str, KernelImage]] = ProfileTable(lambda p: (p.name, (p.package, p.image)))
#: the lab's own kernels (``kdumplab lab build``, issue 13)
LAB_IMAGES: Mapping[str, tuple[str, KernelImage]] = ProfileTable(
    lambda p: (p.name, (p.package, p.image)) if p.lab_built and not p.source else None)

#: The non-RAM lines of /proc/iomem on -M virt with -nic none below the RAM, identical on all four kernels
#: (tests/data/memblock/*-2G-512M.log.gz).
QEMU_VIRT_LOW_DEVICES = (
    "09000000-09000fff : pl011@9000000",
    "  09000000-09000fff : 9000000.pl011 pl011@9000000",
    "09010000-09010fff : pl031@9010000",
    "  09010000-09010fff : rtc-pl031",
    "09030000-09030fff : pl061@9030000",
    "  09030000-09030fff : 9030000.pl061 pl061@9030000",
    "10000000-3efeffff : pcie@10000000",
)
#: The high IO regions of -M virt in QEMU 7.2 hw/arm/virt.c (extended_memmap), in order: GICv3's second
#: redistributor region (64 MiB; not in /proc/iomem with the default GICv2), the PCIe ECAM (256 MiB) and the
#: 64-bit PCIe MMIO window (512 GiB), each aligned to its own size. They start at 256 GiB, or, when RAM ends
#: higher (-m above 255 GiB), right after the RAM rounded up to 1 GiB (virt_set_memmap). A region that does not
#: fit the CPU's physical address range is left out (highmem_compact, the 7.2 default).
QEMU_VIRT_HIGH_IO = ((64 << 20, None), (256 << 20, "PCI ECAM"), (512 << 30, "pcie@10000000"))
#: ID_AA64MMFR0_EL1.PARange of QEMU's cortex-a57 (target/arm/cpu64.c: 0x00001124): 44 bits.
QEMU_VIRT_PA_BITS: Final = 44
QEMU_VIRT_DEVICES = QEMU_VIRT_LOW_DEVICES + (
    "4010000000-401fffffff : PCI ECAM",
    "8000000000-ffffffffff : pcie@10000000",
)


def qemu_virt_high_io(mem: int, pa_bits: int = QEMU_VIRT_PA_BITS) -> tuple[tuple[int, int, str], ...]:
    """Where QEMU 7.2 puts -M virt's high IO regions for ``-m mem`` as (start, size, iomem name); checked
    against ``qemu-system-aarch64 -M virt,dumpdtb`` for 8G, 255G, 256G, 512G, 1022G, 1023G, 2T and 15T
    (tests/test_machine.py). Refuses what QEMU refuses (RAM past the CPU's physical address range)."""
    return _high_io_from(_high_io_base(mem, pa_bits), pa_bits)


def _high_io_base(mem: int, pa_bits: int) -> int:
    """Where the high IO regions are placed from for ``-m mem``: 256 GiB, or the RAM's end rounded up to 1 GiB
    when that is higher (QEMU 7.2 virt_set_memmap); refuses RAM past the CPU's physical address range."""
    memtop = align_up(QEMU_VIRT_RAM_BASE + mem, SZ_1G)
    if memtop > 1 << pa_bits:
        raise KdumplabError("--mem", f"{iec_hex(mem)}: QEMU refuses it (addressing limited to {pa_bits} bits, "
                            f"memory exceeds it by {iec(memtop - (1 << pa_bits))})",
                            f"at most {((1 << pa_bits) - SZ_1G) >> 30}G on -M virt with this CPU")
    return max(memtop, 256 * SZ_1G)


@functools.lru_cache(maxsize=256)
def _high_io_from(base: int, pa_bits: int) -> tuple[tuple[int, int, str], ...]:
    """The high IO regions placed from ``base`` up (the same for every RAM size below 255 GiB)."""
    out = []
    for size, name in QEMU_VIRT_HIGH_IO:
        start = align_up(base, size)
        if start + size > 1 << pa_bits:
            continue
        base = start + size
        if name:
            out.append((start, size, name))
    return tuple(out)


#: The size of each Image file (what fw_cfg hands EDK2 and EDK2 copies twice), a view of the profiles
#: (``KernelProfile.image_file_size``, from the lab cache; the lab's own builds never booted under EDK2: predicted)
DEBIAN_IMAGE_FILE_SIZES = ProfileTable(lambda p: (p.name, p.image_file_size) if p.image_file_size else None)

#: /proc/iomem's device lines below RAM under EDK2 and QEMU's ACPI tables (devices named by their ACPI
#: ids), the same on all four kernels (tests/data/boots-uefi); the PCIe window is named by its ACPI bus.
QEMU_VIRT_ACPI_LOW_DEVICES = tuple(
    ["09000000-09000fff : ARMH0011:00", "  09000000-09000fff : ARMH0011:00 ARMH0011:00",
     "09020000-09020017 : QEMU0002:00"]
    + [f"{0xa000000 + 0x200 * i:08x}-{0xa000000 + 0x200 * i + 0x1ff:08x} : LNRO0005:{i:02x}" for i in range(32)]
    + ["10000000-3efeffff : PCI Bus 0000:00"])


def qemu_virt(mem: int = 8 * SZ_1G, numa: tuple[int, ...] | None = None, initrd_size: int = 0xf2000,
              kernel: str = "6.1", dma_window: int | None = None, dtb_file_size: int | None = None,
              firmware: str = "dt", cmdline: str = "", rng: bool = False, kernel_at: int | None = None,
              cpus: int = 1) -> Machine:
    """The guest ``qemu-system-aarch64 -M virt -m MEM [-numa ...] -kernel Image -initrd FILE`` builds.

    RAM is one block from 1 GiB (one bank per NUMA node, in order). QEMU 7.2 (hw/arm/boot.c) loads the
    Image at RAM base + 2 MiB + text_offset, the initrd at RAM base + min(RAM / 2, 128 MiB), and the DTB
    right after the initrd, aligned up to 2 MiB.

    ``dma_window``: QEMU's own DT with an identity ``dma-ranges`` of that size on the PCIe host bridge,
    passed with ``-dtb`` (a file of ``dtb_file_size`` bytes): devices reach only the first ``dma_window``
    bytes of RAM, which is what the kernel's ``of_dma_get_max_cpu_address`` returns (inclusive).

    ``rng`` (``-device virtio-rng-pci``) and ``kernel_at`` matter under EDK2 only: the firmware then offers
    EFI_RNG_PROTOCOL and the stub draws the kernel's place (``kernel_at``: the place it drew).

    ``cpus``: QEMU's -smp (the lab records with 1); QEMU's tree gets a cpu node and a cpu-map core per CPU.
    """
    if mem < SZ_128M or mem % SZ_2M:
        raise KdumplabError("--mem", f"{iec_hex(mem)}: QEMU virt needs at least 128 MiB in 2 MiB steps")
    high_base = _high_io_base(mem, QEMU_VIRT_PA_BITS)
    high_io = _high_io_from(high_base, QEMU_VIRT_PA_BITS)
    sizes = tuple(numa) if numa else (mem,)
    if sum(sizes) != mem:
        raise KdumplabError("--numa", f"node sizes add up to {iec_hex(sum(sizes))}, not the memory size "
                            f"{iec_hex(mem)}")
    banks, start = [], QEMU_VIRT_RAM_BASE
    for nid, size in enumerate(sizes):
        bank = _bank(start, size, nid)
        bank.__post_init__()  # Bank's own checks (a --numa node of size 0), as Bank(...) runs them
        banks.append(bank)
        start += size
    virt = _virt_kernel(kernel)
    image, prof = virt.image, virt.profile
    initrd_start = QEMU_VIRT_RAM_BASE + min(mem // 2, SZ_128M)
    initrd_start = max(initrd_start, image.load_address + image.image_size)
    dtb_start = align_up(initrd_start + initrd_size, SZ_2M)
    if dma_window is not None and not 0 < dma_window <= mem:
        raise KdumplabError("--dma-window", f"{dma_window:#x} bytes is not within the {mem:#x} bytes of RAM")
    qemu_dtb = None
    if dma_window is not None:  # QEMU's own tree for these nodes plus dma-ranges (lab/qemu.py make_dtb)
        nodes = tuple((b.start, b.size) for b in banks)
        if dtb_file_size is None:
            dtb_file_size = qemu_dtb_file_size(nodes, len(sizes) > 1, cpus)
        qemu_dtb = QemuDtb(dtb_file_size, nodes, len(sizes) > 1)
    dtb_size = QEMU_VIRT_DTB_SIZE if dtb_file_size is None else qemu_loaded_dtb_size(dtb_file_size)
    gib = mem / SZ_1G
    if firmware == "uefi":
        return dataclasses.replace(_qemu_virt_uefi(mem, sizes, tuple(banks), kernel, initrd_size, high_io, cmdline,
                                                   dma_window, dtb_file_size, rng, kernel_at), qemu_dtb=qemu_dtb,
                                   cpus=cpus)
    if rng or kernel_at is not None:
        raise KdumplabError("--rng" if rng else "--kernel-at", "an arm64 direct boot puts the kernel where QEMU "
                            "loads it; the EFI stub's random place needs --firmware uefi")
    machine = _make_machine(
        name=f"qemu-virt {gib:g}G" + (f" numa {'+'.join(f'{s / SZ_1G:g}G' for s in sizes)}" if numa else ""),
        banks=tuple(banks), arch="arm64", reserved=(), kernel=image,
        initrd=_span(initrd_start, initrd_size) if initrd_size else None, dtb=_span(dtb_start, dtb_size),
        page_size=virt.page_size,
        dma_address_limit=None if dma_window is None else QEMU_VIRT_RAM_BASE + dma_window - 1,
        dt_extra_properties=0 if dma_window is None else 1,  # the one `fdtput ... dma-ranges`
        dt_extra_nodes=0, qemu_dtb=qemu_dtb, cpus=cpus,
        iomem_devices=prof.virt_devices if prof.virt_devices is not None else _virt_devices(high_base),
        build=virt.build, firmware="dt", acpi=False, efi_rng=False,
        source=virt.source if dma_window is None else
        f"{virt.source}; dma-ranges {dma_window:#x} (-dtb of {dtb_file_size} bytes)",
        notes=(),
    )
    machine.__post_init__()  # Machine's own checks, as Machine(...) runs them
    return machine


#: DEBIAN_IMAGES with each image's profile: (package, image, profile) by kernel name
_VIRT_KERNELS: Mapping[str, tuple[str, KernelImage, profiles.KernelProfile]] = ProfileTable(
    lambda p: (p.name, (p.package, p.image, p)))


@dataclass(frozen=True, slots=True)
class _VirtKernel:
    """What a qemu-virt machine takes from its kernel, whatever its RAM: the Debian image and profile, the
    kernel's page size (its policy's), its build facts and the machine's ``source`` text (naming the package)."""

    image: KernelImage
    profile: profiles.KernelProfile
    page_size: int
    build: KernelBuild
    source: str


#: _virt_kernel's answers by (kernel, profile-table stamp): a sweep asks for one kernel at every RAM size
_VIRT_KERNEL: Final[dict[tuple[str, int], _VirtKernel]] = {}


def _virt_kernel(kernel: str) -> _VirtKernel:
    """The facts of ``kernel``'s Debian image for qemu-virt (``_VIRT_KERNELS`` and ``for_kernel``), remembered
    per profile-table stamp (it moves whenever a profile is registered, as the tables' own views do)."""
    key = (kernel, profiles._STAMP[0])
    virt = _VIRT_KERNEL.get(key)
    if virt is None:
        found = _VIRT_KERNELS.get(kernel)
        if found is None:
            raise KdumplabError("--kernel", f"no Debian image known for {kernel!r}", ", ".join(DEBIAN_IMAGES))
        package, image, prof = found
        page_size = for_kernel(kernel).page_size
        if len(_VIRT_KERNEL) >= 256:
            _VIRT_KERNEL.clear()
        virt = _VIRT_KERNEL[(kernel, profiles._STAMP[0])] = _VirtKernel(
            image, prof, page_size, prof.build or _NO_BUILD,
            f"qemu-system-aarch64 7.2 -M virt; kernel {package}")
    return virt


@functools.lru_cache(maxsize=256)
def _span(start: int, size: int) -> PhysRange:
    """``PhysRange(start, start + size)``, one object per place (the initrd and DTB sit still above 256 MiB)."""
    return PhysRange(start, start + size)


@functools.lru_cache(maxsize=64)
def _virt_devices(high_base: int) -> tuple[str, ...]:
    """/proc/iomem's device lines of -M virt with the high IO regions placed from ``high_base``
    (:func:`_high_io_base`; they move only above 255 GiB of RAM)."""
    return QEMU_VIRT_LOW_DEVICES + tuple(f"{s:x}-{s + n - 1:x} : {name}"
                                         for s, n, name in _high_io_from(high_base, QEMU_VIRT_PA_BITS))


def _native_bank(start: int, size: int, node: int = 0, nomap: bool = False, hotplug: bool = False,
                 mirror: bool = False) -> Bank:
    """``Bank(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Bank.__new__(Bank)
    o.start = start  # type: ignore[misc]
    o.size = size  # type: ignore[misc]
    o.node = node  # type: ignore[misc]
    o.nomap = nomap  # type: ignore[misc]
    o.hotplug = hotplug  # type: ignore[misc]
    o.mirror = mirror  # type: ignore[misc]
    return o


#: ``Bank(...)`` without its checks, which ``qemu_virt`` then runs itself (kdumplab.frozen)
_bank: Final = maker(Bank, tuple(f.name for f in dataclasses.fields(Bank)), _native_bank)


def _native_machine(name: str, banks: tuple[Bank, ...], arch: str, reserved: tuple[Reservation, ...],
                    kernel: KernelImage | None, initrd: PhysRange | None, dtb: PhysRange | None,
                    dma_address_limit: int | None, page_size: int, dt_extra_properties: int, dt_extra_nodes: int,
                    qemu_dtb: QemuDtb | None, cpus: int, build: KernelBuild, iomem_devices: tuple[str, ...],
                    firmware: str, acpi: bool, efi_rng: bool, source: str, notes: tuple[str, ...]) -> Machine:
    """``Machine(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Machine.__new__(Machine)
    o.name = name  # type: ignore[misc]
    o.banks = banks  # type: ignore[misc]
    o.arch = arch  # type: ignore[misc]
    o.reserved = reserved  # type: ignore[misc]
    o.kernel = kernel  # type: ignore[misc]
    o.initrd = initrd  # type: ignore[misc]
    o.dtb = dtb  # type: ignore[misc]
    o.dma_address_limit = dma_address_limit  # type: ignore[misc]
    o.page_size = page_size  # type: ignore[misc]
    o.dt_extra_properties = dt_extra_properties  # type: ignore[misc]
    o.dt_extra_nodes = dt_extra_nodes  # type: ignore[misc]
    o.qemu_dtb = qemu_dtb  # type: ignore[misc]
    o.cpus = cpus  # type: ignore[misc]
    o.build = build  # type: ignore[misc]
    o.iomem_devices = iomem_devices  # type: ignore[misc]
    o.firmware = firmware  # type: ignore[misc]
    o.acpi = acpi  # type: ignore[misc]
    o.efi_rng = efi_rng  # type: ignore[misc]
    o.source = source  # type: ignore[misc]
    o.notes = notes  # type: ignore[misc]
    return o


#: ``Machine(...)`` with every field given, by keyword (kdumplab.frozen; a sweep makes one per point): it
#: refuses to be built if Machine gains a field this module does not fill
_make_machine: Final = maker(Machine, tuple(f.name for f in dataclasses.fields(Machine)), _native_machine)
_NO_BUILD: Final = KernelBuild()


def _qemu_virt_uefi(mem: int, sizes: tuple[int, ...], banks: tuple[Bank, ...], kernel: str, initrd_size: int,
                    high_io: tuple[tuple[int, int, str], ...], cmdline: str, dma_window: int | None,
                    dtb_file_size: int | None, rng: bool = False, kernel_at: int | None = None) -> Machine:
    """-M virt under EDK2: the memory map and placements come from kdumplab.efi. With QEMU's ACPI tables the
    devices carry ACPI names; with a DMA window (-M virt,acpi=off and QEMU's tree with dma-ranges) EDK2 hands
    the tree to the kernel, which then names devices by their DT nodes and sizes ZONE_DMA from the window."""

    from kdumplab import efi  # noqa: PLC0415
    from kdumplab.machine import Reservation  # noqa: PLC0415

    if kernel not in DEBIAN_IMAGE_FILE_SIZES:
        raise KdumplabError("--firmware uefi", f"the lab does not boot {kernel!r} under EDK2",
                            ", ".join(DEBIAN_IMAGE_FILE_SIZES))
    package, image = DEBIAN_IMAGES[kernel]
    prof = profiles.get(kernel)
    assert prof is not None
    build = efi.EDK2_2022_11 if dma_window is None else efi.EDK2_2022_11_DT
    rng = rng or kernel_at is not None  # only a stub with an RNG puts the kernel anywhere but its own choice
    if rng and dma_window is not None:
        raise KdumplabError("--rng", "not recorded with --dma-window (-M virt,acpi=off): the device's lines and "
                            "the firmware's allocations there are unknown")
    fw = efi.edk2_boot(build, (banks[0].start, banks[0].start + banks[0].size),
                       tuple((b.start, b.start + b.size) for b in banks[1:]), DEBIAN_IMAGE_FILE_SIZES[kernel],
                       image.image_size, initrd_size, kernel, cmdline, dtb_file_size or 0, rng, kernel_at)
    # The kernel refuses ACPI's NUMA layout here: QEMU's SRAT gives no node to the flash bank the EFI map calls
    # memory (5.10/6.1 drivers/base/arch_numa.c numa_register_nodes: "invalid memblk node"; 6.12+
    # mm/numa_memblks.c numa_meminfo_cover_memory: "NUMA: no nodes coverage for 64MB"), and fakes one node.
    banks = tuple(dataclasses.replace(b, node=0) for b in banks)
    flash = Bank(efi.FLASH_RANGE[0], efi.FLASH_RANGE[1] - efi.FLASH_RANGE[0], node=0, nomap=True)
    reserved = [Reservation("EFI runtime", lo, hi - lo, nomap=True) for lo, hi in fw.nomap]
    reserved += [Reservation("ACPI reclaim", lo, hi - lo) for lo, hi in fw.acpi_reclaim]
    reserved.append(Reservation("EFI memreserve", fw.memreserve[0], fw.memreserve[1] - fw.memreserve[0]))
    if fw.memmap is not None:
        reserved.append(Reservation("EFI memory map", fw.memmap[0], fw.memmap[1] - fw.memmap[0]))
    if fw.memattr is not None:
        reserved.append(Reservation("EFI memattr", fw.memattr[0], fw.memattr[1] - fw.memattr[0]))
    return Machine(
        name=f"qemu-virt {mem / SZ_1G:g}G uefi" + (f" numa {'+'.join(f'{s / SZ_1G:g}G' for s in sizes)}"
                                                  if len(sizes) > 1 else ""),
        banks=(flash,) + banks, reserved=tuple(reserved),
        kernel=dataclasses.replace(image, load_address=fw.kernel_text,
                                   placement=tuple(f"{lo:x}-{hi:x}" for lo, hi in fw.random_from)),
        efi_rng=rng,
        initrd=None if fw.initrd is None else PhysRange(*fw.initrd),
        dtb=PhysRange(*fw.fdt), page_size=for_kernel(kernel).page_size, firmware="uefi", acpi=dma_window is None,
        dma_address_limit=None if dma_window is None else QEMU_VIRT_RAM_BASE + dma_window - 1,
        # acpi=off: the kernel unflattens QEMU's tree with its dma-ranges as EDK2 and the stub amended it
        dt_extra_properties=0 if dma_window is None else 1 + efi.handed_dt_extra_properties(
            build, bool(cmdline), bool(initrd_size), prof.kexec is not None and prof.kexec.efi_stub_initrd_in_dt),
        dt_extra_nodes=0 if dma_window is None else len(sizes) - 1,  # NUMA faked, the nodes still in the tree
        iomem_devices=_with_virtio_rng(_uefi_devices(dma_window is not None, high_io), kernel) if rng else
        _uefi_devices(dma_window is not None, high_io),
        build=prof.build or KernelBuild(),
        source=f"qemu-system-aarch64 7.2 -M virt{',acpi=off' if dma_window is not None else ''} -bios QEMU_EFI.fd "
               f"({build.package} {build.version}, sha256 {build.sha256[:16]}); kernel {package}"
               + (f"; dma-ranges {dma_window:#x} (-dtb of {dtb_file_size} bytes)" if dma_window is not None else ""),
    )


def _uefi_devices(dt: bool, high_io: tuple[tuple[int, int, str], ...]) -> tuple[str, ...]:
    """The device lines under EDK2: ACPI ids with QEMU's ACPI tables; with acpi=off the DT's node names, less
    the PL031 RTC, which the EFI runtime services own (no rtc-pl031 claim; tests/data/boots-uefi/*-dma*)."""
    if dt:
        return tuple(x for x in QEMU_VIRT_LOW_DEVICES if "pl031" not in x) + tuple(
            f"{s:x}-{s + n - 1:x} : {name}" for s, n, name in high_io)
    return QEMU_VIRT_ACPI_LOW_DEVICES + tuple(
        f"{s:x}-{s + n - 1:x} : {'PCI Bus 0000:00' if name.startswith('pcie') else name}" for s, n, name in high_io)


#: Debian arm64 builds with CONFIG_VIRTIO_PCI=y (``KernelProfile.virtio_pci_builtin``; config-* in the image
#: packages: 6.12 and its 16K build; 5.10 and 6.1 have =m; 7.2's package ships no config: its --rng boot shows the
#: claim): only there does the lab's module-less initramfs show the virtio-rng device's BAR claimed by
#: ``virtio-pci-modern``
VIRTIO_PCI_BUILTIN = ProfileTable(lambda p: (p.name, True) if p.virtio_pci_builtin else None)


def _with_virtio_rng(devices: tuple[str, ...], kernel: str) -> tuple[str, ...]:
    """/proc/iomem's device lines with QEMU's ``-device virtio-rng-pci`` (00:01.0) under EDK2 with ACPI: a 4 KiB
    BAR at the start of the low PCI window and the 16 KiB modern-virtio BAR at the start of the high one
    (tests/data/boots-uefi/*-rng-*), each right under its window's line."""
    out: list[str] = []
    for line in devices:
        out.append(line)
        if line.endswith(": PCI Bus 0000:00"):
            start = int(line.split("-")[0], 16)
            end = start + (0xFFF if start < 1 << 32 else 0x3FFF)
            out.append(f"  {start:x}-{end:x} : 0000:00:01.0")
            if start >= 1 << 32 and kernel in VIRTIO_PCI_BUILTIN:
                out.append(f"    {start:x}-{end:x} : virtio-pci-modern")
    return tuple(out)


def qemu_virt_pinned(machine: Machine, kernel: str, cmdline: str, at: int) -> Machine | None:
    """A qemu-virt machine under EDK2 with an EFI RNG rebuilt with the stub's draw at ``at`` (the same -m,
    NUMA shape and initrd); None for any other machine."""
    try:
        gen = for_kernel(kernel).name
    except KdumplabError:
        return None
    if not (machine.firmware == "uefi" and machine.efi_rng and machine.source.startswith("qemu-system-aarch64")
            and "-bios QEMU_EFI.fd" in machine.source and gen in DEBIAN_IMAGE_FILE_SIZES):
        return None
    ram = tuple(b.size for b in machine.banks if not b.nomap)
    return qemu_virt(sum(ram), ram if len(ram) > 1 else None, machine.initrd.size if machine.initrd else 0, gen,
                     firmware="uefi", cmdline=cmdline, rng=True, kernel_at=at)


def preset_names() -> tuple[str, ...]:
    names = ["qemu-virt", "qemu-q35"]
    for entry in sorted(resources.files(__package__).joinpath("data").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            names.append(entry.name.removesuffix(".toml"))
    return tuple(names)


def machine(name: str, **params: object) -> Machine:
    """A preset by name; ``qemu-virt`` and ``qemu-q35`` take qemu_virt()'s / qemu_q35()'s keyword arguments."""
    if name == "qemu-virt":
        return qemu_virt(**params)  # type: ignore[arg-type]
    if name == "qemu-q35":
        from kdumplab.presets.q35 import qemu_q35  # noqa: PLC0415

        return qemu_q35(**params)  # type: ignore[arg-type]
    path = resources.files(__package__).joinpath("data", f"{name}.toml")
    if name not in preset_names() or not path.is_file():
        raise KdumplabError("--machine", f"no preset or file named {name!r}", f"presets: {', '.join(preset_names())}")
    return load_machine(path.read_text(), f"preset {name}")
