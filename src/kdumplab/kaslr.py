"""Physical KASLR on x86_64: where the decompressor (or, under UEFI, the EFI stub) may put the kernel, how likely
each place is, and what the crash reservation then does.

The x86 decompressor (arch/x86/boot/compressed/kaslr.c ``choose_random_location``, the same in 5.10 .. 7.2
for everything used here) picks the kernel's physical address before Linux runs, unless ``nokaslr`` is on the
command line:

- it walks the firmware's RAM entries (``process_e820_entries``; with an EFI memory map only its conventional
  memory, ``process_efi_entries``),
  from ``min(output, 512 MiB)`` aligned to CONFIG_PHYSICAL_ALIGN (2 MiB) up to MAXMEM;
- each entry is cut around the ``mem_avoid`` ranges: the decompressor's own working range [input, output +
  init_size), the initrd, the command line and boot_params (both below 1 MiB under QEMU), and memmap=
  ranges; with an ACPI SRAT (NUMA) each entry is also cut at the SRAT ranges (immovable memory);
- every piece of at least ``image_size`` bytes (the decompressor's needed_size: the larger of the decompressed
  payload and _end - _text, 2 MiB aligned) holds ``1 + (size - image_size) / 2 MiB`` slots, 2 MiB apart
  from its 2 MiB-aligned start (``store_slot_info``); at most 100 pieces are kept (MAX_SLOT_AREA);
- one slot is drawn uniformly (``slots_fetch_random``: a random number modulo the slot count).

``input`` is where the compressed payload sits while it runs: the decompressor moves itself to the end of
[output, output + init_size), so input - output = init_size - ZO _end + payload offset, which is always
less than image_size (the payload is smaller than what it inflates to). No slot fits below input, and the
avoided range is therefore taken as [output, output + init_size): the same slots.

Under UEFI the place comes from EFI conventional memory (``KernelImage.placement``): 6.1.192, 6.12 and 7.2 boot
through the EFI stub, which decompresses the kernel itself (libstub/x86-stub.c ``efi_decompress_kernel``) into
``efi_random_alloc(alloc_size, 2 MiB, seed, LOAD_PHYSICAL_ADDR)`` (libstub/randomalloc.c): every conventional
descriptor holds ``(round_down(end - size, 2M) - round_up(max(start, 16M), 2M)) / 2M + 1`` slots, the same
count as ``store_slot_info``, and slot ``(total * (seed & 0xffffffff)) >> 32`` is taken. The seed is the EFI RNG
protocol's bytes XOR ``kaslr_get_random_long("EFI")`` (RDRAND, RDTSC), so it is random even where OVMF has no RNG,
and 0 with nokaslr: the first slot. 5.10's stub leaves the choice to the decompressor, which walks the EFI map's
conventional memory from min(its output, 512 MiB).

How random numbers become slots (the KASLR experiment's question, tests/ground_truth/test_kaslr_boots.py):
``kaslr_get_random_long`` (arch/x86/lib/kaslr.c) XORs a hash of the build string and boot_params with RDRAND
(when the CPU has it: QEMU's ``-cpu max`` does, its TCG helper draws from the host's getrandom) and RDTSC, then
mixes it by a 64x64->128-bit multiply folded back to 64 bits; ``slots_fetch_random`` takes it modulo the slot
count. A uniform 64-bit value modulo ~3,000 is uniform to within 3,000 / 2^64, so every slot is equally likely:
nothing in 5.10, 6.1, 6.12 or 7.2 weighs slots (no 1 GiB-page skipping without ``hugepages=``, no memory limit
below MAXMEM without ``mem=``/``memmap=``, mem_avoid only cuts regions). The four releases' kaslr.c differ only
in ``efi_fake_mem`` parsing (5.10) and names.

Each slot is then one boot of the model with the kernel pinned there; slots that give the same reservation
are one outcome, with the share of slots that give it.

arm64 under UEFI with an EFI RNG (``Machine.efi_rng``; QEMU's virtio-rng under EDK2): the stub (6.1.192 and
later, libstub/kaslr.c ``efi_kaslr_relocate_kernel``) draws the kernel's place with ``efi_random_alloc``: the
footprint (_end - _text) rounded up to 64 KiB, every 64 KiB-aligned start from 64 KiB up inside one EFI
conventional descriptor (no upper limit below 2^48), slot ``(total * seed32) >> 32`` of a 32-bit seed from
EFI_RNG_PROTOCOL: every slot equally likely (to within total / 2^32). That is ~60,000 slots on 4 GiB. The
model is not run once per slot: what the kernel's place changes in the reservation is which 2 MiB blocks the
kernel touches (crash regions are 2 MiB aligned; memblock's top-down allocations step around it), and within
one 2 MiB cell of start addresses that set changes once, where the kernel's end crosses a 2 MiB boundary. So
each run of slots is cut into those segments, the model runs at each segment's first slot, and the segment's
slots take its outcome (tests/test_kaslr_arm64.py checks this against every slot of a stretch of 4 GiB).
Under EDK2 the pinned boot is rebuilt whole (``presets.qemu_virt(kernel_at=...)``): the stub's later
allocations (initrd, DT) go top down around the kernel.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from kdumplab.machine import Machine
from kdumplab.ranges import SZ_2M, SZ_64K, align_down, align_up

__all__ = ["KaslrLayout", "SlotArea", "Outcome", "Distribution", "slot_areas", "slots", "layout_for",
           "distribution", "placement_is_random", "reserves_everywhere", "share_text"]

CONFIG_PHYSICAL_ALIGN = SZ_2M
MAX_SLOT_AREA = 100
#: MAXMEM with 4-level paging (2^46); the Debian builds can use 5-level paging, whose MAXMEM is larger still:
#: either way far above any RAM modelled here
MAXMEM = 1 << 46
_NOKASLR = re.compile(r"(?:^|\s)nokaslr(?:\s|$)")


@dataclass(frozen=True, slots=True)
class KaslrLayout:
    """What the decompressor looks at. Ranges are half-open."""

    ram: tuple[tuple[int, int], ...]  # the firmware's RAM entries
    avoid: tuple[tuple[int, int], ...]  # mem_avoid
    minimum: int
    image_size: int
    immovable: tuple[tuple[int, int], ...] = ()  # SRAT ranges (empty: no SRAT)
    mem_limit: int = MAXMEM


@dataclass(frozen=True, slots=True)
class SlotArea:
    start: int
    count: int


def _first_overlap(lo: int, hi: int, avoid: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    """mem_avoid_overlap: of the avoided ranges that overlap [lo, hi), the one that starts lowest."""
    hits = [(s, e) for s, e in avoid if s < hi and lo < e]
    return min(hits) if hits else None


def _process_region(start: int, end: int, layout: KaslrLayout, out: list[SlotArea]) -> None:
    """__process_mem_region: cut [start, end) around the avoided ranges and keep the pieces that fit."""
    image = layout.image_size
    lo = max(start, layout.minimum)
    hi = min(end, layout.mem_limit)
    while len(out) < MAX_SLOT_AREA:
        lo = align_up(lo, CONFIG_PHYSICAL_ALIGN)
        if lo > hi or hi - lo < image:
            return
        hit = _first_overlap(lo, hi, layout.avoid)
        if hit is None:
            out.append(SlotArea(lo, 1 + (hi - lo - image) // CONFIG_PHYSICAL_ALIGN))
            return
        if hit[0] >= lo + image:
            out.append(SlotArea(lo, 1 + (hit[0] - lo - image) // CONFIG_PHYSICAL_ALIGN))
        lo = hit[1]


def slot_areas(layout: KaslrLayout) -> tuple[SlotArea, ...]:
    """process_e820_entries / process_mem_region over every RAM entry, in the firmware's order."""
    out: list[SlotArea] = []
    for start, end in layout.ram:
        if layout.minimum + layout.image_size > layout.mem_limit:
            break
        pieces = [(start, end)] if not layout.immovable else [
            (max(start, s), min(end, e)) for s, e in layout.immovable if s < end and start < e]
        for s, e in pieces:
            _process_region(s, e, layout, out)
            if len(out) >= MAX_SLOT_AREA:
                return tuple(out)
    return tuple(out)


