"""crashkernel= sizes from the tables distributions use today, SUSE's calibrate estimate, and our own, each checked
on the model.

Every table and constant carries where it was read (repository, path, commit). Range syntax is the kernel's:
``start-end:size``, start inclusive, end exclusive, matched against the machine's RAM (kdump-utils
spec/kdump-lib_spec.sh writes down the same rule).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kdumplab import kaslr, model, policy
from kdumplab.errors import KdumplabError
from kdumplab.inputfile import decimal
from kdumplab.machine import Machine
from kdumplab.outcome import Verdict
from kdumplab.ranges import SZ_1G, SZ_1M, format_size, iec
from kdumplab.verdict import judge, paired_kexec_tools

__all__ = ["Table", "TABLES", "Candidate", "Recommendation", "CalibrateConf", "Calibration", "SUSE_CALIBRATE_DEFAULTS",
           "parse_calibrate_conf", "suse_calibrate", "suse_flavour", "pick", "parse_ranges", "recommend", "usual_need"]



@dataclass(frozen=True, slots=True)
class Table:
    name: str
    arch: str
    ranges: str
    source: str


KDUMP_UTILS_REPO = "rhkdump/kdump-utils"
KDUMP_UTILS_COMMIT = "63f248c94a4af61e3e2c3d89108020e2b36793a6"  # tree read; kdump-lib.sh last changed in 479a217
KDUMP_UTILS_SRC = (f"{KDUMP_UTILS_REPO} kdump-lib.sh at commit {KDUMP_UTILS_COMMIT}, "
                   "kdump_get_arch_recommend_crashkernel (ranges from ca42bd690ae5 'Fix all 1G boundry to 2G' and "
                   "fe18f933baed, 2025-03-06; before them x86_64 was 1G-4G:192M,4G-64G:256M,64G-:512M and aarch64 "
                   "started 1G-4G:256M)")
UBUNTU_SRC = ("Ubuntu kdump-tools 1:1.10.7ubuntu3, /etc/default/grub.d/kdump-tools.cfg (one line; Ubuntu's packaging "
              "git is not mirrored where we can pin a commit: the line is quoted whole in a public repository, search "
              "index file id 70601192797, and the same value is on recorded Ubuntu 24.04+ arm64 and amd64 cmdlines)")

TABLES: tuple[Table, ...] = (
    # x86_64 and s390x; +64M when SME/SEV is active (not modelled)
    Table("kdump-utils", "x86_64", "2G-64G:256M,64G-:512M", KDUMP_UTILS_SRC),
    # "Base line for 4K variant kernel. The formula is based on x86 plus extra = 64M"
    Table("kdump-utils", "arm64", "2G-4G:256M,4G-64G:320M,64G-:576M", KDUMP_UTILS_SRC),
    Table("ubuntu", "x86_64", "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M", UBUNTU_SRC),
    Table("ubuntu", "arm64", "2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M", UBUNTU_SRC),
)

#: kdump-utils adds these (MiB) on aarch64, each next to where it was measured in kdump-lib.sh:
#: 64K kernels +100 (MemFree 4K vs 64K), 64K with an SMMU +384 (queue sizes), mlx5 +200 (64K) / +150 (4K).
#: kdump-lib.sh tells a 64K kernel by "64k" in its release name; a 16K kernel gets the 4K numbers.
ARM64_DELTA_64K = 100
ARM64_DELTA_64K_SMMU = 384
ARM64_DELTA_MLX5 = {4096: 150, 16384: 150, 65536: 200}


# -- SUSE: kdumptool calibrate --------------------------------------------------------------------------
#
# SUSE ships no range table. `kdumptool calibrate` (openSUSE/kdump, kdumptool/calibrate.cc) computes the
# reservation on the running machine from its RAM and from numbers measured once per distribution build in an
# instrumented QEMU run (/usr/lib/kdump/calibrate.conf, cut from the package source calibrate.conf.all; see
# packaging/suse/calibrate/README). `kdumptool commandline` and YaST (yast/yast-kdump @ 873d4c23893c,
# src/lib/kdump/kdump_calibrator.rb and src/modules/Kdump.rb ProposeAllocatedMemory / crash_kernel_values) turn
# its Low/High lines into crashkernel= words: High > 0 gives "H,high" (plus "L,low" when Low > 0), otherwise
# plain "L". (YaST writes the high word first; the kernel does not care about the order.)

SUSE_KDUMP_REPO = "openSUSE/kdump"
SUSE_KDUMP_COMMIT = "34da4b8824555565b3ba2d03da33ec7802a14ecf"  # kdump 2.1.9+, 2026-04-10
SUSE_CALIBRATE_SRC = (f"{SUSE_KDUMP_REPO} kdumptool/calibrate.cc at commit {SUSE_KDUMP_COMMIT}: runtimeSize() "
                      "and main(); kdumptool/kdumptool do_commandline() for the crashkernel= words")
SUSE_CONF_REPO = "bmwiedemann/openSUSE"  # a git mirror of the openSUSE Factory package sources
SUSE_CONF_COMMIT = "d807b353853bcb736d4839c018cfa87a673cb45a"  # the kdump-2.1.10 package
SUSE_CONF_PATH = "packages/k/kdump/calibrate.conf.all"

#: sysconfig.kdump.in defaults at SUSE_KDUMP_COMMIT: KDUMP_CPUS=32, KDUMP_SAVEDIR=/var/crash (a local file,
#: so no network), KDUMP_DUMPFORMAT=compressed (makedumpfile runs).
SUSE_DEFAULT_CPUS = 32
# calibrate.cc constants (KiB unless named otherwise)
_DEF_FRAMEBUFFER_KIB = 768 * 4  # 1024x768 at 32 bpp, used when /sys/class/graphics cannot be read
_HASH_PER_MIB = 232 * 8  # large system hashes, bytes per MiB of RAM with 8-byte longs
_BUF_PER_DIRTY_MIB = 64
_DIRTY_RATIO = 20
_ADD_RESERVE_PCT = 30
_ADD_RESERVE_KIB = 64 << 10
_MAX_BITMAP_KIB = 32 << 10
_MINLOW_KIB = (64 + 8) << 10  # swiotlb plus 8 MiB for DMA buffers
_SWIOTLB_KIB = 64 << 10
_CONF_KEYS = ("KERNEL_BASE", "KERNEL_INIT", "INIT_NET", "INIT_CACHED", "INIT_CACHED_NET", "PERCPU", "PAGESIZE",
              "SIZEOFPAGE", "USER_BASE", "USER_NET")


@dataclass(frozen=True, slots=True)
class CalibrateConf:
    """One build's calibrate.conf: KiB, except ``pagesize`` and ``sizeofpage`` (bytes)."""

    kernel_base: int  # kernel memory user space never gets, incl. firmware holes and PID 1's fixed needs
    kernel_init: int  # freed after boot (the compressed initramfs)
    init_net: int  # more of that with network
    init_cached: int  # the unpacked initramfs
    init_cached_net: int  # more of that with network
    percpu: int  # kernel memory per CPU
    pagesize: int
    sizeofpage: int  # sizeof(struct page)
    user_base: int
    user_net: int
    source: str = ""


