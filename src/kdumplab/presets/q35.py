"""``qemu-q35``: exactly what ``qemu-system-x86_64 -M q35 -m MEM [-numa ...] -kernel bzImage -initrd FILE`` (QEMU 7.2,
Debian 1:7.2+dfsg-7+deb12u18) builds, booted by SeaBIOS 1.16.2 (the default) or OVMF 2022.11, with the Debian amd64
kernels of the four generations.

Where each number comes from:

- RAM split (QEMU hw/i386/pc_q35.c): with 2.75 GiB or more, 2 GiB stay below 4 GiB and the rest starts at 4 GiB;
  with less, all of it is below 4 GiB. Between the low RAM and 0xb0000000 is the 32-bit PCI hole, then the
  PCIe MMCONFIG / ECAM window (256 MiB at 0xb0000000). The 64-bit PCI window is 32 GiB from the end of RAM
  above 4 GiB rounded up to 1 GiB (or from 4 GiB when there is none).
- SeaBIOS' e820 (BIOS-e820 lines of every recorded boot): usable [0, 0x9fc00), reserved EBDA [0x9fc00, 0xa0000)
  and BIOS [0xf0000, 0x100000), usable [1 MiB, low RAM - 0x21000) (SeaBIOS keeps its tables in the top
  132 KiB), reserved [0xb0000000, 0xc0000000), [0xfed1c000, 0xfed20000), [0xfffc0000, 4 GiB), usable above 4 GiB,
  and reserved [0xfd00000000, 1 TiB) (QEMU 7.1+ with TCG's phys-bits >= 40). Linux turns the first page to
  reserved, so memblock's memory starts at 0x1000.
- The kernel (x86 boot protocol): QEMU loads the bzImage's protected-mode part at 1 MiB; the decompressor
  puts the kernel at LOAD_PHYSICAL_ADDR = 16 MiB (CONFIG_PHYSICAL_START, 2 MiB CONFIG_PHYSICAL_ALIGN) with
  ``nokaslr``, else at a random 2 MiB slot (``kdumplab.kaslr``). Section offsets from ``_text`` are the
  "Kernel code/rodata/data/bss" lines of /proc/iomem in the calibration boots (tests/data/x86-calibration);
  memblock reserves the image from ``_text`` through the used part of brk (``reserve_brk``).
- The initrd (QEMU hw/i386/x86.c ``x86_load_linux``): the highest page-aligned address below
  ``low RAM - acpi_data_size`` (0x30000 measured: RAMDISK lines) that holds it.
- /proc/iomem's device lines (PCI windows, ROMs, IOAPIC, HPET, ...) as each generation names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kdumplab.errors import KdumplabError
from kdumplab.machine import Bank, KernelImage, Machine, Reservation
from kdumplab.profiles import ProfileTable
from kdumplab.ranges import SZ_1G, SZ_2M, SZ_4G, SZ_4K, SZ_128M, PhysRange, align_down, align_up

__all__ = ["X86Image", "X86_IMAGES", "q35_e820", "qemu_q35", "q35_lowmem", "Q35_KERNEL_BASE", "q35_initrd_start",
           "ovmf_e820", "ovmf_boot_block", "OVMF_FV", "ovmf_kernel_at", "ovmf_conventional", "ovmf_loader_window"]

#: LOAD_PHYSICAL_ADDR of the Debian amd64 builds: where the kernel runs with nokaslr (bzImage pref_address)
Q35_KERNEL_BASE = 0x100_0000
#: QEMU 7.2 keeps this much below the top of low RAM out of the initrd's way (measured, RAMDISK lines)
Q35_ACPI_DATA = 0x3_0000
#: SeaBIOS 1.16.2 reserves the top of low RAM for its tables (BIOS-e820 lines)
SEABIOS_HIGH = 0x2_1000
_MMCONFIG = (0xB000_0000, 0xC000_0000)

# -- OVMF 2022.11 (Debian ovmf 2022.11-6+deb12u2, OVMF.fd as -bios) on q35 --------------------------------------
# Its e820 (the EFI stub's setup_e820 from the EFI memory map: conventional, loader and boot-services memory
# usable; runtime, reserved, ACPI and MMIO not) is the same at every -m from 1 GiB to 16 GiB once written from
# the top of low RAM T (the BIOS-e820 and efi=debug lines of tests/data/boots-x86-uefi/cal-*):
#: the MEMFD ranges of OvmfPkg/OvmfPkgX64.fdf below 16 MiB: SEC page tables, lock box, SEC/PEI temporary RAM and
#: S3 reserved memory as ACPI NVS, and the decompressed PEI and DXE firmware volumes [0x900000, 0x1500000) as
#: boot-services data (e820 usable; memblock-reserved at crash time by efi_reserve_boot_services)
_OVMF_LOW = ((0, 0xA_0000, "usable"), (0x10_0000, 0x80_0000, "usable"), (0x80_0000, 0x80_8000, "ACPI NVS"),
             (0x80_8000, 0x80_B000, "usable"), (0x80_B000, 0x80_C000, "ACPI NVS"), (0x80_C000, 0x81_0000, "usable"),
             (0x81_0000, 0x90_0000, "ACPI NVS"))
OVMF_FV = (0x90_0000, 0x150_0000)
#: below T: (start, end) as distances under T, and the e820 type (runtime data/code, the ACPI tables OVMF
#: installs, its S3/SMM NVS and reserved pages); the usable pieces between them are boot-services memory
_OVMF_TOP = ((0x114_9000, 0x108_8000, "reserved"), (0x71_3000, 0x49_3000, "reserved"),
             (0x49_3000, 0x48_1000, "ACPI data"), (0x48_1000, 0x40_1000, "ACPI NVS"), (0xA_8000, 0x8_8000, "reserved"),
             (0x8_8000, 0, "ACPI NVS"))
#: the lowest boot-services allocation at the top of low RAM lies this far under T in every boot: the 128 KiB
#: stack OVMF's PEI core moves to the bottom of its permanent memory (PcdPeiCoreMaxPeiStackSize), EFI
#: boot-services data. Everything DXE allocates during the boot lies in the PEI memory above it, up to T
_OVMF_BOOT_BLOCK = 0x408_B000
_OVMF_PEI_STACK = 0x2_0000
#: OvmfPkg's QemuKernelLoaderFsDxe copies the two fw_cfg blobs (the bzImage file and the initrd, each in whole
#: pages of boot-services data) into the PEI memory at its start; they end this far under T (efi=debug maps of
#: cal-6.12-uefi-2G-256M-initrd17M and cal-6.1-uefi-2560M-256M-initrd33M: T - 0x1482000)
_OVMF_BLOBS_END = 0x148_2000
#: what DXE allocates after the blobs, top-down right under them: small pieces (0x25d000 in all), then one
#: block of 0x101000 that goes under the PEI stack when the room left above it is too small (the same maps; the
#: calibration boots' long command line costs one page more)
_OVMF_DXE_LATE = 0x25_D000
_OVMF_DXE_LATE_BLOCK = 0x10_1000
#: what the boot manager holds at the top of that free memory while LoadImage runs (given back before the stub)
_OVMF_LOADIMAGE_HELD = 0xD000
#: the EFI stub's allocations before it copies the initrd (boot_params, command line), at the top again
_OVMF_STUB_BEFORE_INITRD = 0x4000


@dataclass(frozen=True, slots=True)
class OvmfLoader:
    """Where OVMF's LoadImage and the EFI stub put their buffers ([start, end) each), the PEI stack's start and
    DXE's late block when it went under the stack (boot-services data Linux keeps until after the crash region)."""

    pei_stack: int
    pe_image: tuple[int, int]
    initrd: tuple[int, int]
    spilled: tuple[int, int] | None = None


