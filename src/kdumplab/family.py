"""Which behaviour family of crash reservation wrote a piece of evidence: from a release string, or backwards
from the log's wording (style.md section 3: black's ``VERSION_TO_FEATURES`` table, run both ways).

A family is a span of kernels whose ``crashkernel=`` behaves the same for what ``check`` judges: the window
the crash region is searched in, how the end of ZONE_DMA is sized, whether ``,high``/``,low`` exist, whether
a default low region is added, and which messages the kernel prints. Each boundary names the upstream
commit and the first release with it, and the stable release that took a backport where one did.

Families and their boundaries (upstream commit, first release; stable backports where known):

- ``arm64-low-4g`` (4.12-5.4): "arm64: kdump: reserve memory for crash dump kernel" (v4.12). One low DMA zone
  (renamed ZONE_DMA32 by "arm64: replace ZONE_DMA with ZONE_DMA32", v5.0) covers the low 4 GiB;
  the crash region is searched only below it.
- ``arm64-dma-1g`` (5.5-5.10.21): 1a8e1cef7603 "arm64: use both ZONE_DMA and ZONE_DMA32" (v5.5). ZONE_DMA is
  30 bits (1 GiB) on every machine while ``reserve_crashkernel`` still searches below 4 GiB, so the crash
  kernel gets no ZONE_DMA memory ("arm64: mm: fix kdump broken with ZONE_DMA reintroduced", Chen Zhou,
  linux-kernel 2020-12-26).
- ``arm64-dma-fw`` (5.11-5.18, and 5.10.22+): 8424ecdde7df "arm64: mm: Set ZONE_DMA size based on
  devicetree's dma-ranges", "... based on early IORT scan", 0a30c53573b0 "arm64: mm: Move
  reserve_crashkernel() into mem_init()" (v5.11). Stable took them in 5.10.22 (debian/changelog of
  linux 5.10.24-1 lists them under ChangeLog-5.10.22; Debian ABI 5.10.0-5).
- ``arm64-high-low`` (5.19-6.4): 944a45abfabc "arm64: kdump: Reimplement crashkernel=X" (v5.19): ``,high`` and
  ``,low``; no default low region and no fallback (recorded Debian 6.1 boots, tests/data/realboots).
- ``arm64-default-low`` (6.5-6.6): 6c4dcaddbd36 "arm64: kdump: simplify the reservation behaviour of
  crashkernel=,high" (v6.5): plain ``X`` falls back high with a default 128 MiB low region; ``,high`` falls
  back low.
- ``arm64-generic`` (6.7-6.11): fdc268232dbb "arm64: kdump: use generic interface to simplify crashkernel
  reservation" (v6.7): ``reserve_crashkernel_generic``; resources inserted at ``early_initcall``.
- ``arm64-dma-limit`` (6.12-): ba0fb44aed47 "dma-mapping: replace zone_dma_bits by zone_dma_limit" (v6.12): the
  DMA limit is an exact address (recorded Debian 6.12 and 7.2 boots).
- ``arm64-series-2019`` (out of tree): "support reserving crashkernel above 4G on arm64 kdump" v5-v14
  (2019-21, Chen Zhou), carried by vendor kernels: x86's "Reserving ..MB of low memory" wording on arm64.
- ``x86-legacy`` (-6.6): arch/x86/kernel/setup.c ``reserve_crashkernel``: low first then high, a default low
  region of max(swiotlb + 8 MiB, 256 MiB) when the main one is above 4 GiB, "Reserving ..MB" wording.
- ``x86-generic`` (6.7-): 9c08a2a139fe "x86: kdump: use generic interface to simplify crashkernel
  reservation code" (v6.7).

The ids were confirmed in commit lists, Fixes: tags and pull requests quoted in public list archives (the
search tool's code corpus); the 5.10.22 backport in Debian's linux 5.10 changelog. Commit ids that could not
be confirmed here are given by subject only. Distribution kernels map by their
upstream base; Debian 5.10 by its ABI number (changelog); RHEL (``4.18.0-*.el8``, ``5.14.0-*.el9``), SUSE
(``*-150xxx``) and Ubuntu HWE/raspi kernels carry backports whose changelog is out of reach here: their family
is decided from the log's wording and zones, and marked inferred.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Trait", "Family", "FAMILIES", "FamilyGuess", "from_release", "from_wording", "decide"]


class Trait(enum.Enum):
    """What a family does, as check asks it."""

    #: the crash region is searched only below the end of the one low DMA zone (4 GiB or RAM end)
    LOW_ONLY = enum.auto()
    #: ZONE_DMA is a fixed 1 GiB (30 bits) on every machine while the crash window stays at 4 GiB
    DMA_FIXED_1G = enum.auto()
    #: ZONE_DMA is sized from DT dma-ranges / IORT; the crash window ends where ZONE_DMA ends
    DMA_FROM_FIRMWARE = enum.auto()
    #: crashkernel=X,high / Y,low are understood (arm64)
    HIGH_LOW = enum.auto()
    #: a main region that lands high gets a default low region; plain X falls back high
    DEFAULT_LOW = enum.auto()
    #: reserve_crashkernel_generic (kernel/crash_core.c, later crash_reserve.c)
    GENERIC = enum.auto()
    #: the DMA limit is an exact address (zone_dma_limit), not a bit count
    DMA_LIMIT_ADDRESS = enum.auto()
    #: the 2019-21 out-of-tree arm64 series: x86 wording, low region by default, ``,high`` and ``,low``
    SERIES_2019 = enum.auto()
    #: x86's own reserve_crashkernel in setup.c
    X86_LEGACY = enum.auto()


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    arch: str
    #: first upstream release (major, minor, patch); None for out-of-tree
    first: tuple[int, int, int] | None
    traits: frozenset[Trait]
    summary: str
    #: the kdumplab policy row that models it best (None: not modelled)
    policy: str | None
    boundary: str

    def has(self, trait: Trait) -> bool:
        return trait in self.traits


T = Trait
FAMILIES: tuple[Family, ...] = (
    Family("arm64-low-4g", "arm64", (4, 12, 0), frozenset({T.LOW_ONLY}),
           "arm64 4.12-5.4: the crash region only below 4 GiB (one low DMA zone); no ,high", None,
           "arm64: kdump: reserve memory for crash dump kernel (v4.12)"),
    Family("arm64-dma-1g", "arm64", (5, 5, 0), frozenset({T.LOW_ONLY, T.DMA_FIXED_1G}),
           "arm64 5.5-5.10.21: ZONE_DMA fixed at 1 GiB, the crash region anywhere below 4 GiB", None,
           "1a8e1cef7603 arm64: use both ZONE_DMA and ZONE_DMA32 (v5.5)"),
    Family("arm64-dma-fw", "arm64", (5, 11, 0), frozenset({T.LOW_ONLY, T.DMA_FROM_FIRMWARE}),
           "arm64 5.11-5.18 and 5.10.22+: ZONE_DMA sized from DT/ACPI, the crash region inside it; no ,high",
           "5.10", "8424ecdde7df, 0a30c53573b0 (v5.11); stable 5.10.22"),
    Family("arm64-high-low", "arm64", (5, 19, 0), frozenset({T.DMA_FROM_FIRMWARE, T.HIGH_LOW}),
           "arm64 5.19-6.4: crashkernel=X,high and Y,low; no default low region, no fallback", "6.1",
           "944a45abfabc arm64: kdump: Reimplement crashkernel=X (v5.19)"),
    Family("arm64-default-low", "arm64", (6, 5, 0), frozenset({T.DMA_FROM_FIRMWARE, T.HIGH_LOW, T.DEFAULT_LOW}),
           "arm64 6.5-6.6: plain X falls back high with a default 128 MiB low region", "6.12",
           "6c4dcaddbd36 arm64: kdump: simplify the reservation behaviour of crashkernel=,high (v6.5)"),
    Family("arm64-generic", "arm64", (6, 7, 0),
           frozenset({T.DMA_FROM_FIRMWARE, T.HIGH_LOW, T.DEFAULT_LOW, T.GENERIC}),
           "arm64 6.7-6.11: the generic reservation code", "6.12",
           "fdc268232dbb arm64: kdump: use generic interface to simplify crashkernel reservation (v6.7)"),
    Family("arm64-dma-limit", "arm64", (6, 12, 0),
           frozenset({T.DMA_FROM_FIRMWARE, T.HIGH_LOW, T.DEFAULT_LOW, T.GENERIC, T.DMA_LIMIT_ADDRESS}),
           "arm64 6.12+: the generic code with an exact DMA limit address", "6.12",
           "ba0fb44aed47 dma-mapping: replace zone_dma_bits by zone_dma_limit (v6.12)"),
    Family("arm64-series-2019", "arm64", None, frozenset({T.SERIES_2019, T.HIGH_LOW, T.DEFAULT_LOW}),
           "arm64 vendor kernel with the 2019-21 'crashkernel above 4G' series: x86 wording, low region by default",
           "proposal-2019-v5", "out of tree: support reserving crashkernel above 4G on arm64 kdump (v5-v14)"),
    Family("x86-legacy", "x86_64", (2, 6, 0), frozenset({T.X86_LEGACY, T.HIGH_LOW, T.DEFAULT_LOW}),
           "x86 up to 6.6: setup.c reserve_crashkernel, low first then high with a default low region", "5.10",
           "arch/x86/kernel/setup.c reserve_crashkernel"),
    Family("x86-generic", "x86_64", (6, 7, 0), frozenset({T.GENERIC, T.HIGH_LOW, T.DEFAULT_LOW}),
           "x86 6.7+: the generic reservation code", "6.12",
           "9c08a2a139fe x86: kdump: use generic interface to simplify crashkernel reservation code (v6.7)"),
)
_BY_NAME = {f.name: f for f in FAMILIES}


@dataclass(frozen=True, slots=True)
class FamilyGuess:
    """The family decided, how (``release``, ``wording``, ``release+wording``), and whether it is inferred."""

    family: Family | None
    how: str
    why: str
    inferred: bool = False
    #: other families still possible when the evidence does not settle it
    alternatives: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.family.name if self.family else "unknown"


_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
# vendor kernels whose backports are not visible from the version number
_VENDOR = (
    (re.compile(r"\.el\d+|\.rhel|\.centos|\.ol\d|uek", re.I), "RHEL/CentOS/Oracle"),
    (re.compile(r"-1[56]\d{4}\.|-default$|-azure$|-64kb$", re.I), "SUSE"),
)
_DEBIAN_510_ABI = re.compile(r"^5\.10\.0-(\d+)-(?:arm64|amd64|cloud|rt)")


def _upstream(release: str) -> tuple[int, int, int] | None:
    m = _VERSION.match(release.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _by_version(arch: str, ver: tuple[int, int, int]) -> Family | None:
    best = None
    for fam in FAMILIES:
        if fam.arch != arch or fam.first is None or fam.has(Trait.SERIES_2019):
            continue
        if ver >= fam.first and (best is None or fam.first > (best.first or (0, 0, 0))):
            best = fam
    # the 5.11 change reached stable 5.10.22
    if arch == "arm64" and ver[:2] == (5, 10) and ver[2] >= 22:
        best = _BY_NAME["arm64-dma-fw"]
    return best


def from_release(release: str, arch: str = "arm64", debian_version: str | None = None) -> FamilyGuess:
    """A family from ``uname -r`` (plus the ``Debian 5.10.223-1`` of ``Linux version`` when known)."""
    rel = release.strip()
    ver = _upstream(rel)
    if ver is None:
        return FamilyGuess(None, "release", f"release {rel!r} has no version number")
    for rx, vendor in _VENDOR:
        if rx.search(rel):
            fam = _by_version(arch, ver)
            return FamilyGuess(fam, "release", f"{vendor} kernel {rel}: base {ver[0]}.{ver[1]}, backports unknown; "
                               "family inferred from the base and the log", inferred=True)
    if debian_version:
        dv = _upstream(debian_version)
        if dv is not None:
            ver = dv
    m = _DEBIAN_510_ABI.match(rel)
    if m and not debian_version and arch == "arm64":
        abi = int(m.group(1))
        fam = _BY_NAME["arm64-dma-fw"] if abi >= 5 else _BY_NAME["arm64-dma-1g"]
        return FamilyGuess(fam, "release", f"Debian {rel}: ABI {abi} {'>=' if abi >= 5 else '<'} 5, the ABI of "
                           "5.10.24-1, the first Debian 5.10 with the 5.11 ZONE_DMA sizing (debian/changelog)")
    fam = _by_version(arch, ver)
    if arch == "arm64" and ver[:2] == (5, 10) and ver[2] == 0 and not m:
        return FamilyGuess(fam, "release", f"{rel}: a bare 5.10 does not say whether the 5.11 ZONE_DMA change "
                           "(stable 5.10.22) is in; the log decides", inferred=True,
                           alternatives=("arm64-dma-1g", "arm64-dma-fw"))
    if fam is None:
        return FamilyGuess(None, "release", f"{rel}: older than any modelled {arch} family")
    return FamilyGuess(fam, "release", f"{rel}: upstream {ver[0]}.{ver[1]}.{ver[2]} is in {fam.name} "
                       f"({fam.boundary})")


@dataclass(frozen=True, slots=True)
class Wording:
    """What the log's wording and zones show, for working backwards."""

    arch: str
    x86_wording: bool = False
    mainline_wording: bool = False
    low_region: bool = False
    #: end of ZONE_DMA and whether a separate non-empty DMA32 zone follows it
    dma_start: int | None = None
    dma_end: int | None = None
    dma32_nonempty: bool = False
    ram_end: int | None = None
    high_low_in_cmdline: bool = False
    #: the zone names the log's Zone ranges block lists (empty zones included)
    zones: frozenset[str] = frozenset()
    #: "crashkernel reservation failed - memory is in use." (the generic code's only fixed-base message)
    in_use: bool = False
    #: "cannot reserve crashkernel: ..." (arm64's own step-by-step fixed-base checks)
    old_checks: bool = False

    @property
    def thirty_bit_dma(self) -> bool:
        """Zone ranges show a ZONE_DMA of at most 1 GiB from its 1 GiB-aligned base, with a DMA32 zone above."""
        if self.dma_start is None or self.dma_end is None or not self.dma32_nonempty:
            return False
        return self.dma_end - (self.dma_start & ~((1 << 30) - 1)) <= 1 << 30


