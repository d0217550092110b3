"""memblock: the search the kernel does (mm/memblock.c), checked on hand-made states and by properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab.memblock import NUMA_NO_NODE, Flag, Memblock, Region

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
    free = [gap for r in m.memory for gap in _gaps(m, r)]
    assert free == [(lo, hi) for lo, hi, _ in m.free_ranges()]

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


def _gaps(m: Memblock, r: Region) -> list[tuple[int, int]]:
    """The free parts of memory region ``r``, low to high: its span less every reserved region."""
    out, cursor = [], r.base
    for x in m.reserved:
        if x.end <= cursor or x.base >= r.end:
            continue
        if x.base > cursor:
            out.append((cursor, x.base))
        cursor = max(cursor, x.end)
    return out + ([(cursor, r.end)] if cursor < r.end else [])


def _plain_top_down(m: Memblock, size: int, align: int, start: int, end: int, nid: int, flags: Flag) -> int | None:
    """The top-down search said plainly: every usable region from the highest down, every free part of it
    (``_gaps``) from the highest down, clipped to the window; the first aligned fit wins."""
    start = max(start, 4096)
    end = max(start, end)
    for r in reversed(m.memory):
        if r.end <= start or r.base >= end or not m._usable(r, nid, flags):
            continue
        for lo, hi in reversed(_gaps(m, r)):
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi and hi >= size and (hi - size) // align * align >= lo:
                return (hi - size) // align * align
    return None


flag_sets = st.sampled_from((Flag.NONE, Flag.NOMAP, Flag.HOTPLUG, Flag.MIRROR, Flag.DRIVER_MANAGED))


@settings(max_examples=400, deadline=None)
@given(banks=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 4), st.integers(0, 1), flag_sets), min_size=1,
                      max_size=6),
       holes=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 300)), max_size=10),
       size_kb=st.integers(1, 300_000), align_shift=st.integers(0, 22), lo_mb=st.integers(0, 4096),
       span_mb=st.integers(0, 8192), nid=st.sampled_from((NUMA_NO_NODE, 0, 1)),
       flags=st.sampled_from((Flag.NONE, Flag.NOMAP, Flag.MIRROR)), movable=st.booleans())
def test_written_out_top_down_search_equals_plain_search(banks, holes, size_kb, align_shift, lo_mb, span_mb, nid,
                                                          flags, movable):
    """find_in_range's top-down loop (one pass, free parts found lazily) picks what the plain search picks, over
    nodes, flags, movable_node, windows of any size and unaligned reservations."""
    m = Memblock.from_memory([Region((s + 16) * 64 * M, n * 64 * M, node, f) for s, n, node, f in banks])
    for at_kb, n_kb in holes:
        m = m.reserve(G + at_kb * 1024 * 1024 // 3, n_kb * 1024)
    m = Memblock(m.memory, m.reserved, movable_node=movable)
    args = (size_kb * 1024, 1 << align_shift, lo_mb * M, (lo_mb + span_mb) * M, nid, flags)
    assert m.find_in_range(*args) == _plain_top_down(m, *args)


@settings(max_examples=400, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 24), st.sampled_from((Flag.NONE, Flag.RSRV_KERN)),
                              st.booleans()), max_size=24), kern=st.booleans())
def test_reserve_and_draft_allocations_equal_page_by_page_reference(ops, kern):
    """memblock_reserve's list (reserve's fast path for a range that overlaps nothing, the general merge
    otherwise) against a page map: a page keeps the flags of the first range that covered it, and the list is
    the maximal runs of pages with equal flags. A Draft's alloc_range gives what Memblock's gives request by request."""
    m = Memblock.from_memory([Region(0, 1 << 20)])
    owner: dict[int, Flag] = {}
    for slot, n, flags, _ in ops:
        m = m.reserve(slot * 4096, n * 4096, "x", flags)
        for page in range(slot, slot + n):
            owner.setdefault(page, flags)
        runs: list[tuple[int, int, Flag]] = []
        for page in sorted(owner):
            if runs and runs[-1][1] == page and runs[-1][2] == owner[page]:
                runs[-1] = (runs[-1][0], page + 1, owner[page])
            else:
                runs.append((page, page + 1, owner[page]))
        assert [(r.base, r.end, r.flags) for r in m.reserved] == [(a * 4096, b * 4096, f) for a, b, f in runs]
    requests = [(n * 4096 + slot % 7 * 8, 4096 if aligned else 64, slot * 1024, 1 << 20, "y", -1)
                for slot, n, _, aligned in ops]
    if kern:  # 7.x: allocations are reserved with MEMBLOCK_RSRV_KERN
        m = Memblock(m.memory, m.reserved, alloc_flags=Flag.RSRV_KERN, log=m.log)
    _assert_draft_is_alloc_range_in_turn(m, requests)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 255), st.integers(1, 24)), max_size=16),
       cuts=st.lists(st.tuples(st.integers(0, 280), st.integers(1, 40)), max_size=8))
def test_free_equals_page_by_page_reference(ops, cuts):
    """memblock_free cuts [base, base+size) out of the reserved list: the pages left reserved are exactly the
    pages reserved before less the cut, split where the cut ends inside a region."""
    m = Memblock.from_memory([Region(0, 1 << 24)])
    for slot, n in ops:
        m = m.reserve(slot * 4096, n * 4096)
    for slot, n in cuts:
        before = [(r.base, r.end) for r in m.reserved]
        m = m.free(slot * 4096, n * 4096)
        lo, hi = slot * 4096, (slot + n) * 4096
        want = []
        for a, b in before:
            want += [(a, min(b, lo))] if a < lo else []
            want += [(max(a, hi), b)] if b > hi else []
        assert [(r.base, r.end) for r in m.reserved] == sorted(p for p in want if p[0] < p[1])


@settings(max_examples=300, deadline=None)
@given(banks=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 4), st.integers(0, 1),
                                st.sampled_from((Flag.NONE, Flag.NONE, Flag.NOMAP))), min_size=1, max_size=5),
       holes=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 300)), max_size=10),
       requests=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 16), st.integers(0, 4096),
                                   st.integers(0, 8192), st.sampled_from((NUMA_NO_NODE, 0, 1))), max_size=12),
       kern=st.booleans(), bottom_up=st.booleans())
def test_draft_alloc_range_equals_memblock_over_nodes(banks, holes, requests, kern, bottom_up):
    """A Draft's alloc_range (its written-out search over plain memory, Memblock's search otherwise) gives what
    Memblock.alloc_range gives request by request: node requests falling back to any node, windows of any size,
    unaligned holes, zero sizes, 7.x's RSRV_KERN, bottom-up."""
    m = Memblock.from_memory([Region((s + 16) * 64 * M, n * 64 * M, node, f) for s, n, node, f in banks])
    for at_kb, n_kb in holes:
        m = m.reserve(G + at_kb * 1024 * 1024 // 3, n_kb * 1024)
    m = Memblock(m.memory, m.reserved, bottom_up=bottom_up, alloc_flags=Flag.RSRV_KERN if kern else Flag.NONE,
                 log=m.log)
    reqs = [(size_kb * 1024 + size_kb % 3 * 8, 1 << (align + 3), lo_mb * M, (lo_mb + span_mb) * M, "r", nid)
            for size_kb, align, lo_mb, span_mb, nid in requests]
    _assert_draft_is_alloc_range_in_turn(m, reqs)


def _assert_draft_is_alloc_range_in_turn(m, requests):
    """A Draft's addresses and memblock (log included), the requests made on it in turn, equal Memblock.alloc_range's,
    request by request."""
    one_by_one, addrs = m, []
    for size, align, start, end, what, nid in requests:
        addr, one_by_one = one_by_one.alloc_range(size, align, start, end, what, nid)
        addrs.append(addr)
    d = m.draft()
    got = [d.alloc_range(size, align, start, end, what, nid) for size, align, start, end, what, nid in requests]
    batch = d.memblock()
    assert got == addrs and batch == one_by_one and batch.log == one_by_one.log


@settings(max_examples=300, deadline=None)
@given(banks=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 4), st.integers(0, 1),
                                st.sampled_from((Flag.NONE, Flag.NONE, Flag.NOMAP))), min_size=1, max_size=5),
       holes=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 300)), max_size=10),
       runs=st.lists(st.tuples(st.integers(0, 40), st.integers(12, 26), st.integers(0, 6),
                               st.sampled_from((NUMA_NO_NODE, 0, 1)), st.booleans()), max_size=6),
       kern=st.booleans())
