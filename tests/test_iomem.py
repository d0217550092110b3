"""/proc/iomem text: rendering in the kernel's format (kernel/resource.c r_show) and parsing it back."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdumplab.errors import KdumplabError
from kdumplab.iomem import Resource, addresses_hidden, find, insert, parse, render, reserve_with_split

# A real 6.1 boot, 8 GiB, crashkernel=512M (tests/data/memblock/6.1-8G-512M.log.gz, abridged).
REAL = """\
09000000-09000fff : pl011@9000000
  09000000-09000fff : 9000000.pl011 pl011@9000000
10000000-3efeffff : pcie@10000000
40000000-23fffffff : System RAM
  40210000-4185ffff : Kernel code
  41860000-41eaffff : reserved
  41eb0000-4220ffff : Kernel data
  dc000000-fbffffff : Crash kernel
  fc000000-ffffffff : reserved
4010000000-401fffffff : PCI ECAM
8000000000-ffffffffff : pcie@10000000
"""


def test_round_trip_of_a_real_iomem():
    assert render(parse(REAL)) == REAL


def test_widths_and_inclusive_ends():
    assert Resource(0x9000000, 0x9001000, "x").line() == "09000000-09000fff : x"
    assert Resource(0x1_7F00_0000, 0x2_3F00_0000, "Crash kernel").line(1) == "  17f000000-23effffff : Crash kernel"


def test_unprivileged_readers_see_zeros():
    tree = parse(REAL)
    hidden = render(tree, hide_addresses=True)
    assert hidden.splitlines()[4] == "  00000000-00000000 : Kernel code"
    assert addresses_hidden(parse(hidden))


def test_find_by_exact_name():
    assert [(r.start, r.end) for r in find(parse(REAL), "Crash kernel")] == [(0xDC00_0000, 0xFC00_0000)]


@pytest.mark.parametrize("text,where", [
    ("40000000-23fffffff System RAM\n", "iomem:1"),
    ("40000000-3fffffff : System RAM\n", "iomem:1"),
    ("40000000-4fffffff : System RAM\n    41000000-41ffffff : deep\n", "iomem:2"),
    ("40000000-4fffffff : System RAM\n  3f000000-41ffffff : outside\n", "iomem:2"),
    ("zzzz\n", "iomem:1"),
])
def test_garbage_names_the_line(text, where):
    with pytest.raises(KdumplabError) as err:
        parse(text)
    assert err.value.where == where


def test_insert_descends_and_adopts():
    tree = (Resource(0x4000_0000, 0x8000_0000, "System RAM"),)
    tree = insert(tree, Resource(0x5000_0000, 0x6000_0000, "Crash kernel"))
    assert render(tree).splitlines()[1] == "  50000000-5fffffff : Crash kernel"
    top = insert((Resource(0x10, 0x20, "a"),), Resource(0, 0x100, "b"))
    assert [r.name for r in top] == ["b"] and [c.name for c in top[0].children] == ["a"]


def test_reserved_is_split_around_children():
    ram = Resource(0x4000_0000, 0x8000_0000, "System RAM", (Resource(0x5000_0000, 0x6000_0000, "Crash kernel"),))
    ram = reserve_with_split(ram, 0x4800_0000, 0x6800_0000)
    assert [(c.start, c.end, c.name) for c in ram.children] == [
        (0x4800_0000, 0x5000_0000, "reserved"), (0x5000_0000, 0x6000_0000, "Crash kernel"),
        (0x6000_0000, 0x6800_0000, "reserved")]
    assert reserve_with_split(ram, 0x5100_0000, 0x5200_0000) == ram  # fully covered: nothing added


@given(st.text(max_size=300))
def test_parse_raises_only_our_error(text):
    with contextlib.suppress(KdumplabError):
        parse(text)


def test_deeper_than_the_kernel_prints_is_refused() -> None:
    # found on 11-30: 6 levels were accepted and came back as 5 on a round trip. kernel/resource.c r_show
    # counts at most MAX_IORES_LEVEL (5) parents, so real text never indents more than 10 spaces.
    lines = [f"{'  ' * d}{0x40000000 + d:08x}-{0x7fffffff - d:08x} : r{d}" for d in range(7)]
    five = "\n".join(lines[:6]) + "\n"
    assert render(parse(five)) == five
    with pytest.raises(KdumplabError, match=r"iomem:7: indented 6 levels"):
        parse("\n".join(lines) + "\n")


@given(st.lists(st.integers(0, 40), min_size=1, max_size=8, unique=True), st.data())
def test_insert_places_a_disjoint_entry_in_address_order(slots, data):
    """insert() puts an entry that overlaps none of its siblings at its place in address order: after all of
    them without a search (how the model adds its entries) or by bisection among them."""
    entries = [Resource(s * 0x2000, s * 0x2000 + 0x1000, f"r{s}") for s in slots]
    new, rest = entries[0], sorted(entries[1:], key=lambda r: r.start)
    siblings = tuple(rest)
    assert insert(siblings, new) == tuple(sorted([*rest, new], key=lambda r: r.start))
    # and a tree built in any order is the tree built in address order
    order = data.draw(st.permutations(entries))
    tree: tuple[Resource, ...] = ()
    for r in order:
        tree = insert(tree, r)
    assert tree == tuple(sorted(entries, key=lambda r: r.start))
