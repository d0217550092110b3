"""User-typed sizes and the IEC text: units required for memory, plain integers for byte counts, one error type."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdumplab.errors import KdumplabError
from kdumplab.ranges import iec, iec_hex, parse_count, parse_memory, with_sizes
from kdumplab.tools.options import parse_numa


@pytest.mark.parametrize("text,value", [("8G", 8 << 30), ("512M", 512 << 20), ("8GiB", 8 << 30), ("1_024M", 1 << 30),
                                        ("0x10G", 16 << 30), ("15E", 15 << 60),
                                        # leading zeros are decimal, as typed (found by the property test below)
                                        ("08G", 8 << 30), ("0_1G", 1 << 30), ("0X10M", 16 << 20)])
def test_memory_sizes_with_units(text, value):
    assert parse_memory(text, "--mem") == value


@pytest.mark.parametrize("text,fragment", [("8", "no unit"), ("0xFFFFFFFFFFE00000", "no unit"),
                                           ("-1G", "not a size"), ("9" * 5000, "not a size"),
                                           ("16E", r"larger than 2\^64"), ("", "not a size")])
def test_memory_sizes_refused(text, fragment):
    with pytest.raises(KdumplabError, match=fragment):
        parse_memory(text, "--mem")


def test_byte_counts_are_plain_integers():
    assert parse_count("987889", "--initrd-size") == 987889 and parse_count("0x1000", "x") == 4096
    assert parse_count("01", "x") == 1 and parse_count("0987", "x") == 987
    for bad in ("-1", "1M", "1.5", "9" * 40):
        with pytest.raises(KdumplabError):
            parse_count(bad, "--initrd-size")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parsers_refuse_only_with_one_line(text):
    for parse in (lambda t: parse_memory(t, "--mem"), lambda t: parse_count(t, "--initrd-size"),
                  lambda t: parse_numa(t)):
        try:
            value = parse(text)
        except KdumplabError as err:
            assert "\n" not in err.one_line()
        else:
            assert all(0 <= v < 1 << 64 for v in (value if isinstance(value, tuple) else (value,)))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_iec_is_close_and_marked_when_rounded(n):
    text = iec(n)
    number, unit = text.lstrip("~").split(" ")
    scale = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
             "EiB": 1 << 60}[unit]
    assert abs(float(number) * scale - n) <= scale / 199 and (text.startswith("~") or float(number) * scale == n)
    assert iec_hex(n).endswith(f"({n:#x})")


def test_reasons_get_sizes_beside_sizes_only():
    assert with_sizes("no free block of 0x24000000 bytes in [0x0, 0x100000000)") == \
        "no free block of 0x24000000 bytes (576 MiB) in [0x0, 0x100000000)"
    assert with_sizes("cannot allocate crashkernel (size:0x40000000)") == \
        "cannot allocate crashkernel (size:0x40000000 (1 GiB))"


@given(st.lists(st.tuples(st.integers(0, 64), st.integers(0, 16)), max_size=12))
def test_joined_covers_the_same_addresses_with_spans_that_neither_overlap_nor_touch(pairs):
    # reference: the set of addresses covered; joined spans must cover exactly it, sorted, neither
    # overlapping nor touching (touching spans are one, as memblock_add makes them)
    from kdumplab.ranges import joined

    spans = [(s, s + n) for s, n in pairs]
    out = joined(spans)
    assert {a for s, e in out for a in range(s, e)} == {a for s, e in spans for a in range(s, e)}
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(out, out[1:], strict=False))
    assert all(s < e for s, e in out)