def _conf(values: tuple[int, ...], source: str) -> CalibrateConf:
    return CalibrateConf(*values, source=source)


#: Tumbleweed's lines of calibrate.conf.all (SUSE_CONF_REPO, SUSE_CONF_PATH, SUSE_CONF_COMMIT), in _CONF_KEYS
#: order; the arm64 64K entry is the kernel-64kb flavour (the *_64kb keys, kdump 2.1.2+). No SUSE build has
#: 16K pages, so there is no 16K entry.
SUSE_CALIBRATE_DEFAULTS: dict[tuple[str, int], CalibrateConf] = {
    ("arm64", 4096): _conf((87350, 30384, 8964, 47132, 28400, 2377, 4096, 64, 22764, 2424),
                           f"{SUSE_CONF_REPO} {SUSE_CONF_PATH} @ {SUSE_CONF_COMMIT}, tumbleweed.aarch64"),
    ("arm64", 65536): _conf((148734, 31616, 8960, 101504, 35712, 5249, 65536, 64, 70400, 10816),
                            f"{SUSE_CONF_REPO} {SUSE_CONF_PATH} @ {SUSE_CONF_COMMIT}, tumbleweed.aarch64 *_64kb"),
    ("x86_64", 4096): _conf((115810, 23440, 9732, 41804, 26864, 2143, 4096, 64, 30540, 3204),
                            f"{SUSE_CONF_REPO} {SUSE_CONF_PATH} @ {SUSE_CONF_COMMIT}, tumbleweed.x86_64"),
}