def _take(free: list[tuple[int, int]], size: int, what: str) -> tuple[int, int]:
    """EDK2's AllocatePages(AllocateAnyPages) in the default bin: the highest free range that holds ``size``
    pages, its top part (DxeCore Page.c CoreFindFreePagesI)."""
    fits = [r for r in free if r[1] - r[0] >= size]
    if not fits:
        raise KdumplabError("--initrd-size", f"OVMF has no free range for {what} ({size:#x} bytes) in the model")
    lo, hi = max(fits, key=lambda r: r[1])
    free.remove((lo, hi))
    free.append((lo, hi - size))
    return hi - size, hi


def _join(free: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """FreePages: a freed range merges with free neighbours into one descriptor."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in free if r[1] > r[0]):
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def ovmf_loader(mem: int, img: X86Image, initrd_size: int) -> OvmfLoader:
    """Replay the EFI loader's allocations under OVMF 2022.11 (all top-down, highest free range first):

    1. QemuKernelLoaderFsDxe (at its start) copies the kernel and initrd blobs from fw_cfg into the PEI memory
       above the PEI stack; DXE's later allocations go under them, its late 1 MiB block under the PEI stack
       when the room is too small; what is left above the stack is the gap the loader sees.
    2. LoadImage reads the bzImage file again into a buffer, then allocates the PE image (SizeOfImage, EFI
       loader code) and frees the buffer: what does not fit the gap goes right under the PEI stack, the PE
       image under the buffer when both do.
    3. The EFI stub copies the initrd (LoadFile2 of LINUX_EFI_INITRD_MEDIA_GUID, efi_load_initrd, EFI loader
       data) into the highest free range that holds it: the gap when it fits, else under the PE image.

    A large initrd therefore moves what Linux keeps reserved below the PEI stack (the initrd copy, by
    reserve_initrd; DXE's late block, by efi_reserve_boot_services), and with it the low crash region."""
    pages = lambda n: align_up(n, SZ_4K)  # noqa: E731
    top = q35_lowmem(mem)
    stack = top - _OVMF_BOOT_BLOCK
    blobs = top - _OVMF_BLOBS_END - pages(img.file_size) - pages(initrd_size)
    room = blobs - (stack + _OVMF_PEI_STACK)
    if room < _OVMF_DXE_LATE:
        raise KdumplabError("--initrd-size", f"{initrd_size:#x} bytes: with {img.package} the fw_cfg blobs leave "
                            "too little of OVMF's PEI memory; where DXE then allocates is not modelled")
    spilled = None
    gap_top = blobs - _OVMF_DXE_LATE - _OVMF_DXE_LATE_BLOCK
    low_end = stack
    if room < _OVMF_DXE_LATE + _OVMF_DXE_LATE_BLOCK:  # the late block goes right under the PEI stack
        gap_top, low_end = blobs - _OVMF_DXE_LATE, stack - _OVMF_DXE_LATE_BLOCK
        spilled = (low_end, stack)
    held = max(gap_top - _OVMF_LOADIMAGE_HELD, stack + _OVMF_PEI_STACK)
    free = [(OVMF_FV[1], low_end), (stack + _OVMF_PEI_STACK, held)]
    buffer = _take(free, pages(img.file_size), "LoadImage's file buffer")
    pe = _take(free, pages(img.pe_image_size), "the PE image")
    free = _join([*free, buffer, (held, gap_top)])
    _take(free, _OVMF_STUB_BEFORE_INITRD, "the EFI stub's boot_params")
    lo, _hi = _take(free, pages(initrd_size), "the initrd")
    return OvmfLoader(stack, pe, (lo, lo + initrd_size), spilled)


_E820_NAME = {"reserved": "Reserved", "ACPI data": "ACPI Tables", "ACPI NVS": "ACPI Non-volatile Storage"}


def ovmf_e820(mem: int) -> tuple[tuple[int, int, str], ...]:
    """OVMF's e820 map for ``-m MEM`` as (start, end, kind), end exclusive."""
    top = q35_lowmem(mem)
    out = list(_OVMF_LOW)
    cut = OVMF_FV[0]
    for lo, hi, kind in _OVMF_TOP:
        out += [(cut, top - lo, "usable"), (top - lo, top - hi, kind)]
        cut = top - hi
    out.append((*_MMCONFIG, "reserved"))
    if mem > top:
        out.append((SZ_4G, SZ_4G + mem - top, "usable"))
    return tuple((s, e, k) for s, e, k in out if e > s)


def ovmf_boot_block(mem: int) -> tuple[int, int]:
    """[start, T): the top of low RAM the firmware and the EFI loader hold when Linux reserves its crash region."""
    top = q35_lowmem(mem)
    return top - _OVMF_BOOT_BLOCK, top


def ovmf_loader_window(mem: int) -> tuple[int, int]:
    """[start, end) of the usable memory at the top of low RAM where the EFI loader's and stub's buffers sit
    (from the boot-services block to the first firmware range above it): what /proc/iomem splits there is not
    placed by the model (tools.verify.merge_loader_window)."""
    lo = ovmf_boot_block(mem)[0]
    return lo, next(s for s, _e, k in ovmf_e820(mem) if k != "usable" and s >= lo)


def _pe_start(mem: int, img: X86Image, initrd_size: int) -> int | None:
    """Where LoadImage put the PE image when it did not fit the gap above the PEI stack (else None)."""
    ld = ovmf_loader(mem, img, initrd_size)
    return ld.pe_image[0] if ld.pe_image[0] < ld.pei_stack else None


def ovmf_conventional(mem: int, img: X86Image, initrd_size: int) -> tuple[tuple[int, int], ...]:
    """EFI conventional memory large enough to matter when the kernel's place is chosen: from the FVs' end to
    the boot-services block (or to the PE image under it), and all RAM above 4 GiB (one descriptor). The gaps
    inside the block are each smaller than any kernel here."""
    low_end = _pe_start(mem, img, initrd_size) or ovmf_boot_block(mem)[0]
    out = [(OVMF_FV[1], low_end)]
    top = q35_lowmem(mem)
    if mem > top:
        out.append((SZ_4G, SZ_4G + mem - top))
    return tuple(out)


def ovmf_kernel_at(mem: int, img: X86Image, initrd_size: int) -> int:
    """Where the kernel runs under OVMF with nokaslr. The EFI stub (6.1.192+) allocates it with
    efi_random_alloc and seed 0: the first 2 MiB-aligned slot at or above LOAD_PHYSICAL_ADDR in conventional
    memory, 0x1600000 right above the FVs. 5.10's stub leaves the image where LoadImage put it (at or above 16
    MiB with init_size room: no relocation) and the decompressor runs in place, 2 MiB-aligned."""
    if img.efi_places_kernel:
        return align_up(max(OVMF_FV[1], Q35_KERNEL_BASE), SZ_2M)
    start = _pe_start(mem, img, initrd_size)
    if start is None:
        raise KdumplabError("--firmware uefi", f"{img.package}: a PE image in a gap above OVMF's boot-services "
                            "block is not modelled for a kernel the decompressor places")
    return align_up(start, SZ_2M)


@dataclass(frozen=True, slots=True)
class X86Image:
    """One Debian amd64 kernel as the boot loader and the decompressor see it. Offsets are from ``_text``.

    ``code``/``rodata``/``data``/``bss`` are the /proc/iomem resources (end exclusive), ``reserve_end`` the end
    of memblock's reservation of the image (brk included), ``init_size`` the bzImage header field (the memory
    the decompressor may use from its output address), ``kaslr_size`` the decompressor's ``needed_size``
    (max(uncompressed payload, _end - _text), 2 MiB aligned), read from the bzImage header and payload.
    """

    package: str
    code: tuple[int, int]
    rodata: tuple[int, int]
    data: tuple[int, int]
    bss: tuple[int, int]
    reserve_end: int
    init_size: int
    kaslr_size: int
    #: the PE/COFF header's SizeOfImage: what OVMF's LoadImage allocates for the bzImage (EfiLoaderCode)
    pe_image_size: int = 0
    #: the bzImage file's size: the "kernel" blob QEMU's fw_cfg gives OVMF (setup and payload together)
    file_size: int = 0
    #: under UEFI the EFI stub decompresses the kernel and chooses its place (efi_random_alloc) itself; else
    #: the decompressor runs where LoadImage put the image and chooses (5.10)
    efi_places_kernel: bool = False


#: The Debian amd64 kernels by name: a view of the x86_64 kernel profiles (kdumplab.profiles.debian_x86)
X86_IMAGES: Mapping[str, X86Image] = ProfileTable(lambda p: (p.name, p.image), arch="x86_64")

#: Device lines of /proc/iomem that name things differently per generation (old: 5.10 and 6.1)
_ECAM = {"5.10": "PCI MMCONFIG 0000 [bus 00-ff]", "6.1": "PCI MMCONFIG 0000 [bus 00-ff]"}
_PNP = {"7.2": "PNP0C01:00"}
_LAPIC = ("5.10", "6.1")


def q35_lowmem(mem: int) -> int:
    """below_4g_mem_size of pc_q35.c: 2 GiB once the guest has 2.75 GiB or more, else all of it."""
    return 0x8000_0000 if mem >= 0xB000_0000 else mem


def q35_e820(mem: int, firmware: str = "bios") -> tuple[tuple[int, int, str], ...]:
    """SeaBIOS' e820 map for ``-m MEM`` as (start, end, "usable"|"reserved"), end exclusive (OVMF's with
    ``firmware="uefi"``)."""
    if firmware == "uefi":
        return ovmf_e820(mem)
    low = q35_lowmem(mem)
    out = [(0, 0x9_FC00, "usable"), (0x9_FC00, 0xA_0000, "reserved"), (0xF_0000, 0x10_0000, "reserved"),
           (0x10_0000, low - SEABIOS_HIGH, "usable"), (low - SEABIOS_HIGH, low, "reserved"),
           (*_MMCONFIG, "reserved"), (0xFED1_C000, 0xFED2_0000, "reserved"), (0xFFFC_0000, SZ_4G, "reserved")]
    if mem > low:
        out.append((SZ_4G, SZ_4G + mem - low, "usable"))
    out.append((0xFD_0000_0000, 1 << 40, "reserved"))
    return tuple(out)


def q35_initrd_start(mem: int, initrd_size: int) -> int:
    """Where QEMU puts the initrd: page-aligned, as high as it fits below low RAM - acpi_data_size."""
    return align_down(q35_lowmem(mem) - Q35_ACPI_DATA - 1 - initrd_size, SZ_4K)


def _devices(gen: str, mem: int, firmware: str = "bios") -> tuple[str, ...]:
    low = q35_lowmem(mem)
    above = mem - low
    hole64 = align_up(SZ_4G + above, SZ_1G) if above else SZ_4G
    ecam = _ECAM.get(gen, "PCI ECAM 0000 [bus 00-ff]")
    if firmware == "uefi":  # OVMF: its e820 pieces, efifb on the VGA BAR OVMF assigns, no option ROMs
        fw = [f"{a:08x}-{b - 1:08x} : {_E820_NAME[k]}" for a, b, k in ovmf_e820(mem) if k != "usable" and b <= low]
        return ("00000000-00000fff : Reserved", "000a0000-000bffff : PCI Bus 0000:00",
                "000f0000-000fffff : System ROM", *fw,
                f"{low:08x}-afffffff : PCI Bus 0000:00",
                f"b0000000-bfffffff : {ecam}",
                "  b0000000-bfffffff : Reserved",
                f"    b0000000-bfffffff : {_PNP.get(gen, 'pnp 00:05')}",
                "c0000000-febfffff : PCI Bus 0000:00",
                "  c0000000-c0ffffff : 0000:00:01.0",
                "    c0000000-c03e7fff : efifb",
                "  c1010000-c1010fff : 0000:00:1f.2",
                "  c1011000-c1011fff : 0000:00:01.0",
                "fec00000-fec003ff : IOAPIC 0",
                "fed00000-fed003ff : HPET 0",
                "  fed00000-fed003ff : PNP0103:00",
                *(("fee00000-fee00fff : Local APIC",) if gen in _LAPIC else ()),
                f"{hole64:x}-{hole64 + 32 * SZ_1G - 1:x} : PCI Bus 0000:00")
    lines = [
        "00000000-00000fff : Reserved",
        "0009fc00-0009ffff : Reserved",
        "000a0000-000bffff : PCI Bus 0000:00",
        "000c0000-000c9bff : Video ROM",
        "000ca000-000ca5ff : Adapter ROM",
        "000f0000-000fffff : Reserved",
        "  000f0000-000fffff : System ROM",
        f"{low - SEABIOS_HIGH:08x}-{low - 1:08x} : Reserved",
        f"{low:08x}-afffffff : PCI Bus 0000:00",
        f"b0000000-bfffffff : {ecam}",
        "  b0000000-bfffffff : Reserved",
        f"    b0000000-bfffffff : {_PNP.get(gen, 'pnp 00:05')}",
        "c0000000-febfffff : PCI Bus 0000:00",
        "  fd000000-fdffffff : 0000:00:01.0",
        "  febf0000-febf0fff : 0000:00:01.0",
        "  febf1000-febf1fff : 0000:00:1f.2",
        "fec00000-fec003ff : IOAPIC 0",
        "fed00000-fed003ff : HPET 0",
        "  fed00000-fed003ff : PNP0103:00",
        "fed1c000-fed1ffff : Reserved",
        *(("fee00000-fee00fff : Local APIC",) if gen in _LAPIC else ()),
        "fffc0000-ffffffff : Reserved",
        f"{hole64:x}-{hole64 + 32 * SZ_1G - 1:x} : PCI Bus 0000:00",
        "fd00000000-ffffffffff : Reserved",
    ]
    return tuple(lines)


def _banks(mem: int, numa: tuple[int, ...], firmware: str = "bios") -> tuple[Bank, ...]:
    """memblock's memory (e820 usable, first page dropped), split into NUMA nodes the way QEMU's SRAT does:
    nodes take the RAM in address order, the low part first."""
    e820 = [(max(s, 0x1000), e) for s, e, kind in q35_e820(mem, firmware) if kind == "usable"]
    # QEMU gives node memory in guest RAM order (0 .. low RAM, then from 4 GiB); the e820 holes inside the
    # low part (EBDA, BIOS, SeaBIOS' top) belong to node 0 whatever the sizes.
    bounds, acc = [], 0
    for size in numa or (mem,):
        acc += size
        bounds.append(acc)
    low = q35_lowmem(mem)

    def node_of(addr: int) -> int:
        linear = addr if addr < SZ_4G else addr - SZ_4G + low
        return next(i for i, b in enumerate(bounds) if linear < b)

    banks = []
    for s, e in e820:
        cut = s
        while cut < e:
            nid = node_of(cut)
            linear_end = bounds[nid]
            end = min(e, linear_end if cut < SZ_4G else linear_end - low + SZ_4G)
            banks.append(Bank(cut, end - cut, node=nid))
            cut = end
    return tuple(banks)


def qemu_q35(mem: int = 6 * SZ_1G, numa: tuple[int, ...] | None = None, initrd_size: int = 0xFB037,
             kernel: str = "6.1", kernel_at: int | None = None, firmware: str = "bios", cpus: int = 1) -> Machine:
    """The guest QEMU builds for ``-M q35 -m MEM``, its kernel at ``kernel_at`` (default: where it runs with
    nokaslr: 16 MiB under SeaBIOS; under OVMF (``firmware="uefi"``) where the EFI stub or LoadImage put it)."""
    if firmware not in ("bios", "uefi"):
        raise KdumplabError("--firmware", f"{firmware!r}: qemu-q35 boots with bios (SeaBIOS) or uefi (OVMF)")
    if mem < SZ_128M or mem % SZ_2M:
        raise KdumplabError("--mem", f"{mem:#x} bytes: this q35 model needs at least 128 MiB in 2 MiB steps")
    sizes = tuple(numa) if numa else ()
    if sizes and sum(sizes) != mem:
        raise KdumplabError("--numa", f"node sizes add up to {sum(sizes):#x}, not the memory size {mem:#x}")
    if kernel not in X86_IMAGES:
        raise KdumplabError("--kernel", f"no Debian amd64 image known for {kernel!r}", ", ".join(X86_IMAGES))
    img = X86_IMAGES[kernel]
    if firmware == "uefi" and sizes:
        raise KdumplabError("--numa", "qemu-q35 under OVMF is modelled with one NUMA node only")
    uefi = firmware == "uefi"
    nokaslr = ovmf_kernel_at(mem, img, initrd_size) if uefi else Q35_KERNEL_BASE
    base = nokaslr if kernel_at is None else kernel_at
    if base % SZ_2M:
        raise KdumplabError("--kernel-at", f"{base:#x} is not 2 MiB aligned (CONFIG_PHYSICAL_ALIGN)")
    image = KernelImage(load_address=base, stext=0, init_begin=img.code[1], sdata=img.data[0], end=img.reserve_end,
                        image_size=img.kaslr_size, init_size=img.init_size,
                        sections=tuple(f"{lo:x}-{hi:x} Kernel {name}" for name, (lo, hi) in
                                       (("code", img.code), ("rodata", img.rodata), ("data", img.data),
                                        ("bss", img.bss))))
    reserved = [Reservation("low 1M (real mode, BIOS)", 0, 0x10_0000)]
    initrd = None
    if uefi:
        # the EFI stub (6.1+) draws from conventional memory from LOAD_PHYSICAL_ADDR; 5.10's decompressor from
        # min(its output, 512 MiB)
        image = replace(image, placement=tuple(f"{a:x}-{b:x}" for a, b in ovmf_conventional(mem, img, initrd_size)),
                        placement_minimum=Q35_KERNEL_BASE if img.efi_places_kernel else align_up(
                            min(nokaslr, 512 << 20), SZ_2M))
        reserved.append(Reservation("OVMF PEI/DXE firmware volumes (EFI boot-services data)", OVMF_FV[0],
                                    OVMF_FV[1] - OVMF_FV[0]))
        lo, top = ovmf_boot_block(mem)
        for a, b, kind in ovmf_e820(mem):
            if kind == "usable" and lo < b and a < top:
                reserved.append(Reservation("OVMF boot services, EFI loader and stub allocations", max(a, lo),
                                            min(b, top) - max(a, lo)))
        loader = ovmf_loader(mem, img, initrd_size)
        if loader.spilled:
            reserved.append(Reservation("OVMF DXE's late block under the PEI stack (EFI boot-services data)",
                                        loader.spilled[0], loader.spilled[1] - loader.spilled[0]))
        if initrd_size:  # the EFI stub's copy, which Linux keeps (reserve_initrd): under the PEI stack if large
            initrd = PhysRange(*loader.initrd)
    elif initrd_size:
        start = q35_initrd_start(mem, initrd_size)
        initrd = PhysRange(start, start + initrd_size)
    gib = mem / SZ_1G
    return Machine(
        name=f"qemu-q35 {gib:g}G" + (" OVMF" if uefi else "")
        + (f" numa {'+'.join(f'{s / SZ_1G:g}G' for s in sizes)}" if sizes else ""),
        arch="x86_64", banks=_banks(mem, sizes, firmware), kernel=image, initrd=initrd, reserved=tuple(reserved),
        iomem_devices=_devices(kernel, mem, firmware), firmware=firmware, cpus=cpus,
        source=f"qemu-system-x86_64 7.2 -M q35, {'OVMF 2022.11' if uefi else 'SeaBIOS 1.16.2'}; "
               f"kernel {img.package}"
               + (f"; kernel at {base:#x}" if kernel_at is not None else "")
               + ("; the EFI stub's initrd copy placed by replaying OVMF's allocations (presets.q35.ovmf_loader)"
                  if uefi and initrd_size else ""),
    )
