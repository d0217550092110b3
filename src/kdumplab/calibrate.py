"""A kernel profile from an arm64 Image and its ``memblock=debug`` boots (``kdumplab lab calibrate``).

What the Image itself says (Documentation/arch/arm64/booting.rst, "Image header"): ``text_offset`` (byte 8),
``image_size`` (byte 16), the flags (byte 24: bit 0 endianness, bits 1-2 the page size, 1 = 4K, 2 = 16K,
3 = 64K); with an EFI stub (``MZ`` at 0) the PE/COFF section table, whose ``.text`` starts at ``_stext``;
and the ``Linux version ...`` banner. A ``System.map`` beside the Image gives every section offset exactly.

What a boot says, read from its serial log (the kernel's own ``memblock=debug`` lines, ``earlycon`` so none
is lost) and its /proc/iomem:

- the image as loaded: ``Kernel code`` ends at ``__init_begin``, ``Kernel data`` runs from ``_sdata`` to ``_end``
  (QEMU loads ``_text`` at RAM base + 2 MiB + text_offset); the early page tables inside the image that
  ``paging_init`` frees (``memblock_free ... paging_init``);
- the early allocations, each by the routine the kernel names as caller: the unflattened device tree
  (``early_init_dt_alloc_memory_arch``), the NUMA distance table (``numa_init``, less what
  ``numa_free_distance`` gives back), each node's ``NODE_DATA``, the boot cpumask
  (``alloc_bootmem_cpumask_var``), the section roots (``sparse_init``), each node's usemap (``sparse_init_nid``:
  its bytes over the node's sections; the search window or the memmap's alignment gives the section size),
  and the vmemmap page-table pages (``__earlyonly_bootmem_alloc``);
- a second boot with two NUMA nodes gives what each further node adds (device tree, cpumask);
- the linear map's page tables are fitted: the model runs the boot with no extra page-table pages and the
  difference to the kernel's own ``MEMBLOCK configuration`` dump (taken at the same point) is the constant
  (kernel mapping, idmap, fixmap), so a boot whose first lines were lost still calibrates;
- as a crash kernel: its static size, the code + rwdata + rodata + bss of the ``Memory:`` line.

Everything else (the crash kernel's per-GiB overhead, kexec-tools' view of the running kernel) is taken
from the reference profile of the same policy and page size, and the profile says so in its citations.
"""

from __future__ import annotations

import dataclasses
import gzip
import re
from dataclasses import dataclass

from kdumplab.errors import KdumplabError
from kdumplab.machine import KernelImage
from kdumplab.policy import EarlyProfile
from kdumplab.profiles import KernelProfile

__all__ = ["ImageHeader", "read_image_header", "DebugBoot", "early_facts", "image_from_boot",
           "make_profile", "QEMU_VIRT_TEXT"]