def suse_flavour(arch: str, page_size: int) -> str:
    """The kernel flavour whose suffixed calibrate.conf keys apply (SUSE's arm64 64K kernel is kernel-64kb)."""
    return "64kb" if arch == "arm64" and page_size == 65536 else ""


def parse_calibrate_conf(text: str, where: str, flavour: str = "") -> CalibrateConf:
    """Read a calibrate.conf (``KEY=value`` lines, ``KEY_<flavour>=value`` overrides, ``#`` comments).

    Like kdumptool, a flavoured key wins over the plain one, and every key must end up with a decimal value.
    """
    plain: dict[str, int] = {}
    flavoured: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip().strip('"')
        if not eq or not key:
            raise KdumplabError(f"{where}:{n}", f"not KEY=value: {raw!r}")
        if key == "GENERATED_ON":
            continue
        base, suffix = key, ""
        if key not in _CONF_KEYS:
            base, _, suffix = key.rpartition("_")
            if base not in _CONF_KEYS:
                raise KdumplabError(f"{where}:{n}", f"unknown key {key!r}", f"known keys: {', '.join(_CONF_KEYS)}")
        # ASCII digits only (str.isdigit also takes "²"), and no more than a u64 has
        number = decimal(value, f"{where}:{n}", key)
        if not suffix:
            plain[base] = number
        elif suffix == flavour:
            flavoured[base] = number
    merged = plain | flavoured
    missing = [k for k in _CONF_KEYS if k not in merged]
    if missing:
        raise KdumplabError(where, f"no value for {missing[0]}" + (f" (flavour {flavour})" if flavour else ""))
    conf = _conf(tuple(merged[k] for k in _CONF_KEYS), where + (f" *_{flavour}" if flavour else ""))
    if conf.pagesize <= conf.sizeofpage or conf.sizeofpage == 0:
        raise KdumplabError(where, f"PAGESIZE {conf.pagesize} must be larger than SIZEOFPAGE {conf.sizeofpage} > 0")
    return conf


@dataclass(frozen=True, slots=True)
class Calibration:
    """What ``kdumptool calibrate`` prints (MiB), and the KiB steps that led there."""

    total: int
    low: int
    high: int
    min_low: int
    max_low: int
    min_high: int
    max_high: int
    steps: tuple[tuple[str, int], ...]
    conf: CalibrateConf

    @property
    def cmdline(self) -> str:
        """The crashkernel= words ``kdumptool commandline`` (and YaST) make of Low/High."""
        if self.high:
            high = f"crashkernel={self.high}M,high"
            return f"crashkernel={self.low}M,low {high}" if self.low else high
        return f"crashkernel={self.low}M"

    def text(self) -> str:
        return "".join(f"{k}: {v}\n" for k, v in (
            ("Total", self.total), ("Low", self.low), ("High", self.high), ("MinLow", self.min_low),
            ("MaxLow", self.max_low), ("MinHigh", self.min_high), ("MaxHigh", self.max_high)))


def _ceil_shift(n: int, shift: int) -> int:
    return (n + (1 << shift) - 1) >> shift


def _largest(ram: tuple[tuple[int, int], ...], limit: int, kernel: tuple[int, int] | None, kernel_init: int) -> int:
    """kdumptool's largest free block below ``limit`` (bytes; inclusive ends, as /proc/iomem prints them).

    The block holding the kernel counts as a third of what the kernel leaves, to allow for the kernel and initrd
    being spread across it; kdumptool subtracts KERNEL_INIT there as if it were bytes (it is KiB).
    """
    best = 0
    for start, end in ram:
        last = end - 1
        if start > limit:
            continue
        last = min(last, limit)
        length = last - start + 1
        if kernel is not None and start <= kernel[0] <= last:
            ksize = min(last, kernel[1] - 1) - kernel[0] + 1
            length = max(length - ksize - kernel_init, 0) // 3
        best = max(best, length)
    return best


