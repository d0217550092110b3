"""The real-machine presets (src/kdumplab/presets/data/*.toml) say what their cited dumps say.

Each expected value below is copied from the public dump the preset cites (its ``source``); the dump lines are
quoted beside the numbers so a reader can check them without the model.
"""

from __future__ import annotations

import re

import pytest

from kdumplab import model, presets
from kdumplab.machine import Machine
from kdumplab.ranges import SZ_1G

MIB = 1 << 20

_NODE_RANGE = re.compile(r"node\s+(\d+): \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]")


def _node_ranges(dump: str) -> list[tuple[int, int, int]]:
    """(node, start, end) half-open, from 'Early memory node ranges' lines (the kernel prints inclusive ends)."""
    return [(int(n), int(s, 16), int(e, 16) + 1) for n, s, e in _NODE_RANGE.findall(dump)]


def _merge(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Join touching ranges of one node (memblock splits them only where flags differ)."""
    out: list[tuple[int, int, int]] = []
    for node, start, end in sorted(ranges):
        if out and out[-1][0] == node and out[-1][2] == start:
            out[-1] = (node, out[-1][1], end)
        else:
            out.append((node, start, end))
    return out


def _banks(m: Machine) -> list[tuple[int, int, int]]:
    return sorted((b.node, b.start, b.start + b.size) for b in m.banks)


def _nomap(m: Machine) -> list[tuple[int, int]]:
    return sorted((r.start, r.start + r.size) for r in m.reserved if r.nomap)


# rpi4-8g: boot log of Linux 6.1.58-v8+ on 'RPI 4 Model B (0xd03114)' (see the preset's source).
RPI4_DUMP = """
  node   0: [mem 0x0000000000000000-0x000000003b3fffff]
  node   0: [mem 0x0000000040000000-0x00000000fbffffff]
  node   0: [mem 0x0000000100000000-0x00000001ffffffff]
"""

# ampere-altra-2p: LKML <cf2b32a4-2217-4a31-b6d7-e60a9f4ef7dd@arm.com>. Node 0 from 'Early memory node
# ranges'; the log's node 1 list is cut short by that kernel's panic, so node 1 is the two SRAT lines
# 'ACPI: SRAT: Node 1 PXM 1 [mem 0x400000000000-0x4000bfffffff]' and '[mem 0x400100000000-0x403fffffffff]'.
ALTRA_DUMP = """
  node   0: [mem 0x0000000088300000-0x00000000883fffff]
  node   0: [mem 0x0000000090000000-0x0000000091ffffff]
  node   0: [mem 0x0000000092000000-0x000000009277ffff]
  node   0: [mem 0x0000000092780000-0x00000000aef6efff]
  node   0: [mem 0x00000000aef6f000-0x00000000aef6ffff]
  node   0: [mem 0x00000000aef70000-0x00000000af1cffff]
  node   0: [mem 0x00000000af1d0000-0x00000000af1effff]
  node   0: [mem 0x00000000af1f0000-0x00000000b0cfffff]
  node   0: [mem 0x00000000b0d00000-0x00000000b79affff]
  node   0: [mem 0x00000000b79b0000-0x00000000b7aeffff]
  node   0: [mem 0x00000000b7af0000-0x00000000b7fdffff]
  node   0: [mem 0x00000000b7fe0000-0x00000000b8068fff]
  node   0: [mem 0x00000000b8069000-0x00000000b822efff]
  node   0: [mem 0x00000000b822f000-0x00000000bfc3efff]
  node   0: [mem 0x00000000bfc3f000-0x00000000bfc3ffff]
  node   0: [mem 0x00000000bfc40000-0x00000000bfffffff]
  node   0: [mem 0x0000080000000000-0x000008007fffffff]
  node   0: [mem 0x00000800c0000000-0x0000083fffffffff]
  node   1: [mem 0x0000400000000000-0x00004000bfffffff]
  node   1: [mem 0x0000400100000000-0x0000403fffffffff]
"""

# graviton: aws/karpenter-provider-aws issue #3102, comment of 2022-12-22.
GRAVITON_DUMP = """
  node   0: [mem 0x0000000040000000-0x00000000786effff]
  node   0: [mem 0x00000000786f0000-0x000000007872ffff]
  node   0: [mem 0x0000000078730000-0x000000007bbfffff]
  node   0: [mem 0x000000007bc00000-0x000000007bfdffff]
  node   0: [mem 0x000000007bfe0000-0x000000007fffffff]
  node   0: [mem 0x0000000400000000-0x00000004b9ffffff]
"""

#: name -> (dump lines, expected RAM total, where the total comes from)
EXPECTED = {
    # 'Memory: 7927104K/8245248K available': 8245248 KiB = 8052 MiB = 0x1f7400000 bytes.
    "rpi4-8g": (RPI4_DUMP, 8245248 * 1024, "the 'Memory: .../8245248K' line"),
    # node 0: 1 MiB + 768 MiB + 2 GiB + 253 GiB; node 1: 3 GiB + 252 GiB -> 510 GiB + 769 MiB.
    "ampere-altra-2p": (ALTRA_DUMP, 510 * SZ_1G + 769 * MIB, "SRAT / Early memory node ranges"),
    # 1 GiB at 0x40000000 + 0xba000000 (2976 MiB) at 0x400000000 -> 4000 MiB.
    "graviton": (GRAVITON_DUMP, 4000 * MIB, "Early memory node ranges"),
}

#: presets with UEFI nomap regions (listed as nomap reservations)
HAS_NOMAP = {"ampere-altra-2p", "graviton"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_loads_and_cites_a_source(name: str) -> None:
    m = presets.machine(name)
    assert name in presets.preset_names()
    assert m.arch == "arm64"
    assert m.source.strip()
    assert m.notes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ram_total_matches_the_dump(name: str) -> None:
    dump, total, _where = EXPECTED[name]
    m = presets.machine(name)
    assert m.ram_size == total
    assert sum(end - start for _, start, end in _node_ranges(dump)) == total


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_banks_are_the_dumped_node_ranges(name: str) -> None:
    """The banks, per node, cover exactly the memblock ranges the dump lists (split pieces joined)."""
    dump, _, _ = EXPECTED[name]
    assert _merge(_banks(presets.machine(name))) == _merge(_node_ranges(dump))


@pytest.mark.parametrize("name", sorted(HAS_NOMAP))
def test_nomap_reservations_are_the_split_pieces(name: str) -> None:
    """memblock merges neighbours with equal flags, so within one contiguous run of RAM the dumped pieces
    alternate usable / MEMBLOCK_NOMAP; the nomap reservations are every second piece, the first being usable."""
    dump, _, _ = EXPECTED[name]
    ranges = sorted(_node_ranges(dump))
    expected, run_index = [], 0
    for i, (_node, start, end) in enumerate(ranges):
        run_index = run_index + 1 if i and ranges[i - 1][2] == start else 0
        if run_index % 2:
            expected.append((start, end))
    m = presets.machine(name)
    assert _nomap(m) == expected
    assert all(any(b.start <= s and e <= b.start + b.size for b in m.banks) for s, e in expected)


def test_altra_nodes() -> None:
    """Two sockets, two nodes: 'NODE_DATA(1) allocated [mem 0x403fc00c19c0-0x403fc00c3fff]' is on socket 1."""
    m = presets.machine("ampere-altra-2p")
    assert m.nodes == (0, 1)
    per_node = {n: sum(b.size for b in m.banks if b.node == n) for n in m.nodes}
    assert per_node == {0: 255 * SZ_1G + 769 * MIB, 1: 255 * SZ_1G}


def test_rpi4_boot_loader_placements() -> None:
    """U-Boot: 'Loading init Ramdisk from Legacy Image at 02700000 ... Data Size: 1832096 Bytes' (data after the
    64-byte header) and 'Using Device Tree in place at 000000002eff2600, end 000000002f002fa0'; the kernel
    later logs 'Freeing initrd memory: 1784K', the whole pages inside that initrd."""
    m = presets.machine("rpi4-8g")
    assert m.initrd is not None and m.dtb is not None
    assert (m.initrd.start, m.initrd.end) == (0x0270_0000 + 64, 0x0270_0000 + 64 + 1832096)
    whole_pages = (m.initrd.end & ~0xfff) - ((m.initrd.start + 0xfff) & ~0xfff)
    assert whole_pages == 1784 * 1024
    assert (m.dtb.start, m.dtb.end) == (0x2eff_2600, 0x2f00_2fa0)
    # 'Zone ranges: DMA [mem 0x0000000000000000-0x000000003fffffff]'
    assert m.dma_address_limit == 0x3fff_ffff


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_runs_on_preset(name: str) -> None:
    result = model.run(model.Scenario(presets.machine(name), "crashkernel=512M", "6.12"))
    assert result.outcome.verdict is not None
    assert result.outcome.system_ram > 0