def slots(layout: KaslrLayout) -> tuple[int, ...]:
    """Every address the decompressor can choose; each is equally likely."""
    return tuple(a.start + i * CONFIG_PHYSICAL_ALIGN for a in slot_areas(layout) for i in range(a.count))


def placement_is_random(machine: Machine, cmdline: str) -> bool:
    """x86_64 with the decompressor's facts known (image size and init_size), or arm64 under UEFI whose
    firmware offers EFI_RNG_PROTOCOL with the stub's draw known (``kernel.placement``); no ``nokaslr``."""
    k = machine.kernel
    if k is None or _NOKASLR.search(cmdline):
        return False
    if machine.arch == "arm64":
        return machine.firmware == "uefi" and machine.efi_rng and bool(k.placement) and k.image_size > 0
    return machine.arch == "x86_64" and k.init_size > 0 and k.image_size > 0


EFI_KIMG_ALIGN = SZ_64K  # arch/arm64/include/asm/efi.h: the stub's minimum alignment when it has an RNG


def arm64_slot_runs(machine: Machine) -> tuple[tuple[int, int], ...]:
    """efi_random_alloc's slots as runs (first, last), one per conventional range of ``kernel.placement``."""
    k = machine.kernel
    assert k is not None
    size = align_up(k.image_size, EFI_KIMG_ALIGN)
    out = []
    for lo, hi in k.placement_ranges():
        first, last = align_up(max(lo, EFI_KIMG_ALIGN), EFI_KIMG_ALIGN), align_down(hi - size, EFI_KIMG_ALIGN)
        if first <= last:
            out.append((first, last))
    return tuple(out)