#: where QEMU -M virt loads an arm64 Image's _text: RAM base + 2 MiB (+ text_offset) (hw/arm/boot.c)
QEMU_VIRT_TEXT = 0x4020_0000
_PAGE_SIZES = {1: 4096, 2: 16384, 3: 65536}
_MAX_IMAGE = 256 << 20  # a decompressed Image larger than this is refused


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What an arm64 Image file says about itself."""

    text_offset: int
    image_size: int
    page_size: int
    release: str  # the banner's release ("6.1.0-57-arm64"), "" if none found
    banner: str
    stext: int | None  # the PE/COFF .text start (_stext - _text) when the Image has an EFI stub


def read_image_header(data: bytes, where: str) -> ImageHeader:
    """Parse an arm64 Image (or a gzip-compressed one, as Debian's older vmlinuz are): one-line errors."""
    if data[:2] == b"\x1f\x8b":
        import zlib  # noqa: PLC0415

        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = d.decompress(data, _MAX_IMAGE)
        except zlib.error as e:
            raise KdumplabError(where, f"damaged gzip: {e}") from None
        if d.unconsumed_tail:
            raise KdumplabError(where, f"decompresses to more than {_MAX_IMAGE >> 20} MiB")
        if not d.eof:
            raise KdumplabError(where, "damaged gzip: truncated")
    if len(data) < 64 or data[56:60] != b"ARM\x64":
        raise KdumplabError(where, "not an arm64 kernel Image (no ARM\\x64 magic at offset 56)",
                            "give the Image or vmlinuz of an arm64 kernel")
    text_offset, image_size, flags = (int.from_bytes(data[o:o + 8], "little") for o in (8, 16, 24))
    if image_size == 0:
        raise KdumplabError(where, "Image header has no image_size (a kernel before 3.17)")
    page_size = _PAGE_SIZES.get((flags >> 1) & 3)
    if page_size is None:
        raise KdumplabError(where, f"Image header flags {flags:#x} do not give a page size")
    m = re.search(rb"Linux version (\S+) [^\n\0]{0,400}", data)
    banner = m.group(0).decode("ascii", "replace") if m else ""
    release = m.group(1).decode("ascii", "replace") if m else ""
    return ImageHeader(text_offset, image_size, page_size, release, banner, _pe_text(data))


def _pe_text(data: bytes) -> int | None:
    """The virtual address of the PE/COFF ``.text`` section (the EFI stub's header; arm64 efi-header.S puts
    ``_stext`` there), or None without an EFI stub."""
    if data[:2] != b"MZ" or len(data) < 0x40:
        return None
    pe = int.from_bytes(data[0x3C:0x40], "little")
    if data[pe:pe + 4] != b"PE\0\0":
        return None
    count = int.from_bytes(data[pe + 6:pe + 8], "little")
    off = pe + 24 + int.from_bytes(data[pe + 20:pe + 22], "little")
    for _ in range(count):
        if data[off:off + 8].rstrip(b"\0") == b".text":
            return int.from_bytes(data[off + 12:off + 16], "little")
        off += 40
    return None


def system_map_offsets(text: str) -> dict[str, int]:
    """Section offsets from _text in a System.map (the names KernelImage needs)."""
    syms: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.setdefault(parts[2], int(parts[0], 16))
    if "_text" not in syms:
        raise KdumplabError("System.map", "no _text symbol")
    text_at = syms["_text"]
    out = {"text_vaddr": text_at}
    for key, sym in (("stext", "_stext"), ("init_begin", "__init_begin"), ("sdata", "_sdata"), ("end", "_end"),
                     ("init_pg_dir", "init_pg_dir"), ("init_pg_end", "init_pg_end")):
        if sym in syms:
            out[key] = syms[sym] - text_at
    return out


# --- one boot's serial log --------------------------------------------------------------------------------

_TS = re.compile(r"^\[ *[0-9.]+\] ")
_ALLOC = re.compile(r"memblock_(?:alloc_try_nid|alloc_exact_nid_raw|alloc_try_nid_raw|phys_alloc_range): (\d+) bytes "
                    r"align=(0x[0-9a-f]+)(?: nid=(-?\d+))? from=(0x[0-9a-f]+) max_addr=(0x[0-9a-f]+) (\w+)")
_RANGE = re.compile(r"memblock_(reserve|free|phys_free|remove|add): \[(0x[0-9a-f]+)-(0x[0-9a-f]+)\] ([\w.]+)")
_NODE_DATA = re.compile(r"NODE_DATA(?:\(\d+\) allocated)? \[mem (0x)?([0-9a-f]+)-(0x)?([0-9a-f]+)\]")
_PERCPU = re.compile(r"percpu: Embedded \d+ pages/cpu s(\d+) r(\d+) d(\d+) u(\d+)")
_IOMEM = re.compile(r"^\s*([0-9a-f]+)-([0-9a-f]+) : Kernel (code|data)$")


@dataclass(frozen=True, slots=True)
class DebugBoot:
    """One ``memblock=debug`` boot on qemu-virt: its serial log and the machine it ran on."""

    log: str  # console text, timestamps allowed
    mem: int
    nodes: int = 1
    initrd_size: int = 987623
    where: str = "boot"

    @classmethod
    def from_file(cls, path: str, mem: int, nodes: int = 1, initrd_size: int = 987623) -> DebugBoot:
        raw = open(path, "rb").read()  # noqa: SIM115 - test data, small
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
        return cls(raw.decode("utf-8", "replace"), mem, nodes, initrd_size, path)

    def lines(self) -> list[str]:
        return [_TS.sub("", line.rstrip("\r")) for line in self.log.splitlines()]

    def early_lines(self) -> list[str]:
        """The lines up to the kernel's own memblock dump (the end of bootmem_init)."""
        out = []
        for line in self.lines():
            if "MEMBLOCK configuration" in line:
                break
            out.append(line)
        return out

    def cmdline(self) -> str:
        for line in self.lines():
            if line.startswith("Kernel command line:"):
                return line.split(":", 1)[1].strip()
        raise KdumplabError(self.where, "no 'Kernel command line:' line", "the boot's console output is incomplete")


def _allocs(lines: list[str], caller: str) -> list[tuple[int, int, int, int, int]]:
    """(bytes, align, nid, from, max_addr) of every memblock allocation made by ``caller``."""
    out = []
    for line in lines:
        m = _ALLOC.search(line)
        if m and m.group(6) == caller:
            out.append((int(m.group(1)), int(m.group(2), 16), int(m.group(3) or -1), int(m.group(4), 16),
                        int(m.group(5), 16)))
    return out


def _ranges(lines: list[str], op: str, caller: str) -> list[tuple[int, int]]:
    out = []
    for line in lines:
        m = _RANGE.search(line)
        if m and m.group(1) == op and m.group(4).startswith(caller):
            out.append((int(m.group(2), 16), int(m.group(3), 16) + 1))
    return out


def early_facts(boot: DebugBoot, page_size: int) -> dict[str, int | bool]:
    """The EarlyProfile fields one boot shows (all but the page-table constant); a field the log does not
    show (its first lines lost) is left out."""
    lines = boot.early_lines()
    out: dict[str, int | bool] = {}
    node_at = [i for i, line in enumerate(lines) if "NODE_DATA" in line]
    # 7.x logs its early allocations through one wrapper (__memblock_alloc_or_panic): the device tree is the
    # first of them before the node data, the cpumasks the small ones right after it
    wrapped = [(i, int(m.group(1))) for i, line in enumerate(lines)
               if (m := _ALLOC.search(line)) and m.group(6) == "__memblock_alloc_or_panic"]
    dt = _allocs(lines, "early_init_dt_alloc_memory_arch")
    if dt:
        out["dt_unflatten"] = dt[0][0]
    elif node_at and any(i < node_at[0] for i, _ in wrapped):
        out["dt_unflatten"] = next(n for i, n in wrapped if i < node_at[0])
    numa = len(_allocs(lines, "numa_init")) + len(_ranges(lines, "reserve", "numa_init"))
    freed = len(_ranges(lines, "free", "numa_free_distance")) + len(_ranges(lines, "phys_free", "numa_free_distance"))
    if numa or any("NODE_DATA" in line for line in lines):
        out["numa_distance"] = numa - freed > 0
    nd = [_NODE_DATA.search(line) for line in lines]
    sizes = [int(m.group(4), 16) - int(m.group(2), 16) + 1 for m in nd if m]
    if sizes:
        out["node_data"] = sizes[0]
    if node_at:
        cpumask = [a[0] for a in _allocs(lines, "alloc_bootmem_cpumask_var")]
        if not cpumask:
            after = [(i, n) for i, n in wrapped if i > node_at[-1]]
            for k, (i, n) in enumerate(after):
                if n > 1024 or (k and i - after[k - 1][0] > 2):
                    break
                cpumask.append(n)
        out["cpumask"] = sum(cpumask)  # one per node: the 2-node boot gives the per-node part
    roots = _allocs(lines, "sparse_init")
    if roots:
        out["section_roots"] = roots[0][0]
    usemap = [a for a in _allocs(lines, "sparse_init_nid") if a[0] < (1 << 20)]
    memmap = [a for a in _allocs(lines, "sparse_init_nid") + _allocs(lines, "memmap_alloc") if a[0] >= (1 << 20)]
    if usemap and memmap:
        size, _, _, lo, hi = usemap[0]
        # the usemap is searched within the node's last section; without that window, the memmap buffer is
        # aligned to one section's memmap (64 bytes a page) when that is at least PMD_SIZE
        section = hi - lo if hi > lo else memmap[0][1] * page_size // 64
        out["section_bits"] = section.bit_length() - 1
        node_bytes = boot.mem // boot.nodes
        sections = -(-node_bytes // section)
        out["usemap_per_section"] = size // sections
        out["usemap_near_pgdat"] = hi > lo  # a goal window: the pgdat's section (up to 6.x)
    vmemmap = 0
    seen_node1 = False
    for line in lines:
        m = _ALLOC.search(line)
        if m and m.group(6) in ("sparse_init_nid", "memmap_alloc") and m.group(3) == "1":
            seen_node1 = True
        if m and m.group(6) == "__earlyonly_bootmem_alloc" and not seen_node1:
            vmemmap += 1
    if memmap:
        out["vmemmap_pt_pages"] = vmemmap
    return out


def image_from_boot(boot: DebugBoot, header: ImageHeader, from_stext: bool,
                    system_map: dict[str, int] | None = None) -> KernelImage:
    """The KernelImage of a boot: System.map when given, else /proc/iomem's Kernel code/data lines, the
    kernel's own reservation of itself and paging_init's release of its early page tables."""
    text = QEMU_VIRT_TEXT + header.text_offset
    if system_map is not None:
        keys = ("stext", "init_begin", "sdata", "end", "init_pg_dir", "init_pg_end")
        return KernelImage(load_address=text, text_offset=header.text_offset, image_size=header.image_size,
                           **{k: system_map.get(k, 0) for k in keys})
    spans = {}
    for line in boot.lines():
        m = _IOMEM.match(line)
        if m:
            spans[m.group(3)] = (int(m.group(1), 16), int(m.group(2), 16) + 1)
    if set(spans) != {"code", "data"}:
        raise KdumplabError(boot.where, "no /proc/iomem 'Kernel code' and 'Kernel data' lines",
                            "give --system-map, or boot with the lab's /init (it prints /proc/iomem)")
    stext = header.stext
    if from_stext:
        stext = spans["code"][0] - text
    if stext is None:
        raise KdumplabError(boot.where, "_stext is unknown: no EFI stub and no System.map", "give --system-map")
    freed = _ranges(boot.early_lines(), "free", "paging_init") + _ranges(boot.early_lines(), "phys_free", "paging_init")
    pg = next(((lo - text, hi - text) for lo, hi in freed if text <= lo < text + spans["data"][1]), (0, 0))
    return KernelImage(load_address=text, stext=stext, init_begin=spans["code"][1] - text,
                       sdata=spans["data"][0] - text, end=spans["data"][1] - text, text_offset=header.text_offset,
                       image_size=header.image_size, init_pg_dir=pg[0], init_pg_end=pg[1])


def percpu_first_chunk(boot: DebugBoot) -> dict[str, int]:
    """The first percpu chunk as the kernel prints it (``percpu: Embedded N pages/cpu sS rR dD uU``)."""
    for line in boot.lines():
        m = _PERCPU.search(line)
        if m:
            return dict(zip(("percpu_static", "percpu_reserved", "percpu_dynamic", "percpu_unit"),
                            map(int, m.groups()), strict=True))
    return {}


def _reference(policy: str, page_size: int) -> KernelProfile:
    from kdumplab import profiles  # noqa: PLC0415

    builtin = [p for p in profiles.all_profiles("arm64") if not p.source and p.policy == policy]
    if not builtin:
        raise KdumplabError("--policy", f"{policy!r} has no built-in kernel to take the crash-side facts from")
    return next((p for p in builtin if p.page_size == page_size), builtin[0])


def _dump_pages(boot: DebugBoot, page: int) -> set[int]:
    lines = boot.lines()
    starts = [i for i, line in enumerate(lines) if "MEMBLOCK configuration" in line]
    if not starts:
        raise KdumplabError(boot.where, "no 'MEMBLOCK configuration' dump", "boot with memblock=debug")
    out: set[int] = set()
    for line in lines[starts[0]:starts[0] + 200]:
        m = re.match(r"\s*reserved\[0x[0-9a-f]+\]\s+\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\]", line)
        if m:
            lo, hi = int(m.group(1), 16), int(m.group(2), 16) + 1
            out |= set(range(lo // page, (hi + page - 1) // page))
    return out


def _model_pages(prof: KernelProfile, boot: DebugBoot) -> set[int]:
    from kdumplab import model, presets, profiles  # noqa: PLC0415

    with profiles.registered(prof):
        numa = None if boot.nodes == 1 else tuple([boot.mem // boot.nodes] * boot.nodes)
        machine = presets.qemu_virt(boot.mem, numa, boot.initrd_size, prof.name)
        res = model.run(model.Scenario(machine, boot.cmdline(), prof.name), reuse=False)
    mb = res.early_memblock if res.policy.early_steps[0].name == "CRASHKERNEL" else res.memblock
    page = prof.page_size
    return {p for r in mb.reserved for p in range(r.base // page, (r.end + page - 1) // page)}


def make_profile(name: str, policy: str, header: ImageHeader, one: DebugBoot, two: DebugBoot | None = None,
                 system_map: dict[str, int] | None = None, package: str = "", release: str = "") -> KernelProfile:
    """The profile of a kernel from its header and one boot on one node (plus, if given, one on two nodes)."""
    from kdumplab.early import table_spans  # noqa: PLC0415
    from kdumplab.policy import Feature, reservation_rows  # noqa: PLC0415

    rows = reservation_rows("arm64")
    if policy not in rows:
        raise KdumplabError("--policy", f"unknown reservation policy {policy!r}", f"known: {', '.join(rows)}")
    ref = _reference(policy, header.page_size)
    assert ref.crash is not None and ref.kexec is not None
    notes: dict[str, str] = {}
    facts = early_facts(one, header.page_size)
    early = dataclasses.replace(ref.early, pt_extra_pages=0, **facts)  # type: ignore[arg-type]
    fit_early = early  # the page-table fit uses this boot's own vmemmap page count
    missing = sorted(set(f.name for f in dataclasses.fields(EarlyProfile)) - set(facts) - {"pt_extra_pages",
                                                                                         "dt_per_extra_node",
                                                                                         "cpumask_per_extra_node",
                                                                                         "dt_per_property",
                                                                                         "kernel_segments"})
    notes["dt_per_property"] = f"as {ref.name} (only a boot whose DT has one more property shows it)"
    notes["kernel_segments"] = (f"as {ref.name} (map_kernel's segment bounds: read from the Image and "
                                "/proc/kallsyms; a boot at the calibration place does not show them)")
    if two is not None:
        f2 = early_facts(two, header.page_size)
        if "dt_unflatten" in f2 and "dt_unflatten" in facts:
            early = dataclasses.replace(early, dt_per_extra_node=(f2["dt_unflatten"] - facts["dt_unflatten"])
                                        // (two.nodes - 1))
        early = dataclasses.replace(early, cpumask_per_extra_node=(int(f2.get("cpumask", 0)) - early.cpumask)
                                    // (two.nodes - 1))
        if "vmemmap_pt_pages" in f2:  # 1-3 pages, by where KASLR puts the linear map: the smaller count
            fewest = min(early.vmemmap_pt_pages, int(f2["vmemmap_pt_pages"]))
            early = dataclasses.replace(early, vmemmap_pt_pages=fewest)
        fit_early = dataclasses.replace(early, vmemmap_pt_pages=fit_early.vmemmap_pt_pages)
    else:
        missing += ["dt_per_extra_node", "cpumask_per_extra_node"]
    if missing:
        notes["early"] = f"{', '.join(missing)} not shown by the boots: {ref.name}'s"
    image = image_from_boot(one, header, rows[policy].has(Feature.KERNEL_FROM_STEXT), system_map)
    pageblock = table_spans(header.page_size)[0]
    cma_align = max(rows[policy].cma_align, pageblock) if header.page_size != 4096 else None
    crash = dataclasses.replace(ref.crash, generation=name, page_size=header.page_size)
    vaddr = (system_map or {}).get("text_vaddr")
    kexec = dataclasses.replace(ref.kexec, generation=name, **({"text_vaddr": vaddr} if vaddr is not None else {}))
    percpu = percpu_first_chunk(one)
    late = dataclasses.replace(ref.late, **percpu) if ref.late is not None else None
    notes["late"] = (f"percpu first chunk from the boot's percpu: line; the rest as {ref.name}" if percpu
                     else f"as {ref.name}")
    notes["crash"] = f"as {ref.name}; its MemTotal follows from the image, early and late facts (crashboot)"
    notes["kexec"] = f"as {ref.name}" + ("; text_vaddr from System.map" if system_map else "")
    notes["efi_stub"] = f"as {ref.name}"
    prof = KernelProfile(
        name=name, arch="arm64", policy=policy, release=release or header.release,
        package=package or header.banner[:120], page_size=header.page_size, image=image, early=early, late=late,
        kexec=kexec, crash=crash, suite="", build=ref.build, virt_devices=ref.virt_devices, cma_align=cma_align,
        efi_stub=ref.efi_stub, virtio_pci_builtin=ref.virtio_pci_builtin,
        description=f"calibrated: {header.release or name} following {policy}", citations=notes)
    # the page-table constant: the model with none against the kernel's own dump of the same moment
    real = _dump_pages(one, header.page_size)
    ours = _model_pages(dataclasses.replace(prof, early=fit_early), one)
    extra = len(real) - len(ours)
    return dataclasses.replace(prof, early=dataclasses.replace(early, pt_extra_pages=extra))
