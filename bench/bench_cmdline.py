"""Median in-process time of parse_crashkernel on a few command lines (microseconds). Not a test."""

from __future__ import annotations

from timing import median_seconds

from kdumplab.cmdline import GRAMMARS, parse_crashkernel

CMDLINES = {
    "simple": "console=ttyAMA0 root=/dev/vda1 ro quiet crashkernel=512M",
    "range+offset": "BOOT_IMAGE=/vmlinuz ro crashkernel=0-2G:128M,2G-8G:256M,8G-:512M@0x80000000 quiet",
    "high+low": "root=UUID=0b7c crashkernel=1G,high crashkernel=256M,low crashkernel=64M,cma quiet splash",
    "long 2 KiB": "x" * 1900 + " crashkernel=128M crashkernel=256M",
}
RAM = 8 << 30


def median_us(cmdline: str, key: tuple[str, str], rounds: int = 21, inner: int = 200) -> float:
    grammar = GRAMMARS[key]
    return median_seconds(lambda: parse_crashkernel(cmdline, grammar, RAM), rounds, inner=inner) * 1e6


def main() -> None:
    for key in (("arm64", "5.10"), ("arm64", "6.1"), ("arm64", "6.12"), ("x86_64", "7.2")):
        for name, cmdline in CMDLINES.items():
            print(f"{key[0]:7} {key[1]:5} {name:14} {median_us(cmdline, key):8.1f} us")


if __name__ == "__main__":
    main()