def arm64_segments(machine: Machine) -> tuple[tuple[int, int], ...]:
    """The runs cut where the set of 2 MiB blocks the kernel touches changes: (first slot, slot count) each."""
    k = machine.kernel
    assert k is not None
    size = align_up(k.image_size, EFI_KIMG_ALIGN)
    out = []
    for first, last in arm64_slot_runs(machine):
        cuts = set()
        for cell in range(align_down(first, SZ_2M), last + 1, SZ_2M):
            cuts.add(cell)
            # the start at which the kernel's last byte moves into the next 2 MiB block
            cuts.add(align_up(align_up(cell + size, SZ_2M) - size + 1, EFI_KIMG_ALIGN))
        edges = sorted(c for c in cuts if first < c <= last) + [last + EFI_KIMG_ALIGN]
        start = first
        for e in edges:
            if e > start:
                out.append((start, (e - start) // EFI_KIMG_ALIGN))
                start = e
    return tuple(out)


def layout_for(machine: Machine) -> KaslrLayout:
    """The decompressor's view of a machine whose kernel sits at its boot-loader address (the nokaslr place:
    the decompressor's output address). RAM entries are the machine's banks joined where NUMA split them;
    with more than one node the node spans are the SRAT's immovable ranges."""
    k = machine.kernel
    assert k is not None
    if k.placement:  # UEFI: EFI conventional memory; what is avoided there is loader memory anyway
        return KaslrLayout(k.placement_ranges(), (), k.placement_minimum, k.image_size)
    ram = machine.ram_ranges()
    output = k.load_address
    avoid = [(output, output + k.init_size)]
    if machine.initrd is not None:
        avoid.append((machine.initrd.start, machine.initrd.end))
    immovable: tuple[tuple[int, int], ...] = ()
    if len(machine.nodes) > 1:
        immovable = tuple((b.start, b.start + b.size) for b in sorted(machine.banks, key=lambda b: b.start))
    minimum = align_up(min(output, 512 << 20), CONFIG_PHYSICAL_ALIGN)
    return KaslrLayout(ram, tuple(sorted(avoid)), minimum, k.image_size, immovable)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One distinct result of the reservation over the kernel's possible places."""

    verdict: str
    regions: tuple[tuple[str, int, int], ...]  # (name, start, end exclusive)
    log: tuple[str, ...]
    slots: int
    share: float
    kernel_at: tuple[int, ...]  # every slot that gives it (arm64: the first slot of each segment)
    #: (first slot, slot count) of each run of slots that gives it; empty: one per ``kernel_at``
    segments: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Distribution:
    """The reservation's outcome over every slot the decompressor can choose."""

    total_slots: int
    outcomes: tuple[Outcome, ...]  # most likely first
    #: the decompressor's needed_size: a kernel placed at slot S occupies [S, S + image_size)
    image_size: int = 0
    #: the distance between two slots: 2 MiB on x86 (CONFIG_PHYSICAL_ALIGN), 64 KiB for the arm64 EFI stub
    step: int = CONFIG_PHYSICAL_ALIGN

    def _segments(self) -> list[tuple[int, int, Outcome]]:
        return sorted((s, n, o) for o in self.outcomes for s, n in (o.segments or ((a, 1) for a in o.kernel_at)))

    @property
    def reserved_share(self) -> float:
        return min(1.0, sum(o.share for o in self.outcomes if o.verdict == "reserved"))

    @property
    def failed_share(self) -> float:
        """The share of boots on which nothing is reserved (the slots whose outcome is not "reserved")."""
        return sum(o.share for o in self.outcomes if o.verdict != "reserved")

    def runs(self) -> tuple[tuple[int, int, str], ...]:
        """The kernel's possible start addresses as runs of consecutive slots (2 MiB apart) with the same
        verdict: (first slot, last slot + 2 MiB, verdict), in address order; a kernel starting in a run
        occupies up to ``image_size`` beyond it. What ``report`` draws."""
        out: list[list] = []
        for a, n, o in self._segments():
            last = a + (n - 1) * self.step
            if out and out[-1][2] == o.verdict and out[-1][1] == a - self.step:
                out[-1][1] = last
            else:
                out.append([a, last, o.verdict])
        return tuple((s, last + self.step, v) for s, last, v in out)

    @property
    def worst(self) -> Outcome:
        """A failure if any slot fails, else the outcome with the least crash memory."""
        return min(self.outcomes, key=lambda o: (o.verdict == "reserved", sum(e - s for _, s, e in o.regions)))

    def outcome_for(self, kernel_at: int) -> Outcome | None:
        return next((o for a, n, o in self._segments()
                     if a <= kernel_at < a + n * self.step and (kernel_at - a) % self.step == 0), None)


def _outcome_at(scenario, at: int):  # noqa: ANN001, ANN202 - a model.Scenario -> a BootOutcome
    """The model's boot with the kernel pinned at ``at``."""
    from kdumplab import model  # noqa: PLC0415

    return model.run(dataclasses.replace(scenario, machine=_pinned(scenario, at))).outcome


def _pinned(scenario, at: int) -> Machine:  # noqa: ANN001 - a model.Scenario
    """The machine with its kernel at ``at``: QEMU virt under EDK2 rebuilt (the stub's later allocations go
    around the kernel), any other machine with the same map and the kernel moved."""
    from kdumplab import presets  # noqa: PLC0415

    machine = scenario.machine
    again = presets.qemu_virt_pinned(machine, scenario.kernel, scenario.cmdline, at)
    if again is not None:
        return again
    return dataclasses.replace(machine, kernel=dataclasses.replace(machine.kernel, load_address=at))


def _weighted_places(machine: Machine) -> tuple[tuple[int, int], ...]:
    """(address to run the model at, how many equally likely slots share its outcome)."""
    if machine.arch == "arm64":
        return arm64_segments(machine)
    return tuple((a, 1) for a in slots(layout_for(machine)))


def distribution(scenario) -> Distribution:  # noqa: ANN001 - a model.Scenario
    """Run the model once per slot (the kernel pinned there; arm64: once per segment of slots that share an
    outcome) and group the slots by outcome. ``kernel_at`` of an arm64 outcome lists each segment's first
    slot."""
    places = _weighted_places(scenario.machine)
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for at, count in places:
        o = _outcome_at(scenario, at)
        key = (o.verdict.value, tuple((r.name, r.start, r.end) for r in o.regions), o.log)
        groups.setdefault(key, []).append((at, count))
    total = sum(count for _, count in places)
    arm64 = scenario.machine.arch == "arm64"
    outcomes = [Outcome(v, regions, log, sum(c for _, c in at), sum(c for _, c in at) / total,
                        tuple(a for a, _ in at), tuple(at) if arm64 else ())
                for (v, regions, log), at in groups.items()]
    outcomes.sort(key=lambda o: -o.slots)
    return Distribution(total, tuple(outcomes), scenario.machine.kernel.image_size,
                        EFI_KIMG_ALIGN if arm64 else CONFIG_PHYSICAL_ALIGN)


def reserves_everywhere(scenario) -> bool:  # noqa: ANN001 - a model.Scenario
    """Does the reservation succeed wherever the kernel lands? Stops at the first slot that fails (what
    ``recommend`` and ``check`` ask of a size before offering it)."""
    from kdumplab.outcome import Verdict  # noqa: PLC0415

    return all(_outcome_at(scenario, at).verdict is Verdict.RESERVED for at, _ in _weighted_places(scenario.machine))


def share_text(dist: Distribution, where: str = "") -> str:
    """One line for people: how often the reservation works over the kernel's possible places (``where``: e.g.
    " of this machine", after "boots")."""
    failed = sum(o.slots for o in dist.outcomes if o.verdict != "reserved")
    if not failed:
        return f"reserved on every boot{where} (all {dist.total_slots} places the kernel can land)"
    if failed == dist.total_slots:
        return f"fails on every boot{where} (all {dist.total_slots} places the kernel can land)"
    return (f"fails on {dist.failed_share:.1%} of boots{where} ({failed} of the {dist.total_slots} places the "
            "kernel can land)")


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x): a power series below a + 1, Lentz's
    continued fraction above (both converge fast there)."""
    import math  # noqa: PLC0415

    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def chi_squared(observed: list[int], expected: list[float]) -> tuple[float, int, float]:
    """Pearson's statistic of counts against expected counts, its degrees of freedom and p-value."""
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    dof = len(observed) - 1
    return stat, dof, _gamma_q(dof / 2, stat / 2)


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """The exact two-sided binomial test: the probability of a count at most as likely as ``k`` of ``n`` when
    each is a success with probability ``p`` (how a layout's observed failing share is judged)."""
    from math import comb  # noqa: PLC0415

    probs = [comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(q for q in probs if q <= probs[k] * (1 + 1e-9)))


def slot_bins(all_slots: tuple[int, ...], seen: list[int], bins: int) -> tuple[list[int], list[float]]:
    """Observed and expected counts of ``seen`` kernel addresses in ``bins`` runs of consecutive slots of
    (nearly) equal size: with thousands of slots and a hundred boots, single slots are too thin to test."""
    order = sorted(all_slots)
    edges = [order[len(order) * i // bins] for i in range(bins)] + [order[-1] + 1]
    width = [sum(1 for s in order if edges[i] <= s < edges[i + 1]) for i in range(bins)]
    obs = [sum(1 for s in seen if edges[i] <= s < edges[i + 1]) for i in range(bins)]
    exp = [len(seen) * w / len(order) for w in width]
    return obs, exp