def test_alloc_repeated_equals_alloc_range_call_by_call(banks, holes, runs, kern):
    """Draft.alloc_repeated (one search per free range, one reserve per run) leaves the reserved list that
    ``count`` top-down allocations one by one leave, and returns the last one's address: alloc_range with
    its fall-back to any node, or (any_node off) the search in the node alone; no-map banks, unaligned holes,
    7.x's RSRV_KERN, sizes from 4 KiB to 64 MiB, alignments up to the size."""
    m = Memblock.from_memory([Region((s + 16) * 64 * M, n * 64 * M, node, f) for s, n, node, f in banks])
    for at_kb, n_kb in holes:
        m = m.reserve(G + at_kb * 1024 * 1024 // 3, n_kb * 1024)
    m = Memblock(m.memory, m.reserved, alloc_flags=Flag.RSRV_KERN if kern else Flag.NONE, log=m.log)
    d = m.draft()
    one = m
    for count, size_bits, align_less, nid, any_node in runs:
        size, align = 1 << size_bits, 1 << max(size_bits - align_less, 3)
        last = None
        for _ in range(count):
            if any_node:
                addr, one = one.alloc_range(size, align, 0, 1 << 64, "r", nid)
            else:
                addr = one.find_in_range(size, align, 0, 1 << 64, nid)
                one = one if addr is None else one.reserve(addr, size, "r", one.alloc_flags)
            last = addr if addr is not None else last
        assert d.alloc_repeated(count, size, align, "r", nid, any_node) == last
        assert d.memblock() == one
        assert sum(n for _, _, n in d.log) == sum(n for _, _, n in one.log)


@settings(max_examples=200, deadline=None)
@given(banks=st.lists(st.tuples(st.integers(0, 63), st.integers(1, 4), st.integers(0, 1),
                                st.sampled_from((Flag.NONE, Flag.NONE, Flag.NOMAP))), min_size=1, max_size=5),
       ops=st.lists(st.tuples(st.sampled_from(("reserve", "free", "alloc", "nomap")), st.integers(0, 8191),
                              st.integers(0, 2048), st.sampled_from((NUMA_NO_NODE, 0, 1))), max_size=16))
def test_draft_equals_memblock_call_by_call(banks, ops):
    """A Draft updated in place stands for the Memblock the same calls return one by one (log included)."""
    m = Memblock.from_memory([Region((s + 16) * 64 * M, n * 64 * M, node, f) for s, n, node, f in banks])
    d = m.draft()
    for op, at, n_kb, nid in ops:
        base, size = G + at * 512 * 1024, n_kb * 1024
        if op == "reserve":
            m = m.reserve(base, size, "x")
            d.reserve(base, size, "x")
        elif op == "free":
            m = m.free(base, size)
            d.free(base, size)
        elif op == "nomap":
            m = m.mark_nomap(base, size)
            d.mark_nomap(base, size)
        else:
            addr, m = m.alloc_range(size, 1 << (at % 12 + 3), base, base + 64 * size, "x", nid)
            assert d.alloc_range(size, 1 << (at % 12 + 3), base, base + 64 * size, "x", nid) == addr
        assert d.memblock() == m and d.memblock().log == m.log
        assert list(d.free_ranges()) == list(m.free_ranges())


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(("reserve", "free", "alloc")), st.integers(0, 23), st.integers(0, 5),
                              st.sampled_from((Flag.NONE, Flag.RSRV_KERN)), st.booleans()), min_size=2, max_size=30))
def test_draft_int_lists_on_a_page_grid(ops):
    """A Draft's reserve and free over its int lists, on a grid of pages where ranges touch and overlap often:
    merges with the region below, above and both (same flags only), reserves over reserved ranges, frees that
    take whole regions, cut one in two or leave pieces at either end, empty frees; the Regions it makes are
    asked for only now and then (``look``), so entries changed between two looks are made afresh and the
    others kept. After every call it stands for what Memblock's methods return."""
    m = Memblock.from_memory([Region(G, 16 * 4096), Region(G + 17 * 4096, 16 * 4096)])
    d = m.draft()
    for op, page, pages, flags, look in ops:
        base, size = G + page * 4096, pages * 4096
        if op == "reserve":
            m = m.reserve(base, size, "x", flags)
            d.reserve(base, size, "x", flags)
        elif op == "free":
            m = m.free(base, size)
            d.free(base, size)
        else:
            addr, m = m.alloc_range(size, 4096, base, base + 16 * size, "x")
            assert d.alloc_range(size, 4096, base, base + 16 * size, "x") == addr
        if look:
            assert d.memblock() == m and d.memblock().log == m.log
    assert d.memblock() == m and list(d.free_ranges()) == list(m.free_ranges())