def from_wording(w: Wording) -> FamilyGuess:
    """Backwards: the families whose wording and zone layout fit the log."""
    if w.arch == "arm64" and w.x86_wording:
        return FamilyGuess(_BY_NAME["arm64-series-2019"], "wording", "x86's 'Reserving ..MB ... for crashkernel' "
                           "wording on arm64 is printed only by the out-of-tree 2019-21 series")
    if w.arch == "x86_64":
        if w.x86_wording:
            return FamilyGuess(_BY_NAME["x86-legacy"], "wording", "'Reserving ..MB of memory at ..MB for "
                               "crashkernel' is setup.c's wording (x86 up to 6.6)")
        if w.mainline_wording:
            return FamilyGuess(_BY_NAME["x86-generic"], "wording", "'crashkernel reserved: 0x..' on x86 is the "
                               "generic code (6.7+)")
        return FamilyGuess(None, "wording", "no reservation wording in the log")
    return _arm64_backwards(w)


#: arm64 mainline families in release order
_ARM64 = ("arm64-low-4g", "arm64-dma-1g", "arm64-dma-fw", "arm64-high-low", "arm64-default-low", "arm64-generic",
          "arm64-dma-limit")


def _arm64_backwards(w: Wording) -> FamilyGuess:
    """Each thing the log shows keeps the families that print or lay out memory that way (the table run
    backwards); one family left settles it."""
    keep = list(_ARM64)
    why: list[str] = []

    def only(names: tuple[str, ...], reason: str) -> None:
        nonlocal keep
        narrowed = [n for n in keep if n in names]
        if narrowed:
            keep = narrowed
            why.append(reason)

    z = w.zones
    if "Normal" in z and "DMA32" not in z and "DMA" in z:
        only(("arm64-low-4g",), "Zone ranges list DMA and no DMA32 zone: arm64 before 5.0 (one 32-bit ZONE_DMA)")
    elif "Normal" in z and "DMA" not in z and "DMA32" in z:
        only(("arm64-low-4g",), "Zone ranges list DMA32 and no DMA zone: arm64 5.0-5.4")
    elif "DMA" in z and "DMA32" in z and not w.dma32_nonempty:
        only(_ARM64[2:], "ZONE_DMA reaches the 4 GiB limit and DMA32 is empty: ZONE_DMA sized from firmware (5.11+)")
    elif w.thirty_bit_dma:
        only(_ARM64[1:], "a 1 GiB ZONE_DMA below a DMA32 zone: 5.5+ (fixed 30 bits up to 5.10.21, or a 30-bit "
             "dma-ranges machine later)")
    if w.low_region:
        only(_ARM64[3:], "'crashkernel low memory reserved' is printed from 5.19 on")
    if w.in_use:
        only(_ARM64[5:], "'crashkernel reservation failed - memory is in use.' is the generic code's (6.7+)")
    if w.old_checks:
        only(_ARM64[:3], "'cannot reserve crashkernel: ...' are arm64's own fixed-base checks (up to 5.18)")
    if not why:
        if w.mainline_wording:
            return FamilyGuess(None, "wording", "'crashkernel reserved: 0x..' is printed by every arm64 kernel from "
                               "4.12 on: it does not settle the family", inferred=True)
        return FamilyGuess(None, "wording", "no release string and no wording that settles the family")
    text = "; ".join(why)
    if len(keep) == 1:
        return FamilyGuess(_BY_NAME[keep[0]], "wording", text)
    return FamilyGuess(_BY_NAME[keep[0]], "wording", text, inferred=True, alternatives=tuple(keep))


