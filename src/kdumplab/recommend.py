"""crashkernel= sizes from the tables distributions use today, and our own estimate, each checked on the model.

Every table carries where it was read. Range syntax is the kernel's: ``start-end:size``, start inclusive,
end exclusive, matched against the machine's RAM (kdump-utils spec/kdump-lib_spec.sh writes down the same rule).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kdumplab import model
from kdumplab.machine import Machine
from kdumplab.outcome import Verdict
from kdumplab.ranges import SZ_1G, SZ_1M

__all__ = ["Table", "TABLES", "Candidate", "Recommendation", "pick", "parse_ranges", "recommend", "usual_need"]



@dataclass(frozen=True, slots=True)
class Table:
    name: str
    arch: str
    ranges: str
    source: str


KDUMP_UTILS_SRC = ("rhkdump/kdump-utils kdump-lib.sh, kdump_get_arch_recommend_crashkernel, the version with "
                   "the aarch64 64K/SMMU/mlx5 deltas and the ostree maximize_crashkernel switch (search index file "
                   "id 10888406376); an older version (file id 11657087219) had 1G-4G:192M (x86_64) and "
                   "1G-4G:256M (aarch64) as the first range and no deltas")
UBUNTU_SRC = ("Ubuntu kdump-tools 1.10.7ubuntu3, /etc/default/grub.d/kdump-tools.cfg (one line, quoted whole "
              "in a public repository, search index file id 70601192797; the same value is on Ubuntu 24.04+ "
              "arm64 and amd64 cmdlines)")

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
ARM64_DELTA_64K = 100
ARM64_DELTA_64K_SMMU = 384
ARM64_DELTA_MLX5 = {4096: 150, 65536: 200}


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


@dataclass(frozen=True, slots=True)
class Recommendation:
    machine: str
    kernel: str
    ram: int
    candidates: tuple[Candidate, ...]


def _place(result: model.Result) -> str:
    regs = result.outcome.regions
    if not regs:
        return result.outcome.reason
    return ", ".join(f"{r.role}: [{r.start:#x}, {r.end:#x}) {r.size // SZ_1M} MiB" for r in regs)


def recommend(machine: Machine, kernel: str, page_size: int = 4096, smmu: bool = False,
              nic_drivers: tuple[str, ...] = ()) -> Recommendation:
    """Every table's value for this machine, plus ours, each run through the model on ``machine``."""
    ram = sum(b.size for b in machine.banks if not b.nomap)
    arch = machine.arch
    cands: list[tuple[str, int, str]] = []
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
            cands.append((t.name, size + extra * SZ_1M, f"{t.source}; table {t.ranges}"
                          + (f" + {extra}M adjustments" if extra else "")))
    # ours: the largest table value, so the smallest-shipping distro is not undercut
    if cands:
        ours = max(c[1] for c in cands)
        cands.append(("kdumplab", ours, "largest of the tables above (none of them is known to be too big)"))
    out: list[Candidate] = []
    base = model.Scenario(machine, "", kernel)
    dma_limit = machine.dma_address_limit
    for name, size, src in cands:
        cmd = f"crashkernel={size // SZ_1M}M"
        res = model.run(dataclasses.replace(base, cmdline=cmd))
        if res.outcome.verdict is not Verdict.RESERVED or (arch == "arm64" and dma_limit is not None and
                                                           res.outcome.main and res.outcome.main.high and
                                                           res.outcome.low is None):
            # the arm64 split: the big region high, a small one low for swiotlb and 32-bit DMA
            split = f"crashkernel={size // SZ_1M}M,high crashkernel=128M,low"
            res2 = model.run(dataclasses.replace(base, cmdline=split))
            if res2.outcome.verdict is Verdict.RESERVED:
                out.append(Candidate(name, cmd, size, src, str(res.outcome.verdict), _place(res)))
                cmd, res, name = split, res2, f"{name} (high/low split)"
        out.append(Candidate(name, cmd, size, src, str(res.outcome.verdict), _place(res)))
    return Recommendation(machine.name, kernel, ram, tuple(out))
