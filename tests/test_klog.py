"""Picking the crash-related lines out of a kernel log (lines taken from real boots in tests/data)."""

from kdumplab.klog import crash_lines

TRACE = ("[    0.000000] memblock_phys_alloc_range: 1073741824 bytes align=0x200000 from=0x0000000100000000 "
         "max_addr=0x0001000000000000 reserve_crashkernel_generic+0x8c/0x1f8\n")
LOG = TRACE + """\
[    0.000000] crashkernel low memory reserved: 0xf4000000 - 0xfc000000 (128 MB)
[    0.000000] crashkernel reserved: 0x00000001f6e00000 - 0x0000000236e00000 (1024 MB)
[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 crashkernel=1G,high
<6>[    0.000000] crahskernel: Memory value expected after '@'
Memory value expected
"""


def test_crash_lines_drop_timestamps_echoes_and_memblock_traces():
    assert crash_lines(LOG) == (
        "crashkernel low memory reserved: 0xf4000000 - 0xfc000000 (128 MB)",
        "crashkernel reserved: 0x00000001f6e00000 - 0x0000000236e00000 (1024 MB)",
        "crahskernel: Memory value expected after '@'",
        "Memory value expected",
    )
