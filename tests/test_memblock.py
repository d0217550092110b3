"""memblock: the search the kernel does (mm/memblock.c), checked on hand-made states and by properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab.memblock import Flag, Memblock, Region

M = 1 << 20
G = 1 << 30


def mb(*memory, reserved=()):
    m = Memblock.from_memory([Region(b, s, n, f) for b, s, n, f in memory])
    for b, s in reserved:
        m = m.reserve(b, s)
    return m


def test_top_down_takes_highest_aligned_fit():
    # V01 of the notes: RAM [1G, 9G), CMA just below 4G; 512M below 4G lands right under the CMA area
    m = mb((G, 8 * G, 0, Flag.NONE), reserved=[(0xFC00_0000, 64 * M), (0x2_3F00_0000, 16 * M)])
    assert m.find_in_range(512 * M, 2 * M, 0, 4 * G) == 0xDC00_0000


def test_candidate_rounds_down_not_up():
    # V02: 257M -> round_down(0xfc000000 - 0x10100000, 2M) = 0xebe00000
    m = mb((G, 8 * G, 0, Flag.NONE), reserved=[(0xFC00_0000, 64 * M)])
    assert m.find_in_range(257 * M, 2 * M, 0, 4 * G) == 0xEBE0_0000


def test_page_zero_is_never_returned():
    m = mb((0, 4 * M, 0, Flag.NONE))
    assert m.find_in_range(2 * M, 2 * M, 0, 4 * M) == 2 * M
    assert m.find_in_range(4 * M, 2 * M, 0, 4 * M) is None


def test_nomap_is_skipped_and_splits_memory():
    m = mb((G, G, 0, Flag.NONE)).mark_nomap(G + 512 * M, 512 * M)
    assert [(r.base, r.size, bool(r.flags & Flag.NOMAP)) for r in m.memory] == [
        (G, 512 * M, False), (G + 512 * M, 512 * M, True)]
    assert m.find_in_range(256 * M, 2 * M, 0, 4 * G) == G + 256 * M
    assert m.phys_mem_size() == G  # NOMAP still counts as memory (memblock_phys_mem_size)


def test_regions_of_different_nodes_do_not_merge_and_allocations_do_not_straddle_them():
    m = mb((G, G, 0, Flag.NONE), (2 * G, G, 1, Flag.NONE))
    assert len(m.memory) == 2
    assert m.find_in_range(1536 * M, 2 * M, 0, 8 * G) is None


def test_bottom_up():
    m = Memblock(mb((G, G, 0, Flag.NONE)).memory, bottom_up=True)
    assert m.find_in_range(64 * M, 2 * M, 0, 4 * G) == G


def test_mirror_request_falls_back_to_any_memory():
    m = mb((G, G, 0, Flag.NONE))
    addr, _ = m.alloc_range(64 * M, 2 * M, 0, 4 * G, flags=Flag.MIRROR)
    assert addr == 2 * G - 64 * M


def test_fixed_window_fails_when_misaligned_or_reserved():
    m = mb((G, 8 * G, 0, Flag.NONE), reserved=[(0x4020_0000, 36 * M)])
    assert m.find_in_range(256 * M, 2 * M, 0x8000_0000, 0x9000_0000) == 0x8000_0000
    assert m.find_in_range(256 * M, 2 * M, 0x8010_0000, 0x9010_0000) is None  # V31: not 2 MiB aligned
    assert m.find_in_range(64 * M, 2 * M, 0x4000_0000, 0x4400_0000) is None  # V32: overlaps the kernel


def test_reserve_merges_neighbours_and_free_splits():
    m = mb((G, G, 0, Flag.NONE), reserved=[(G, M), (G + M, M)])
    assert [(r.base, r.size) for r in m.reserved] == [(G, 2 * M)]
    m = m.free(G + M // 2, M // 2)
    assert [(r.base, r.size) for r in m.reserved] == [(G, M // 2), (G + M, M)]


layouts = st.lists(st.tuples(st.integers(0, 63), st.integers(1, 8)), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(banks=layouts, holes=layouts, size_mb=st.integers(1, 512), align_shift=st.integers(12, 22),
       lo_mb=st.integers(0, 2048), span_mb=st.integers(1, 4096), bottom_up=st.booleans())
def test_allocation_properties(banks, holes, size_mb, align_shift, lo_mb, span_mb, bottom_up):
    """Whatever the layout: the result is aligned, inside the window, inside one memory region, overlaps
    nothing reserved, and top-down gives the highest such address (bottom-up the lowest)."""
    memory = {}
    for slot, n in banks:  # 64 MiB slots, non-overlapping by construction
        for k in range(n):
            memory[slot + k] = True
    regions = [Region((s + 16) * 64 * M, 64 * M) for s in sorted(memory)]
    m = Memblock.from_memory(regions)
    for slot, n in holes:
        m = m.reserve((slot + 16) * 64 * M + 3 * M, n * 5 * M)
    m = Memblock(m.memory, m.reserved, bottom_up=bottom_up)
    size, align = size_mb * M, 1 << align_shift
    start, end = lo_mb * M, (lo_mb + span_mb) * M
    got = m.find_in_range(size, align, start, end)
    free = [(lo, hi) for lo, hi, _ in m.free_ranges()]

    def fits(addr):
        return addr % align == 0 and start <= addr and addr + size <= end and addr >= 4096 and any(
            lo <= addr and addr + size <= hi for lo, hi in free)

    # every aligned candidate the kernel could consider: the lowest and highest in each clipped free range
    options = []
    for lo, hi in free:
        lo, hi = max(lo, start, 4096), min(hi, end)
        if hi - lo >= size:
            options += [a for a in (-(-lo // align) * align, (hi - size) // align * align) if fits(a)]
    if got is None:
        assert not options
        return
    assert fits(got)
    assert got == (min(options) if bottom_up else max(options))
    after = m.reserve(got, size)
    assert sum(r.size for r in after.reserved) == sum(r.size for r in m.reserved) + size
