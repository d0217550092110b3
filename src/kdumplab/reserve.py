"""The crash reservation itself: a parsed request placed in memblock by one policy.

Mirrors arm64 ``reserve_crashkernel()`` (5.10, 6.1), ``reserve_crashkernel_generic()`` (6.12, 7.2) and the
two 2019 proposals. Input is the memblock state at the moment the reservation runs (``kdumplab.early``
computes it); output is the regions, the kernel's log lines, and memblock afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Final

from kdumplab.frozen import maker
from kdumplab.memblock import Memblock
from kdumplab.outcome import CrashRegion, Role
from kdumplab.policy import Feature, PolicyData
from kdumplab.ranges import align_up

__all__ = ["Placement", "reserve_crashkernel"]

def _native_crash_region(role: Role, start: int, end: int, name: str, nomap: bool, high: bool,
                         in_iomem: bool) -> CrashRegion:
    """``CrashRegion(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = CrashRegion.__new__(CrashRegion)
    o.role = role  # type: ignore[misc]
    o.start = start  # type: ignore[misc]
    o.end = end  # type: ignore[misc]
    o.name = name  # type: ignore[misc]
    o.nomap = nomap  # type: ignore[misc]
    o.high = high  # type: ignore[misc]
    o.in_iomem = in_iomem  # type: ignore[misc]
    return o


#: ``CrashRegion(role, start, end, name, nomap, high, in_iomem)`` for values reserve_crashkernel made itself
_crash_region: Final = maker(CrashRegion, ("role", "start", "end", "name", "nomap", "high", "in_iomem"),
                             _native_crash_region)
_start = attrgetter("start")


@dataclass(frozen=True, slots=True)
class Placement:
    """What the reservation did."""

    regions: tuple[CrashRegion, ...]
    log: tuple[str, ...]
    reason: str
    memblock: Memblock
    attempted: bool = True


def _native_placement(regions: tuple[CrashRegion, ...], log: tuple[str, ...], reason: str, memblock: Memblock,
                      attempted: bool = True) -> Placement:
    """``Placement(...)`` in the compiled build (kdumplab.frozen.maker; tests/test_frozen.py)."""
    o = Placement.__new__(Placement)
    o.regions = regions  # type: ignore[misc]
    o.log = log  # type: ignore[misc]
    o.reason = reason  # type: ignore[misc]
    o.memblock = memblock  # type: ignore[misc]
    o.attempted = attempted  # type: ignore[misc]
    return o


#: ``Placement(...)``, once a reservation (kdumplab.frozen; Placement checks nothing)
_placement: Final = maker(Placement, tuple(f.name for f in fields(Placement)), _native_placement)


def _main_line(base: int, size: int) -> str:
    return f"crashkernel reserved: 0x{base:016x} - 0x{base + size:016x} ({size >> 20} MB)"


def _low_line(base: int, size: int) -> str:
    return f"crashkernel low memory reserved: 0x{base:08x} - 0x{base + size:08x} ({size >> 20} MB)"


def _cannot(size: int) -> str:
    return f"cannot allocate crashkernel (size:0x{size:x})"


def _fixed_base_checks(mb: Memblock, base: int, size: int, align: int) -> str | None:
    """5.10's hand-made checks for ``crashkernel=X@Y``, in the kernel's order; the first failure wins."""
    if not mb.is_region_memory(base, size):
        return "cannot reserve crashkernel: region is not memory"
    if mb.is_region_reserved(base, size):
        return "cannot reserve crashkernel: region overlaps reserved memory"
    if base % align:
        return "cannot reserve crashkernel: base address is not 2MB aligned"
    return None


#: the 2019 series' reserve_crashkernel_low() searches [0, 1ULL << 32) whatever the DMA limit
_LOW_HELPER_2019_MAX: Final = 1 << 32


def _low_ram(mb: Memblock, limit: int) -> int:
    """memblock_mem_size(limit >> PAGE_SHIFT): every memory region's bytes below ``limit``, NOMAP too."""
    return sum(max(0, min(r.end, limit) - r.base) for r in mb.memory)


def _reserve_low(policy: PolicyData, mb: Memblock, size: int, low_max: int
                 ) -> tuple[CrashRegion | None, str, Memblock]:
    """reserve_crashkernel_low(): ``size`` below the low limit, top-down, not page-rounded."""
    if policy.has(Feature.LOW_HELPER_2019):
        low_max = _LOW_HELPER_2019_MAX
    addr, after = mb.alloc_range(size, policy.crash_align, 0, low_max, "crashkernel low")
    if addr is None:
        if policy.has(Feature.LOW_HELPER_2019):
            return None, (f"{policy.low_log_prefix}Cannot reserve {size >> 20}MB crashkernel low memory, "
                          "please try smaller size."), mb
        return None, f"cannot allocate crashkernel low memory (size:0x{size:x}).", mb
    if policy.has(Feature.LOW_REGION_NOMAP):
        after = after.mark_nomap(addr, size)
    region = CrashRegion(Role.LOW, addr, addr + size, policy.low_name,
                         nomap=policy.has(Feature.LOW_REGION_NOMAP), high=False)
    if policy.has(Feature.LOW_HELPER_2019):
        line = (f"{policy.low_log_prefix}Reserving {size >> 20}MB of low memory at {addr >> 20}MB for crashkernel "
                f"(System low RAM: {_low_ram(mb, _LOW_HELPER_2019_MAX) >> 20}MB)")
        return region, line, after
    return region, _low_line(addr, size), after


def _main_region(policy: PolicyData, addr: int, size: int, low_max: int) -> CrashRegion:
    """The main crash region at ``addr``: above the low limit or not; 6.12+ never inserts a resource with start
    == end into /proc/iomem."""
    shown = not (policy.has(Feature.IOMEM_ONLY_IF_NONEMPTY) and size == 1)
    return _crash_region(Role.MAIN, addr, addr + size, policy.main_name, False, addr >= low_max, shown)


def _with_low(low: CrashRegion | None, regions: tuple[CrashRegion, ...]) -> tuple[CrashRegion, ...]:
    """``regions`` and a low region (None: none), in address order (a lone region as it is, without a sort)."""
    if low is not None:
        regions = (low, *regions)
    return regions if len(regions) < 2 else tuple(sorted(regions, key=_start))


def reserve_crashkernel(policy: PolicyData, mb: Memblock, size: int, base: int | None, high: bool,
                        low_size: int | None, low_max: int, page_size: int) -> Placement:
    """Place one parsed request. ``base`` None is automatic placement; ``low_size`` None means not given."""
    align = policy.crash_align
    high_max = policy.high_max
    if policy.has(Feature.PAGE_ROUND_SIZE):
        size = align_up(size, page_size)
    log: list[str] = []
    if policy.has(Feature.X86_LEGACY):
        return _reserve_x86_legacy(policy, mb, size, base, high, low_size, low_max)

    # -- 2019 review (v7): an explicit Y,low is reserved first, before anything else --------------------
    # When it succeeds the low limit is lifted for X; when it fails (its message is printed) X is still
    # tried below the low limit; when X then fails, the low region stays reserved and shown.
    low_first: CrashRegion | None = None
    window_end = low_max
    if policy.has(Feature.LOW_FIRST) and low_size:
        low_first, line, mb2 = _reserve_low(policy, mb, low_size, low_max)
        log.append(line)
        if low_first is not None:
            mb, window_end = mb2, high_max

    # -- a fixed base: exactly [base, base + size) or nothing ----------------------------------------
    if base is not None:
        if policy.has(Feature.FIXED_BASE_CHECKS):
            problem = _fixed_base_checks(mb, base, size, align)
            if problem:
                return _placement(_with_low(low_first, ()), (*log, problem),
                                  f"the fixed base {base:#x} cannot be used: {problem}", mb)
            after = mb.reserve(base, size, "crashkernel")
        else:
            addr, after = mb.alloc_range(size, align, base, base + size, "crashkernel")
            if addr is None:
                msg = ("crashkernel reservation failed - memory is in use."
                       if policy.has(Feature.FIXED_BASE_IN_USE_MESSAGE) else _cannot(size))
                why = _why_fixed(mb, base, size, align)
                return _placement((), (msg,), f"the fixed base {base:#x} cannot be used: {why}", mb)
        if (policy.has(Feature.LOW_HELPER_2019) and not policy.has(Feature.LOW_FIRST)
                and base >= _LOW_HELPER_2019_MAX):
            # v5: a fixed base at or above 4 GiB takes a low region as well (,low or the default)
            want = policy.default_low_size if low_size is None else low_size
            if want:
                low_region, line, after2 = _reserve_low(policy, after, want, low_max)
                if low_region is None:
                    return _placement((), (line,), "the fixed base was free but the low region did not fit; "
                                      "the main region was freed", after.free(base, size))
                main = _main_region(policy, base, size, low_max)
                return _placement(_with_low(low_first, (low_region, main)), (line, _main_line(base, size)),
                                  f"reserved at the fixed base {base:#x} with a low region", after2)
        main = _main_region(policy, base, size, low_max)
        return _placement(_with_low(low_first, (main,)), (*log, _main_line(base, size)),
                          f"reserved at the fixed base {base:#x}", after)

    # -- 2019 review: Y,low first (above), then X anywhere; without Y,low, X only below the low limit ----
    if policy.has(Feature.LOW_FIRST):
        addr, after = mb.alloc_range(size, align, 0, window_end, "crashkernel")
        if addr is None:
            log.append(_cannot(size))
            why = _why_window(mb, size, 0, window_end)
            if low_first is not None:
                why += "; the low region reserved first stays reserved"
            return _placement(_with_low(low_first, ()), tuple(log), why, mb)
        log.append(_main_line(addr, size))
        return _placement(_with_low(low_first, (_main_region(policy, addr, size, low_max),)), tuple(log),
                          "reserved (low region first, then the main region anywhere)" if low_first
                          else f"reserved below the low limit {low_max:#x}", after)

    # -- automatic placement with the windows and fallbacks of the policy ------------------------------
    if high:
        start = 0 if policy.has(Feature.HIGH_SEARCH_FROM_ZERO) else low_max
        windows = [(start, high_max)]
        if policy.has(Feature.HIGH_FALLS_BACK_LOW) and low_max != high_max:
            windows.append((0, low_max))
    else:
        windows = [(0, low_max)]
        if policy.has(Feature.PLAIN_FALLS_BACK_HIGH):
            start = 0 if policy.has(Feature.HIGH_SEARCH_FROM_ZERO) else low_max
            windows.append((start, high_max))
    addr = None
    after = mb
    used = windows[0]
    for i, (lo, hi) in enumerate(windows):
        addr, after = mb.alloc_range(size, align, lo, hi, "crashkernel")
        used = (lo, hi)
        if addr is not None:
            if not high and i > 0 and low_size is None:
                low_size = policy.default_low_size  # the low->high fallback forces the default low size
            break
    if addr is None:
        log.append(_cannot(size))
        return _placement((), tuple(log), "; ".join(_why_window(mb, size, lo, hi) for lo, hi in windows), mb)

    if high and low_size is None:
        low_size = policy.default_low_size
    low_region = None
    needs_low = addr >= (_LOW_HELPER_2019_MAX if policy.has(Feature.LOW_HELPER_2019) else low_max)
    if needs_low and low_size:
        low_region, line, after2 = _reserve_low(policy, after, low_size, low_max)
        log.append(line)
        if low_region is None:
            return _placement((), tuple(log),
                              "the main region was found but the low region did not fit; both were released",
                              after.free(addr, size))
        after = after2
    log.append(_main_line(addr, size))
    main = _main_region(policy, addr, size, low_max)
    regions = _with_low(low_region, (main,))
    where = "above" if addr >= low_max else "below"
    reason = f"reserved {where} the low limit {low_max:#x} in the window [{used[0]:#x}, {used[1]:#x})"
    if len(windows) > 1 and used != windows[0]:
        reason += " after the first window had no room"
    return _placement(regions, tuple(log), reason, after)


def _reserve_x86_legacy(policy: PolicyData, mb: Memblock, size: int, base: int | None, high: bool,
                        low_size: int | None, low_max: int) -> Placement:
    """x86 reserve_crashkernel() of 5.10/6.1: [16M, 4G) unless ,high, then [16M, 64T); 1 MiB-aligned fixed
    base; a main region at or above 4 GiB takes a low region (,low or 256 MiB; ,low=0 none)."""
    align = policy.crash_align
    ram = mb.phys_mem_size()
    if base is None:
        addr = None
        after = mb
        if not high:
            addr, after = mb.alloc_range(size, align, align, low_max, "crashkernel")
        if addr is None:
            addr, after = mb.alloc_range(size, align, align, policy.high_max, "crashkernel")
        if addr is None:
            return _placement((), ("crashkernel reservation failed - No suitable area found.",),
                              _why_window(mb, size, align, policy.high_max), mb)
    else:
        addr, after = mb.alloc_range(size, 1 << 20, base, base + size, "crashkernel")
        if addr != base:
            return _placement((), ("crashkernel reservation failed - memory is in use.",),
                              f"the fixed base {base:#x} cannot be used: {_why_fixed(mb, base, size, 1 << 20)}", mb)
    log: list[str] = []
    low_region = None
    if addr >= 1 << 32:
        want = policy.default_low_size if low_size is None else low_size
        if want:
            low_addr, after2 = after.alloc_range(want, align, 0, low_max, "crashkernel low")
            if low_addr is None:
                log.append(f"Cannot reserve {want >> 20}MB crashkernel low memory, please try smaller size.")
                return _placement((), tuple(log), "the low region did not fit below 4 GiB; the main region was freed",
                                  after.free(addr, size))
            log.append(f"Reserving {want >> 20}MB of low memory at {low_addr >> 20}MB for crashkernel "
                       f"(low RAM limit: {min(ram, low_max) >> 20}MB)")
            low_region = CrashRegion(Role.LOW, low_addr, low_addr + want, policy.low_name)
            after = after2
    log.append(f"Reserving {size >> 20}MB of memory at {addr >> 20}MB for crashkernel (System RAM: {ram >> 20}MB)")
    return _placement(_with_low(low_region, (_main_region(policy, addr, size, low_max),)), tuple(log),
                      f"reserved at {addr:#x}" + (" with a low region" if low_region else ""), after)


def _largest_free(mb: Memblock, lo: int, hi: int) -> int:
    best = 0
    for s, e, _ in mb.free_ranges():
        s, e = max(s, lo), min(e, hi)
        best = max(best, e - s)
    return best


def _why_window(mb: Memblock, size: int, lo: int, hi: int) -> str:
    return (f"no free block of {size:#x} bytes in [{lo:#x}, {hi:#x}) "
            f"(largest free block there: {_largest_free(mb, lo, hi):#x})")


def _why_fixed(mb: Memblock, base: int, size: int, align: int) -> str:
    if base % align:
        return f"the base is not {align >> 20} MiB aligned"
    if not mb.is_region_memory(base, size):
        return "the range is not (all) memory"
    if mb.is_region_reserved(base, size):
        return "the range overlaps memory already reserved"
    return "the range is not usable memory (NOMAP)"