def decide(release: str | None, arch: str, w: Wording, debian_version: str | None = None) -> FamilyGuess:
    """The release decides when it can; the wording overrides it only where the release cannot know
    (vendor backports, a bare 5.10, an out-of-tree series)."""
    by_words = from_wording(w)
    if not release:
        return by_words
    by_rel = from_release(release, arch, debian_version)
    if by_words.family is not None and by_words.family.has(Trait.SERIES_2019):
        return FamilyGuess(by_words.family, "release+wording", f"{by_rel.why}; but {by_words.why}")
    if by_rel.inferred and by_rel.alternatives and w.dma_end is not None:
        pick = "arm64-dma-1g" if w.thirty_bit_dma else "arm64-dma-fw"
        return FamilyGuess(_BY_NAME[pick], "release+wording", f"{by_rel.why}: Zone ranges put ZONE_DMA's end at "
                           f"{w.dma_end:#x}{' with a separate DMA32 zone' if w.dma32_nonempty else ''}",
                           inferred=True)
    if by_rel.family is None and by_words.family is not None:
        return by_words
    if by_rel.inferred and by_words.family is not None and by_rel.family is not None \
            and by_words.family.arch == by_rel.family.arch and not by_words.inferred:
        return FamilyGuess(by_words.family, "release+wording", f"{by_rel.why}; {by_words.why}", inferred=True)
    return by_rel

