"""The lab: the only code that downloads packages or starts processes (QEMU, apt-get, dpkg-deb)."""
