"""Debian's amd64 kernels the lab boots on ``qemu-q35`` (issue 14).

Image facts are the bzImage header and the "Kernel code/rodata/data/bss" lines of /proc/iomem in the calibration
boots (tests/data/x86-calibration, ``presets.q35.X86Image``). Before the reservation x86 allocates little: two
page-table pages at the top of RAM and each node's pg_data_t at the top of the node, so the early profile has two
numbers (``pt_extra_pages`` and ``node_data``), read in the memblock=debug boots (tests/data/boots-x86/cal-*). Under
UEFI: ``pe_image_size`` is the PE/COFF header's SizeOfImage of each bzImage (what OVMF's LoadImage allocates),
``file_size`` the vmlinuz file's size (the blob QEMU's fw_cfg hands OVMF, which OVMF copies and LoadImage reads
again: the package's file), and ``efi_places_kernel`` says whether the EFI stub decompresses and places the kernel
itself (drivers/firmware/efi/libstub/x86-stub.c ``efi_decompress_kernel`` with ``efi_random_alloc``: read in
Debian's 6.1.192, 6.12.117 and 7.2.13 sources; 6.1 has it from the 6.1.y backport of "x86/efistub: Avoid legacy
decompressor when doing EFI boot") or leaves it to the decompressor (5.10). The crash side is not modelled on x86
(``kexec``/``crash`` None).
"""

from __future__ import annotations

from dataclasses import replace

from kdumplab.crashview_x86 import X86CrashKernelFacts
from kdumplab.kexec_x86 import X86KernelFacts
from kdumplab.policy import EarlyProfile
from kdumplab.presets.q35 import X86Image
from kdumplab.profiles import KernelProfile

__all__ = ["PROFILES"]


def _early(node_data: int) -> EarlyProfile:
    """x86 needs two numbers: page-table pages (pt_extra_pages) and sizeof(pg_data_t) (node_data)."""
    return EarlyProfile(pt_extra_pages=2, dt_unflatten=0, dt_per_extra_node=0, numa_distance=False,
                        node_data=node_data, cpumask=0, cpumask_per_extra_node=0, section_bits=27,
                        section_roots=0, usemap_per_section=0, vmemmap_pt_pages=0)


def _image(img: X86Image) -> dict[str, object]:
    return {"image": img, "package": img.package}


V5_10 = KernelProfile(
    name="5.10", arch="x86_64", policy="5.10", release="5.10.223-1", suite="bullseye", page_size=4096,
    apt_package=r"^linux-image-5\.10\.0-\d+-{deb}(-unsigned)?$",
    **_image(X86Image("linux-image-5.10.0-32-amd64-unsigned 5.10.223-1", (0, 0xC0_1F42), (0xE0_0000, 0x157_4000),
                      (0x160_0000, 0x187_AA80), (0x1EB_7000, 0x300_0000), 0x300_D000, 0x3B7_A000, 0x3C0_0000,
                      pe_image_size=0x3D7_A000, file_size=0x6B_E8A0, efi_places_kernel=False)),
    early=_early(0x2_A000),  # NODE_DATA(0) allocated [mem 0x1fffd4000-0x1ffffdfff]
    kexec=X86KernelFacts("5.10", 30, 0x6B_AAA0, 0x3B7_A000, 0x302_C000, vmcoreinfo_note=2968, setup_data_split="whole",
                         reserves_first_mib=False, file_purgatory_memsz=None, file_rng_seed=False),
    crash=X86CrashKernelFacts("5.10", 12295 + 2538 + 7632 + 17700, 384, 2271),
)
V6_1 = replace(
    V5_10, name="6.1", policy="6.1", release="6.1.176-1", suite="bookworm",
    apt_package=r"^linux-image-6\.1\.0-\d+-{deb}-unsigned$", early=_early(0x2_B000),
    **_image(X86Image("linux-image-6.1.0-57-amd64-unsigned 6.1.192-3", (0, 0xE0_1D32), (0x100_0000, 0x18E_B000),
                      (0x1A0_0000, 0x1C4_8980), (0x231_0000, 0x340_0000), 0x341_1000, 0x3F9_8000, 0x400_0000,
                      pe_image_size=0x82_2000, file_size=0x7D_D200, efi_places_kernel=True)),
    # 6.1's purgatory: its boot_params sit 0x8000 below the region's end (the RNG seed's System RAM split at
    # boot_params + 0x10c0 in 6.1-kt2.0.25-x86-2G-256M-file-nodebugflag), so 0x6000 above them
    kexec=X86KernelFacts("6.1", 39, 0x7D_8200, 0x3F9_8000, 0x343_0000, vmcoreinfo_note=3312,
                         file_purgatory_memsz=0x6000),
    crash=X86CrashKernelFacts("6.1", 14343 + 2338 + 9132 + 17344, 768, 4627),
)
V6_12 = replace(
    V5_10, name="6.12", policy="6.12", release="6.12.107-1", suite="trixie",
    apt_package=r"^linux-image-6\.12\.\d+\+deb13-{deb}-unsigned$", early=_early(0x2_A980),
    **_image(X86Image("linux-image-6.12.117+deb13-amd64-unsigned 6.12.117-1", (0, 0x100_0000),
                      (0x100_0000, 0x1B8_E000), (0x1C0_0000, 0x1E7_0D40), (0x273_C000, 0x2C0_0000), 0x2C1_1000,
                      0x37E_F000, 0x380_0000, pe_image_size=0xC0_1000, file_size=0xB9_B200, efi_places_kernel=True)),
    kexec=X86KernelFacts("6.12", 39, 0xB9_6200, 0x37E_F000, 0x2C3_0000, vmcoreinfo_note=3288, file_debug_ok=True,
                         file_hotplug_headers=True,
                         file_purgatory_bufsz=0x4000, file_entry=0x160),
    crash=X86CrashKernelFacts("6.12", 16384 + 2499 + 11832 + 4880, 768, 5353),
)
V7_2 = replace(
    V5_10, name="7.2", policy="7.2", release="7.2.8-1", suite="sid",
    apt_package=r"^(linux-binary-7\.2\.\d+\+deb14-{deb}|linux-image-7\.2\.\d+\+deb14-{deb}(-unsigned)?)$",
    early=_early(0x2_B080),
    **_image(X86Image("linux-binary-7.2.13+deb14-amd64 7.2.13-1", (0, 0x12C_A8E0), (0x140_0000, 0x216_3000),
                      (0x220_0000, 0x255_B900), (0x2E5_0000, 0x320_0000), 0x321_1000, 0x3C4_E000, 0x3C0_0000,
                      pe_image_size=0xE4_B000, file_size=0xDD_F7C0, efi_places_kernel=True)),
    kexec=X86KernelFacts("7.2", 39, 0xDD_A7C0, 0x3C4_E000, 0x323_0000, vmcoreinfo_note=3292, file_debug_ok=True,
                         file_hotplug_headers=True,
                         file_purgatory_bufsz=0x4000, file_entry=0x150, setup_data_split="none"),
    crash=X86CrashKernelFacts("7.2", 19242 + 3438 + 13708 + 3776, 768, 5036),
)

PROFILES = (V5_10, V6_1, V6_12, V7_2)
