"""What the reservation stage produces: the crash regions, the log, and why.

A failed reservation is an outcome, not an exception. Regions are half-open; ``end`` in JSON and in the
kernel's own text is inclusive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kdumplab.ranges import PhysRange, make_range

__all__ = ["Role", "Verdict", "CrashRegion", "BootOutcome", "EarlyAlloc"]


class Role(enum.StrEnum):
    """``crashk_res`` (the main region, where the crash kernel is loaded) or ``crashk_low_res``."""

    MAIN = "main"
    LOW = "low"


class Verdict(enum.StrEnum):
    RESERVED = "reserved"  # at least the main region exists
    FAILED = "failed"  # a reservation was asked for and did not happen
    NONE = "none"  # nothing was asked for (no usable crashkernel= for this generation)


@dataclass(frozen=True, slots=True)
class CrashRegion:
    role: Role
    start: int
    end: int
    name: str = "Crash kernel"
    #: the region is memblock NOMAP (never in the linear map): the 2019 review's low region
    nomap: bool = False
    #: above the low/high boundary (CRASH_ADDR_LOW_MAX, the DMA limit)
    high: bool = False
    #: a 1-byte region is reserved but never inserted into /proc/iomem (6.12+: start must be < end)
    in_iomem: bool = True

    @property
    def range(self) -> PhysRange:
        return make_range(self.start, self.end)  # start <= end: reserve made it, or the kernel printed it

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class EarlyAlloc:
    """An allocation the kernel made before the crash reservation (CMA, page tables, memmap, ...)."""

    what: str
    start: int
    size: int


@dataclass(frozen=True, slots=True)
class BootOutcome:
    """The crash reservation of one boot: regions (address order), the log lines, and the reason."""

    policy: str
    verdict: Verdict
    regions: tuple[CrashRegion, ...]
    log: tuple[str, ...]
    reason: str
    low_max: int
    high_max: int
    system_ram: int
    early: tuple[EarlyAlloc, ...] = ()

    @property
    def main(self) -> CrashRegion | None:
        for r in self.regions:  # a loop, not next() over a generator: a sweep asks this for every point
            if r.role is Role.MAIN:
                return r
        return None

    @property
    def low(self) -> CrashRegion | None:
        for r in self.regions:
            if r.role is Role.LOW:
                return r
        return None
