"""Where systems keep the kernel command line, and how to put a ``crashkernel=`` value there.

Each method names the files and commands it uses and where that was read. One kernel fact matters to all of
them: the kernel uses the **last** ``crashkernel=`` of each kind on the command line (get_last_crashkernel in
kernel/crash_core.c, 6.1; kernel/crash_reserve.c, 6.12; modelled in kdumplab.cmdline), so a value added
early on the line is silently overridden by one that comes later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Method", "METHODS", "applicable", "DEBIAN_GRUB_D"]

#: Debian's kdump-tools ships this file (kdump-tools 1:1.8.1, bookworm; read from the .deb) with the one line
#: GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M", and its postinst runs
#: update-grub. grub-mkconfig reads /etc/default/grub.d/*.cfg after /etc/default/grub, and /etc/grub.d/10_linux
#: (grub-common 2.06-13+deb12u2, line 381) writes "${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}": the
#: DEFAULT part comes last, so its crashkernel= wins over one in GRUB_CMDLINE_LINUX. Ubuntu's kdump-tools uses
#: the same file with its own range list.
DEBIAN_GRUB_D = "/etc/default/grub.d/kdump-tools.cfg"


@dataclass(frozen=True, slots=True)
class Method:
    """One way a system keeps its command line: the steps (``{value}`` is the crashkernel= words), a warning,
    the files whose presence says this system uses it, and where the facts come from."""

    key: str
    title: str
    steps: tuple[str, ...]
    warning: str
    detect: tuple[str, ...]
    source: str

    def render(self, value: str) -> tuple[str, ...]:
        return tuple(s.format(value=value) for s in self.steps)


METHODS: tuple[Method, ...] = (
    Method(
        "debian-kdump-tools", "Debian / Ubuntu with kdump-tools (GRUB)",
        (f"edit {DEBIAN_GRUB_D}: GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT {{value}}\"",
         "sudo update-grub && sudo reboot"),
        f"kdump-tools' own crashkernel= lives in {DEBIAN_GRUB_D} on GRUB_CMDLINE_LINUX_DEFAULT, which GRUB puts "
        "after GRUB_CMDLINE_LINUX, and the kernel takes the last crashkernel=: a value added to GRUB_CMDLINE_LINUX "
        "in /etc/default/grub is silently ignored. Change it in that file (it is a conffile: upgrades ask).",
        (DEBIAN_GRUB_D,),
        "kdump-tools 1:1.8.1 (Debian bookworm) /etc/default/grub.d/kdump-tools.cfg and postinst; grub-common "
        "2.06-13+deb12u2 /usr/sbin/grub-mkconfig (reads /etc/default/grub.d/*.cfg) and /etc/grub.d/10_linux",
    ),
    Method(
        "grub", "GRUB without kdump-tools (Debian, Ubuntu, SUSE)",
        ("edit /etc/default/grub: add {value} to GRUB_CMDLINE_LINUX",
         "sudo update-grub (Debian/Ubuntu) or sudo grub2-mkconfig -o /boot/grub2/grub.cfg (SUSE, older RHEL)",
         "sudo reboot"),
        "remove any other crashkernel= from GRUB_CMDLINE_LINUX_DEFAULT and /etc/default/grub.d/*.cfg: the last one "
        "on the command line wins",
        ("/etc/default/grub",),
        "grub-common 2.06-13+deb12u2 /etc/grub.d/10_linux",
    ),
    Method(
        "grubby", "Fedora / RHEL / CentOS (grubby)",
        ("sudo grubby --update-kernel=ALL --args=\"{value}\"", "sudo reboot"),
        "kdumpctl reset-crashkernel does not apply this value: it restores kdump-utils' own default "
        "(crashkernel.default); with auto_reset_crashkernel=yes in /etc/kdump.conf a kdump-utils update resets "
        "only kernels still on the old default",
        ("/usr/sbin/grubby", "/sbin/grubby"),
        "rhkdump/kdump-utils crashkernel-howto.txt (@0e162120b61c): 'Reset using kdumpctl' and 'Reset manually' "
        "(grubby --update-kernel ALL --args ...)",
    ),
    Method(
        "bls", "systemd-boot / kernel-install (BLS entries)",
        ("add {value} to the one line of /etc/kernel/cmdline",
         "sudo kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz (or reinstall the kernel package)",
         "sudo reboot"),
        "without /etc/kernel/cmdline kernel-install copies the running /proc/cmdline into new entries",
        ("/etc/kernel/cmdline",),
        "systemd kernel-install(8), FILES: /etc/kernel/cmdline, else /proc/cmdline",
    ),
    Method(
        "raspberry-pi", "Raspberry Pi (firmware boot, cmdline.txt)",
        ("add {value} to the single line of /boot/firmware/cmdline.txt (/boot/cmdline.txt before Raspberry Pi "
         "OS bookworm)", "sudo reboot"),
        "cmdline.txt must stay one line; the firmware passes it as the whole command line",
        ("/boot/firmware/cmdline.txt", "/boot/cmdline.txt"),
        "raspberrypi.com documentation, 'The kernel command line' (cmdline.txt in the boot partition)",
    ),
)


def applicable(root: str = "/") -> tuple[Method, ...]:
    """The methods whose files exist under ``root`` (only existence is checked), most specific first; all of
    them when none is found."""
    found = tuple(m for m in METHODS if any(os.path.lexists(os.path.join(root, p.lstrip("/"))) for p in m.detect))
    if any(m.key == "debian-kdump-tools" for m in found):
        found = tuple(m for m in found if m.key != "grub")
    return found or METHODS