def _find_top(ram: tuple[tuple[int, int], ...], size: int, align: int) -> int | None:
    """The highest ``align``-ed base where ``size`` bytes fit in one RAM block, tried from the top block down."""
    for start, end in sorted(ram, reverse=True):
        if end < size:
            continue
        base = (end - size) // align * align
        if base >= start:
            return base
    return None


def suse_calibrate(ram: tuple[tuple[int, int], ...], arch: str, conf: CalibrateConf, cpus: int = SUSE_DEFAULT_CPUS,
                   network: bool = False, makedumpfile: bool = True, luks_kib: int = 0,
                   framebuffer_kib: int = _DEF_FRAMEBUFFER_KIB, acpi_slab_kib: int = 0,
                   kernel: tuple[int, int] | None = None) -> Calibration:
    """kdumptool calibrate for System RAM blocks ``ram`` ([start, end) bytes), all in integer KiB as it does.

    Run-time need = kernel base + unpacked initramfs + twice the framebuffers + LUKS + ACPI slabs + per-CPU
    (calibrated PERCPU, 2 x 50K thread, 3 makedumpfile pages, 128K + 5K makedumpfile work areas; x ``cpus``,
    KDUMP_CPUS) + user space (base, network, makedumpfile's two bitmaps of 1 bit per page capped at 32 MiB, and
    96 bytes per 2^27 KiB of RAM); then grown so 20% dirty page cache with 64K of I/O state per dirty MiB fits,
    then for the large system hashes (232 longs per MiB), then for the struct pages of the whole reservation.
    The larger of that and the boot-time need (base + init + initramfs, + network parts) gets +30% + 64 MiB.
    x86_64 then places it as high as it fits (16 MiB aligned): ending at or above 4 GiB adds 64 MiB of
    swiotlb, and a base above 4 GiB moves 72 MiB to Low and the rest to High. Every other arch prints it all
    as Low.
    """
    memtotal = _ceil_shift(sum(e - s for s, e in ram), 10)
    boot = conf.kernel_base + conf.kernel_init + conf.init_cached
    if network:
        boot += conf.init_net + conf.init_cached_net
    steps: list[tuple[str, int]] = [("memtotal", memtotal), ("boot", boot)]
    need = conf.kernel_base + conf.init_cached + 2 * framebuffer_kib + luks_kib + acpi_slab_kib
    percpu = conf.percpu + 2 * 50 + 3 * conf.pagesize // 1024 + 128 + 5
    need += percpu * cpus
    steps += [("kernel+initramfs+fb+luks+slabs", need - percpu * cpus), ("percpu", percpu),
              ("percpu total", percpu * cpus)]
    user = conf.user_base + (conf.user_net if network else 0)
    if makedumpfile:
        user += min(_ceil_shift(memtotal // conf.pagesize, 2), _MAX_BITMAP_KIB)
        user += 96 * _ceil_shift(memtotal, 27)
    need += user
    steps += [("user", user), ("before dirty", need)]
    need = need * (100 << 10) // ((100 << 10) - (_DIRTY_RATIO << 10) - _DIRTY_RATIO * _BUF_PER_DIRTY_MIB)
    steps.append(("after dirty+io", need))
    need = need * (1024 << 10) // ((1024 << 10) - _HASH_PER_MIB)
    steps.append(("after hashes", need))
    prev = need
    grown = need * conf.pagesize // (conf.pagesize - conf.sizeofpage)
    need = prev + (grown - prev) // conf.sizeofpage * conf.sizeofpage
    steps.append(("after memmap (run time)", need))
    required = max(need, boot) - luks_kib
    required = required * (100 + _ADD_RESERVE_PCT) // 100 + _ADD_RESERVE_KIB + luks_kib
    steps.append(("required", required))
    if arch == "x86_64":
        base = _find_top(ram, required << 10, 16 << 20)
        base_or_top = (1 << 64) - 1 if base is None else base
        if base_or_top + (required << 10) >= 1 << 32:
            required += _SWIOTLB_KIB
            steps.append(("+swiotlb", required))
        if base_or_top < 1 << 32:
            low = min_low = 0
        else:
            low = min_low = _MINLOW_KIB
            required = max(required - low, 0)
            required = max(required, boot)
        high = required
        max_low = _largest(ram, 1 << 32, kernel, conf.kernel_init) >> 10
        max_high = _largest(ram, (1 << 64) - 1, kernel, conf.kernel_init) >> 10
    else:
        low, min_low, high = required, _MINLOW_KIB, 0
        max_low = _largest(ram, (1 << 64) - 1, kernel, conf.kernel_init) >> 10
        max_high = 0
    return Calibration(total=memtotal >> 10, low=_ceil_shift(low, 10), high=_ceil_shift(high, 10),
                       min_low=_ceil_shift(min_low, 10), max_low=max_low >> 10, min_high=0,
                       max_high=max_high >> 10, steps=tuple(steps), conf=conf)


def _size(text: str) -> int:
    mult = {"K": 1 << 10, "M": SZ_1M, "G": SZ_1G, "T": 1 << 40}
    text = text.strip().upper()
    return int(text[:-1]) * mult[text[-1]] if text and text[-1] in mult else int(text or 0)


def parse_ranges(ranges: str) -> tuple[tuple[int, int | None, int], ...]:
    out = []
    for part in ranges.split(","):
        rng, size = part.split(":")
        lo, hi = rng.split("-")
        out.append((_size(lo), _size(hi) if hi else None, _size(size)))
    return tuple(out)


def pick(ranges: str, ram: int) -> int:
    """The size a range list gives for ``ram`` bytes (0 when no range matches)."""
    for lo, hi, size in parse_ranges(ranges):
        if ram >= lo and (hi is None or ram < hi):
            return size
    return 0


def usual_need(arch: str, ram: int) -> int:
    """The kdump-utils default for this RAM: the smallest size people ship, used by ``check``."""
    table = next(t for t in TABLES if t.name == "kdump-utils" and t.arch == arch)
    return pick(table.ranges, ram)


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    cmdline: str
    size: int
    source: str
    verdict: str = "n/a"
    placement: str = ""
    #: does kdump then work (verdict.judge with the kexec-tools Debian ships beside the kernel)
    kdump: str = ""
    status: int = 1
    #: where the kernel's place is random (x86 KASLR): does it reserve wherever the kernel lands (None: fixed)
    everywhere: bool | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    machine: str
    kernel: str
    ram: int
    candidates: tuple[Candidate, ...]
    #: the kdumptool calibrate model behind the "suse-calibrate" candidate (None when no calibrate.conf applies)
    calibration: Calibration | None = None
    #: index of the one value to use (None when no candidate reserves), and why
    chosen: int | None = None
    why: str = ""
    #: one range expression for a fleet of this architecture, and what it does on this machine
    fleet: str = ""
    fleet_here: str = ""

    @property
    def use(self) -> Candidate | None:
        return None if self.chosen is None else self.candidates[self.chosen]


def _place(result: model.Result) -> str:
    regs = result.outcome.regions
    if not regs:
        return result.outcome.reason
    return ", ".join(f"{r.role} {r.start:#x}-{r.end - 1:#x} {iec(r.size)}" for r in regs)


def fleet_ranges(arch: str) -> str:
    """One range expression no table undercuts: at every RAM size the largest value any distribution table
    gives (range ends from all tables; start inclusive, end exclusive, as the kernel reads them)."""
    tables = [t.ranges for t in TABLES if t.arch == arch]
    if not tables:
        return ""
    cuts = sorted({lo for t in tables for lo, _, _ in parse_ranges(t)} |
                  {hi for t in tables for _, hi, _ in parse_ranges(t) if hi is not None})
    out: list[list] = []
    for lo, hi in zip(cuts, [*cuts[1:], None], strict=True):
        size = max(pick(t, lo) for t in tables)
        if out and out[-1][2] == size and out[-1][1] == lo:
            out[-1][1] = hi
        elif size:
            out.append([lo, hi, size])
    return ",".join(f"{format_size(lo)}-{format_size(hi) if hi else ''}:{format_size(size)}" for lo, hi, size in out)


def _choose(cands: list[Candidate], ram: int, kexec: str | None) -> tuple[int | None, str]:
    """The one value to use: one that reserves and with which kdump works, ours (the largest any distribution
    ships) first; else the best that reserves."""
    order = sorted(range(len(cands)), key=lambda i: (cands[i].verdict != "reserved", cands[i].everywhere is False,
                                                      cands[i].status, not cands[i].name.startswith("kdumplab"), i))
    best = order[0] if order and cands[order[0]].verdict == "reserved" else None
    if best is None:
        return None, "no candidate reserves on this machine: see kdumplab explain"
    c = cands[best]
    what = ("the largest value any distribution ships for this RAM, so none undercuts it" if c.name.startswith(
        "kdumplab") else f"{c.name}'s value")
    split = " as a high/low split, because the plain value does not fit below the DMA limit" if ",high" in \
        c.cmdline else ""
    works = (f"; kexec-tools {kexec} loads the crash kernel with no problem" if c.status == 0 and kexec
             else f"; with kexec-tools {kexec}: {c.kdump}" if kexec else "")
    kaslr = ("; but it fails on some boots: the kernel's random place (KASLR) can take the room it needs, and no "
             "candidate reserves on every boot" if c.everywhere is False else "")
    return best, f"{what}{split}; reserved here ({c.placement}){works}{kaslr}"


def _system_ram(machine: Machine) -> tuple[tuple[int, int], ...]:
    """The "System RAM" blocks of /proc/iomem kdumptool reads: mapped banks less no-map ranges, [start, end)."""
    blocks = sorted((b.start, b.start + b.size) for b in machine.banks if not b.nomap)
    for r in machine.reserved:
        if not r.nomap:
            continue
        cut: list[tuple[int, int]] = []
        for start, end in blocks:
            if r.start >= end or r.start + r.size <= start:
                cut.append((start, end))
                continue
            if start < r.start:
                cut.append((start, r.start))
            if r.start + r.size < end:
                cut.append((r.start + r.size, end))
        blocks = cut
    return tuple(blocks)


def recommend(machine: Machine, kernel: str, page_size: int = 4096, smmu: bool = False,
              nic_drivers: tuple[str, ...] = (), calibrate_conf: CalibrateConf | None = None,
              kdump_cpus: int = SUSE_DEFAULT_CPUS, network_dump: bool = False) -> Recommendation:
    """Every table's value for this machine, SUSE's calibrate estimate, and ours, each run through the model.

    A candidate whose plain value does not reserve, or (arm64) lands above the DMA limit with no low region,
    is tried again as ``X,high`` plus a low region: 128 MiB for the tables (the kernel's arm64/x86 default low
    size), SUSE's MinLow (72 MiB) for suse-calibrate.
    """
    ram = sum(b.size for b in machine.banks if not b.nomap)
    arch = machine.arch
    # (name, total size, source, cmdline, low size for the split)
    cands: list[tuple[str, int, str, str, int]] = []
    for t in TABLES:
        if t.arch != arch:
            continue
        size = pick(t.ranges, ram)
        extra = 0
        if t.name == "kdump-utils" and arch == "arm64":
            if page_size == 65536:
                extra += ARM64_DELTA_64K + (ARM64_DELTA_64K_SMMU if smmu else 0)
            if "mlx5" in nic_drivers or "mlx5_core" in nic_drivers:
                extra += ARM64_DELTA_MLX5.get(page_size, 150)
        if size:
            size += extra * SZ_1M
            cands.append((t.name, size, f"{t.source}; table {t.ranges}" + (f" + {extra}M adjustments" if extra else ""),
                          f"crashkernel={size // SZ_1M}M", 128))
    # ours: the largest table value, so the smallest-shipping distro is not undercut
    if cands:
        ours = max(c[1] for c in cands)
        cands.append(("kdumplab", ours, "largest of the range tables above (none of them is known to be too big)",
                      f"crashkernel={ours // SZ_1M}M", 128))
    conf = calibrate_conf or SUSE_CALIBRATE_DEFAULTS.get((arch, page_size))
    cal = None
    if conf is not None:
        k = machine.kernel
        kimg = (k.load_address, k.load_address + k.end) if k else None  # the iomem "Kernel code/data" span
        cal = suse_calibrate(_system_ram(machine), arch, conf, cpus=kdump_cpus, network=network_dump, kernel=kimg)
        src = (f"{SUSE_CALIBRATE_SRC}; calibrate.conf {conf.source}; KDUMP_CPUS={kdump_cpus}"
               f"{', network dump' if network_dump else ''}; " + " ".join(cal.text().split()))
        cands.append(("suse-calibrate", (cal.low + cal.high) * SZ_1M, src, cal.cmdline, cal.min_low or 72))
    out: list[Candidate] = []
    # the model runs the kernel of the page size asked for
    base = model.Scenario(dataclasses.replace(machine, page_size=page_size), "", kernel)
    dma_limit = machine.dma_address_limit
    pol = policy.for_kernel(kernel, arch)
    kexec = paired_kexec_tools(pol.name, pol.kexec_generation) if arch == "arm64" else None

    everywhere_of: dict[str, bool] = {}

    def everywhere(res: model.Result) -> bool | None:
        """x86 with KASLR: the candidate must reserve on every place the kernel can land, not just the nokaslr
        one (kdumplab.kaslr); None where the kernel's place is fixed."""
        scn = res.scenario
        if not kaslr.placement_is_random(scn.machine, scn.cmdline):
            return None
        if scn.cmdline not in everywhere_of:
            everywhere_of[scn.cmdline] = res.outcome.verdict is Verdict.RESERVED and kaslr.reserves_everywhere(scn)
        return everywhere_of[scn.cmdline]

    def cand(name: str, cmd: str, size: int, src: str, res: model.Result) -> Candidate:
        status, kdump = (0 if res.outcome.regions else 1), ""
        if kexec and res.outcome.regions:
            j = judge(model.run(dataclasses.replace(res.scenario, kexec_tools=kexec)))
            status, kdump = j.status, j.short
        every = everywhere(res)
        place = _place(res) + ("" if every is None else "; on every place KASLR can put the kernel" if every
                               else "; NOT on every boot: the kernel's random place (KASLR) can take the room")
        return Candidate(name, cmd, size, src, str(res.outcome.verdict), place, kdump,
                         1 if every is False and status == 0 else status, every)

    for name, size, src, cmd, low in cands:
        res = model.run(dataclasses.replace(base, cmdline=cmd))
        if ",high" not in cmd and (res.outcome.verdict is not Verdict.RESERVED or (
                arch == "arm64" and dma_limit is not None and res.outcome.main and res.outcome.main.high
                and res.outcome.low is None)):
            # the split: the big region high, a small one low for swiotlb and 32-bit DMA
            split = f"crashkernel={size // SZ_1M}M,high crashkernel={low}M,low"
            res2 = model.run(dataclasses.replace(base, cmdline=split))
            if res2.outcome.verdict is Verdict.RESERVED:
                out.append(cand(name, cmd, size, src, res))
                cmd, res, name = split, res2, f"{name} (high/low split)"
        out.append(cand(name, cmd, size, src, res))
    if cal is None:
        out.append(Candidate("suse-calibrate", "", 0, f"no SUSE calibrate.conf for {arch} with {page_size // 1024}K "
                             "pages (SUSE builds 4K and arm64 64K kernels); pass one with --calibrate-conf"))
    chosen, why = _choose(out, ram, kexec)
    fleet = fleet_ranges(arch)
    here = ""
    if fleet:
        res = model.run(dataclasses.replace(base, cmdline=f"crashkernel={fleet}"))
        here = f"{res.outcome.verdict} here ({_place(res)})"
    return Recommendation(machine.name, kernel, ram, tuple(out), cal, chosen, why, fleet, here)
