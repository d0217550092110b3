"""`kdumplab lab setup`: prepare this machine from nothing, idempotently.

Steps: install QEMU (and readelf/cpio) with apt, add the arm64 architecture (amd64 is this host's own),
add the suites bullseye, trixie and sid for arm64 and amd64 only, on the same mirror URIs the machine's apt
sources already use, pinned at priority 100 so nothing from them installs on the host; then download into the
cache, per guest architecture (``ARCHES``), the four kernels, busybox-static, kexec-tools of each suite with
every shared library it needs (resolved recursively over ``readelf -d`` NEEDED and PT_INTERP) and the
firmware (x86: OVMF), verify each .deb against apt's SHA256, and unpack it.

Every download lands whole: a file is fetched into a temporary directory beside its destination, checked,
then renamed; an unpacked tree is renamed into place only when complete. So an existing path always means a
finished step, and a rerun does nothing but check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run as runmod
from kdumplab.lab.kimage import check_image, image_sha256
from kdumplab.profiles import ProfileTable

__all__ = ["ARCHES", "ArchParts", "KERNELS", "KEXEC_SUITES", "cache_dir", "setup", "mirror_uris", "Lab", "load_lab"]

#: The Debian suite of every kernel lab setup fetches: a view of the kernel profiles (kdumplab.profiles)
KERNEL_SUITES: Mapping[str, str] = ProfileTable(lambda p: (p.name, p.suite) if p.suite else None)


def _kernel_patterns(deb: str) -> Mapping[str, re.Pattern[str]]:
    """Package-name patterns per kernel, as Debian names them for one architecture: a view of the kernel
    profiles' ``apt_package`` (kdumplab.profiles; docs/lab.md)."""
    arch = {"arm64": "arm64", "amd64": "x86_64"}[deb]
    return ProfileTable(lambda p: (p.name, re.compile(p.apt_package.format(deb=deb))) if p.apt_package else None,
                        arch=arch)


@dataclass(frozen=True, slots=True)
class ArchParts:
    """What the lab fetches for one guest architecture: Debian's name for it, its kernels, where its
    libraries live, and the host package that provides its QEMU (plus firmware packages for the cache)."""

    deb: str  # Debian architecture
    kernels: Mapping[str, re.Pattern[str]]
    libdirs: tuple[str, ...]
    qemu_package: str
    qemu_binary: str
    #: firmware packages fetched into the cache (Debian name -> file inside the package)
    firmware: dict[str, str] = field(default_factory=dict)


ARCHES: dict[str, ArchParts] = {
    "arm64": ArchParts("arm64", _kernel_patterns("arm64"),
                       ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib"),
                       "qemu-system-arm", "qemu-system-aarch64",
                       # EDK2 for --firmware uefi, passed with -bios (architecture-independent package)
                       {"qemu-efi-aarch64": "usr/share/qemu-efi-aarch64/QEMU_EFI.fd"}),
    # SeaBIOS is QEMU's own default firmware (the host's seabios package, a dependency of
    # qemu-system-x86); OVMF (UEFI) comes from bookworm's ovmf package, passed to QEMU with -bios.
    "x86_64": ArchParts("amd64", _kernel_patterns("amd64"),
                        ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"),
                        "qemu-system-x86", "qemu-system-x86_64", {"ovmf": "usr/share/ovmf/OVMF.fd"}),
}
KERNELS = ARCHES["arm64"].kernels
KEXEC_SUITES = {"2.0.20": "bullseye", "2.0.25": "bookworm", "2.0.29": "trixie", "2.0.32": "sid"}
ADDED_SUITES = ("bullseye", "trixie", "sid")
SOURCES_FILE = Path("/etc/apt/sources.list.d/kdumplab.sources")
PREFS_FILE = Path("/etc/apt/preferences.d/kdumplab")
PIN_PRIORITY = 100


def cache_dir() -> Path:
    """$KDUMPLAB_CACHE, else $XDG_CACHE_HOME/kdumplab, else ~/.cache/kdumplab."""
    if os.environ.get("KDUMPLAB_CACHE"):
        return Path(os.environ["KDUMPLAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kdumplab"


# ---------------------------------------------------------------- apt sources

def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    out, cur, key = [], {}, None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                out.append(cur)
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += " " + line.strip()
        elif ":" in line:
            key, _, val = line.partition(":")
            key = key.strip().lower()
            cur[key] = val.strip()
    if cur:
        out.append(cur)
    return out


def mirror_uris(etc: Path = Path("/etc/apt")) -> tuple[tuple[str, str | None], ...]:
    """(URI, Signed-By) of the machine's Debian archive mirror: the sources serving ``bookworm`` itself.

    Reads deb822 ``*.sources`` and one-line ``sources.list`` entries; our own file is skipped.
    """
    found: list[tuple[str, str | None]] = []
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        if f.name == SOURCES_FILE.name:
            continue
        for st in _deb822_stanzas(f.read_text()):
            if st.get("enabled", "yes").lower() == "no" or "deb" not in st.get("types", "").split():
                continue
            if "bookworm" in st.get("suites", "").split():
                for uri in st.get("uris", "").split():
                    found.append((uri.rstrip("/"), st.get("signed-by")))
    lists = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in lists:
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            m = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s", line)
            if m and m.group(3) == "bookworm":
                sb = re.search(r"signed-by=(\S+?)[\s\]]", m.group(1) or "")
                found.append((m.group(2).rstrip("/"), sb.group(1) if sb else None))
    uniq = tuple(dict.fromkeys(found))
    if not uniq:
        raise KdumplabError("/etc/apt", "no apt source serves the suite bookworm",
                            "the lab takes its mirror from the machine's existing Debian sources")
    return uniq


def sources_text(uris: tuple[tuple[str, str | None], ...]) -> str:
    archs = " ".join(a.deb for a in ARCHES.values())
    out = [f"# Written by `kdumplab lab setup`: {archs} only, pinned low in " + str(PREFS_FILE)]
    for uri, signed in uris:
        out += ["", "Types: deb", f"URIs: {uri}", "Suites: " + " ".join(ADDED_SUITES), "Components: main",
                f"Architectures: {archs}"]
        if signed:
            out.append(f"Signed-By: {signed}")
    return "\n".join(out) + "\n"


def prefs_text() -> str:
    out = ["# Written by `kdumplab lab setup`: never install from these suites on the host."]
    for s in ADDED_SUITES:
        out += ["", "Package: *", f"Pin: release n={s}", f"Pin-Priority: {PIN_PRIORITY}"]
    return "\n".join(out) + "\n"


def _write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


# ---------------------------------------------------------------- apt queries

def _apt(program: str) -> tuple[str, ...]:
    """apt-cache/apt-get with a binary cache file of our own: on machines whose apt config disables
    pkgcache.bin (container images do), every apt-cache call would otherwise rebuild it (~3 s each)."""
    d = cache_dir() / "apt"
    d.mkdir(parents=True, exist_ok=True)
    return (program, "-o", f"Dir::Cache::pkgcache={d / 'pkgcache.bin'}",
            "-o", f"Dir::Cache::srcpkgcache={d / 'srcpkgcache.bin'}")

@dataclass(frozen=True, slots=True)
class Candidate:
    package: str
    version: str
    suite: str
    arch: str = "arm64"  # Debian architecture


def _madison(*pkgs: str, arch: str = "arm64") -> list[Candidate]:
    """Every version apt knows for ``pkgs`` in Debian architecture ``arch`` (one apt-cache call: each costs
    seconds)."""
    if not pkgs:
        return []
    done = runmod.run([*_apt("apt-cache"), "madison", *(f"{p}:{arch}" for p in pkgs)], timeout=120, check=False)
    out = []
    for line in done.stdout.decode().splitlines():
        parts = [p.strip() for p in line.split("|")]
        # an arch-all package is listed under every architecture's index: take the arm64 lines
        if len(parts) == 3 and parts[2].endswith(f"{'arm64' if arch == 'all' else arch} Packages"):
            suite = parts[2].split()[1].split("/")[0]
            out.append(Candidate(parts[0].removesuffix(f":{arch}"), parts[1], suite, arch))
    return out


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _cmp_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (with '~' lowest, letters before other signs) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def debian_version_cmp(a: str, b: str) -> int:
    """Compare two Debian versions (epoch:upstream-revision) as dpkg does; -1, 0 or 1."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        up, _, rev = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), up, rev

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _cmp_part(ua, ub) or _cmp_part(ra, rb)


def _sort_versions(cands: list[Candidate]) -> list[Candidate]:
    """Newest first, by dpkg's ordering."""
    import functools

    return sorted(cands, key=functools.cmp_to_key(lambda x, y: debian_version_cmp(y.version, x.version)))


def _in_suite(c: Candidate, suite: str) -> bool:
    return c.suite == suite or c.suite.startswith(suite + "-")


def _apt_sha256(c: Candidate) -> str | None:
    done = runmod.run([*_apt("apt-cache"), "show", f"{c.package}:{c.arch}={c.version}"], timeout=60, check=False)
    m = re.search(r"^SHA256: (\w+)", done.stdout.decode(), re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------- the cache

@dataclass(frozen=True, slots=True)
class Fetched:
    package: str
    version: str
    suite: str
    sha256: str
    root: Path  # unpacked tree


class Cache:
    """Downloads and unpacked trees under ``root``; ``manifest.json`` records what was really obtained."""

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root
        self.log = log
        (root / "debs").mkdir(parents=True, exist_ok=True)
        (root / "trees").mkdir(parents=True, exist_ok=True)
        self.manifest_path = root / "manifest.json"
        self.manifest: dict[str, object] = _previous(self.manifest_path, root, log)

    def save(self) -> None:
        _write_json(self.manifest_path, self.manifest)

    def unpack_again(self, f: Fetched) -> None:
        """Remove a damaged unpacked tree; the next ``fetch`` unpacks it again from the verified .deb."""
        self.log(f"{f.package} {f.version}: unpacked tree is damaged; unpacking it again")
        shutil.rmtree(f.root)

    def fetch(self, cands: list[Candidate], what: str) -> Fetched:
        """Download the newest candidate that the archive really has (404s fall back to the next one)."""
        errors = []
        for c in _sort_versions(cands):
            key = f"{c.package}_{c.version}".replace(":", "%3a") + ("" if c.arch == "arm64" else f"_{c.arch}")
            deb = self.root / "debs" / f"{key}_{c.arch}.deb"
            tree = self.root / "trees" / key
            want = _apt_sha256(c)
            if not deb.is_file():
                with tempfile.TemporaryDirectory(dir=self.root / "debs") as tmp:
                    name = c.package if c.arch == "all" else f"{c.package}:{c.arch}"  # arch-all: no qualifier
                    r = runmod.run([*_apt("apt-get"), "download", f"{name}={c.version}"], timeout=600,
                                   check=False, cwd=Path(tmp))
                    got = list(Path(tmp).glob("*.deb"))
                    if r.returncode != 0 or len(got) != 1:
                        errors.append(f"{c.package} {c.version}: {r.stderr.decode(errors='replace').strip()[-120:]}")
                        continue
                    got[0].replace(deb)
            sha = hashlib.sha256(deb.read_bytes()).hexdigest()
            if want and sha != want:
                deb.unlink()
                raise KdumplabError(str(deb), f"sha256 {sha} but apt says {want}", "rerun `kdumplab lab setup`")
            if not tree.is_dir():
                tmpdir = Path(tempfile.mkdtemp(dir=self.root / "trees", prefix=".unpack-"))
                try:
                    runmod.run(["dpkg-deb", "-x", deb, tmpdir], timeout=300)
                    tmpdir.replace(tree)
                finally:
                    shutil.rmtree(tmpdir, ignore_errors=True)
            self.log(f"{what}: {c.package} {c.version} ({c.suite})")
            return Fetched(c.package, c.version, c.suite, sha, tree)
        raise KdumplabError(what, "no candidate could be downloaded: " + "; ".join(errors[:3]) if errors
                            else "no candidate in the apt indexes", "check `apt-get update` and the mirror")


# ---------------------------------------------------------------- steps

def _kernel_candidates(gen: str, arch: ArchParts = ARCHES["arm64"]) -> list[Candidate]:
    suite = KERNEL_SUITES[gen]
    release = gen.split("-")[0]  # "6.12-16k" is a flavour of 6.12
    prefix = "linux-binary-7.2" if gen == "7.2" else f"linux-image-{release}"
    names = set()
    for p in ("linux-image-" + release, prefix):
        done = runmod.run([*_apt("apt-cache"), "pkgnames", p], timeout=60, check=False)
        names |= {n for n in done.stdout.decode().split() if arch.kernels[gen].match(n)}
    cands = [c for c in _madison(*sorted(names), arch=arch.deb) if _in_suite(c, suite)]
    if gen == "5.10":  # prefer the unsigned image when both exist (same Image, no signature wrapper)
        uns = [c for c in cands if c.package.endswith("-unsigned")]
        cands = uns or cands
    return cands


def _find_vmlinuz(tree: Path) -> Path:
    hits = sorted(tree.glob("boot/vmlinuz-*")) + sorted(tree.glob("usr/lib/modules/*/vmlinuz"))
    if not hits:
        raise KdumplabError(str(tree), "no vmlinuz in the kernel package")
    return hits[0]


def _readelf(path: Path) -> tuple[list[str], str | None]:
    done = runmod.run(["readelf", "-d", "-l", "-W", path], timeout=60)
    text = done.stdout.decode(errors="replace")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", text)
    interp = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", text)
    return needed, interp.group(1) if interp else None


def _inside(root: Path, rel: Path) -> Path | None:
    """``rel`` inside an unpacked package tree, following symlinks as the guest would: an absolute target
    (amd64 bullseye's /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-2.31.so) means the same tree,
    not the host. None if it is not a file there."""
    path = Path(rel.as_posix().lstrip("/"))
    for _ in range(16):
        full = root / path
        if not full.is_symlink():
            return full if full.is_file() else None
        target = Path(full.readlink())
        path = Path(os.path.normpath(Path(target.as_posix().lstrip("/")) if target.is_absolute()
                                     else path.parent / target))
    return None


def _kexec_set(cache: Cache, suite: str, version: str, arch: ArchParts = ARCHES["arm64"]) -> dict[str, object]:
    """kexec-tools of ``suite`` with every library package its binary needs, from the same suite."""
    deb = arch.deb
    kexec = cache.fetch([c for c in _madison("kexec-tools", arch=deb) if _in_suite(c, suite)],
                        f"kexec-tools {version} {deb}")
    if not kexec.version.split(":")[-1].startswith(version):
        raise KdumplabError(f"kexec-tools {suite}", f"got {kexec.version}, expected {version}")
    binary = next((kexec.root / d / "kexec" for d in ("sbin", "usr/sbin") if (kexec.root / d / "kexec").is_file()),
                  None)
    if binary is None:
        raise KdumplabError(f"kexec-tools {kexec.version}", "no sbin/kexec or usr/sbin/kexec in the package")
    roots: dict[str, Fetched] = {}
    level = [kexec.package]
    seen: set[str] = set()
    # Walk Depends of the suite's versions, one level at a time (each apt-cache call costs seconds):
    # library packages carry the sonames readelf asks for.
    while level:
        seen |= set(level)
        by_pkg: dict[str, list[Candidate]] = {}
        for c in _madison(*level, arch=deb):
            if _in_suite(c, suite) and (c.package != kexec.package or c.version == kexec.version):
                by_pkg.setdefault(c.package, []).append(c)
        chosen = []
        for pkg, cands in sorted(by_pkg.items()):
            if pkg == kexec.package:
                chosen.append(f"{pkg}:{deb}={kexec.version}")
                continue
            try:
                roots[pkg] = cache.fetch(cands, f"{suite} {pkg} {deb}")
            except KdumplabError as e:
                # a Depends the archive cannot serve (sid amd64 once listed libc-gconv-modules-extra
                # without a file): skipped here; the NEEDED walk below fails if a library is really missing
                cache.log(f"skipped {pkg}: {e.what}")
                continue
            chosen.append(f"{pkg}:{deb}={roots[pkg].version}")
        if not chosen:
            break
        dep = runmod.run([*_apt("apt-cache"), "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", *chosen],
                         timeout=120, check=False).stdout.decode()
        nxt = {m.group(1) for m in re.finditer(r"^\s+\|?(?:Pre)?Depends: <?([a-z0-9][a-z0-9+.-]*?)(?::"
                                                rf"{deb})?>?$",
                                                dep, re.M)}
        level = sorted(p for p in nxt if p.startswith(("lib", "zlib")) and p not in seen)
    # Resolve NEEDED recursively within the downloaded trees.
    files: dict[str, str] = {}
    todo = [binary]
    interp_path = None
    while todo:
        elf = todo.pop()
        needed, interp = _readelf(elf)
        if interp and interp_path is None:
            interp_path = interp
            # usrmerged suites (trixie, sid) ship /lib/... as usr/lib/... in their packages.
            hits = [_inside(r.root, Path(pre) / interp.lstrip("/")) for r in roots.values() for pre in ("", "usr")]
            hit = next((h for h in hits if h is not None), None)
            if hit is not None:
                files[interp] = str(hit)
                todo.append(hit)
            else:
                raise KdumplabError(f"kexec-tools {version}", f"dynamic loader {interp} not found in {suite}")
        for so in needed:
            if any(k.endswith("/" + so) for k in files):
                continue
            for r in roots.values():
                d = next((d for d in arch.libdirs if _inside(r.root, Path(d) / so) is not None), None)
                if d is not None:
                    hit = _inside(r.root, Path(d) / so)
                    files[f"/{d}/{so}"] = str(hit)
                    todo.append(hit)  # type: ignore[arg-type]
                    break
            else:
                raise KdumplabError(f"kexec-tools {version}", f"library {so} not found in {suite}'s packages")
    return {"package": kexec.package, "version": kexec.version, "sha256": kexec.sha256, "suite": suite,
            "binary": str(binary), "interp": interp_path, "files": files,
            "library_packages": {p: f.version for p, f in sorted(roots.items())}}


def _firmware(cache: Cache, arch: ArchParts) -> dict[str, object]:
    """The firmware a guest of ``arch`` can boot with, each recorded with its package version and sha256.

    x86: SeaBIOS is what QEMU loads by default (bios-256k.bin from the host's seabios package, which
    qemu-system-x86 depends on); OVMF is fetched into the cache from bookworm's ovmf and given with -bios.
    """
    out: dict[str, object] = {}
    if arch.deb == "amd64":
        bios = Path("/usr/share/seabios/bios-256k.bin")
        ver = runmod.run(["dpkg-query", "-W", "-f", "${Version}", "seabios"], timeout=30, check=False)
        if bios.is_file():
            out["seabios"] = {"package": "seabios", "version": ver.stdout.decode().strip(), "path": str(bios),
                              "sha256": hashlib.sha256(bios.read_bytes()).hexdigest()}
    for pkg, inner in arch.firmware.items():
        cands = _madison(pkg, arch=arch.deb) or _madison(pkg, arch="all")  # arch-all on a foreign arch
        f = cache.fetch([c for c in cands if _in_suite(c, "bookworm")], pkg)
        path = f.root / inner
        if not path.is_file():
            raise KdumplabError(f"{pkg} {f.version}", f"no {inner} in the package")
        out[pkg] = {"package": f.package, "version": f.version, "deb_sha256": f.sha256, "path": str(path),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return out


def _arch_parts(cache: Cache, arch: ArchParts, kexec: bool) -> dict[str, object]:
    """Kernels, busybox, kexec-tools and firmware of one guest architecture (a manifest section)."""
    kernels = {}
    before = _previous(manifest_path(_arch_name(arch)), cache.root, cache.log).get("kernels")
    for gen in (g for g in KERNEL_SUITES if g in arch.kernels):
        cands = _kernel_candidates(gen, arch)
        f = cache.fetch(cands, f"kernel {gen} {arch.deb}")
        old = before.get(gen) if isinstance(before, dict) else None
        image, sha = _checked_image(f, arch, old)
        if image is None:  # damaged since the last setup: unpack from the .deb (verified against apt) again
            cache.unpack_again(f)
            f = cache.fetch(cands, f"kernel {gen} {arch.deb}")
            image, sha = _checked_image(f, arch, old)
            if image is None:
                raise KdumplabError(str(f.root), "kernel image still differs from its recorded sha256 after "
                                    "unpacking again", f"remove {cache.root} and rerun `kdumplab lab setup`")
        kernels[gen] = {"package": f.package, "version": f.version, "suite": f.suite, "sha256": f.sha256,
                        "vmlinuz": str(image), "image_sha256": sha}
    bb = cache.fetch([c for c in _madison("busybox-static", arch=arch.deb) if _in_suite(c, "bookworm")],
                     f"busybox-static {arch.deb}")
    busybox = {"package": bb.package, "version": bb.version, "sha256": bb.sha256, "path": str(bb.root / "bin/busybox")}
    out: dict[str, object] = {"kernels": kernels, "busybox": busybox}
    if kexec:
        out["kexec_tools"] = {v: _kexec_set(cache, s, v, arch) for v, s in KEXEC_SUITES.items()}
    fw = _firmware(cache, arch)
    if fw:
        out["firmware"] = fw
    return out


def setup(log: Callable[[str], None], *, apt: bool = True, kexec: bool = True,
          arches: tuple[str, ...] = tuple(ARCHES)) -> dict[str, object]:
    """Run every step for the guest architectures ``arches``; returns the manifest (also written to the
    cache). arm64's parts sit in manifest.json, every other architecture's in manifest-<arch>.json; the
    returned dict has arm64's at its top level and every other architecture's under its name."""
    t0 = time.monotonic()
    parts = [ARCHES[a] for a in arches]
    if apt:
        if os.geteuid() != 0:
            raise KdumplabError("lab setup", "apt steps need root", "run as root, or pass --no-apt")
        missing = [a.qemu_package for a in parts if runmod.which(a.qemu_binary) is None]
        if missing or runmod.which("readelf") is None:
            runmod.run(["apt-get", "update"], timeout=600)
            runmod.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends",
                        *missing, "binutils", "cpio"], timeout=1200)
        archs = runmod.run(["dpkg", "--print-foreign-architectures"], timeout=30).stdout.decode().split()
        native = runmod.run(["dpkg", "--print-architecture"], timeout=30).stdout.decode().strip()
        changed = False
        for a in parts:
            if a.deb != native and a.deb not in archs:
                runmod.run(["dpkg", "--add-architecture", a.deb], timeout=30)
                changed = True
        changed |= _write_if_changed(SOURCES_FILE, sources_text(mirror_uris()))
        changed |= _write_if_changed(PREFS_FILE, prefs_text())
        if changed or not all(any(_in_suite(c, "sid") for c in _madison("busybox-static", arch=a.deb))
                              for a in parts):
            log("apt-get update")
            runmod.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], timeout=900)
    cache = Cache(cache_dir(), log)
    out: dict[str, object] = {}
    for name in arches:
        section = _arch_parts(cache, ARCHES[name], kexec)
        if name == "arm64":
            cache.manifest.update(section)
            cache.save()
            out.update(section)
        else:
            # its own file: a concurrent arm64-only setup rewrites manifest.json from what it read earlier
            _write_json(manifest_path(name), section)
            out[name] = section
    cache.manifest["setup_wall_s"] = out["setup_wall_s"] = round(time.monotonic() - t0, 1)
    cache.save()
    return out


def manifest_path(arch: str = "arm64") -> Path:
    """arm64's manifest is ``manifest.json``; every other guest architecture has ``manifest-<arch>.json``."""
    return cache_dir() / ("manifest.json" if arch == "arm64" else f"manifest-{arch}.json")


def _write_json(path: Path, data: object) -> None:
    """A manifest, landing whole, with every path inside the cache written relative to it (so a moved or
    copied cache keeps working)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_paths(data, lambda p: _relative(p, path.parent)), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


#: Manifest keys whose values are file paths (``files`` maps guest paths to host paths).
_PATH_KEYS = frozenset({"vmlinuz", "path", "binary"})


def _paths(node: object, fix: Callable[[str], str], key: str = "") -> object:
    """``node`` with ``fix`` applied to every path value of a manifest."""
    if isinstance(node, dict):
        if key == "files":
            return {k: fix(v) if isinstance(v, str) else v for k, v in node.items()}
        return {k: _paths(v, fix, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_paths(v, fix) for v in node]
    return fix(node) if key in _PATH_KEYS and isinstance(node, str) else node


def _relative(path: str, root: Path) -> str:
    p = Path(path)
    return str(p.relative_to(root)) if p.is_absolute() and p.is_relative_to(root) else path


def _absolute(path: str, root: Path, where: Path) -> str:
    """A manifest path as a host path. Relative paths lie in the cache. An absolute path from an older
    manifest that points into another cache's ``trees/`` (the cache was moved or copied) is taken from this
    cache's ``trees/`` if it is there, else refused: silently using the old cache is what moved caches did."""
    p = Path(path)
    if not p.is_absolute():
        return str(root / p)
    if p.is_relative_to(root) or "trees" not in p.parts:
        return path  # this cache, or a host file (SeaBIOS from the host's seabios package)
    rel = Path(*p.parts[p.parts.index("trees"):])
    if (root / rel).exists():
        return str(root / rel)
    raise KdumplabError(str(where), f"names {path}, outside this cache ({root}), and {rel} is not here",
                        "rerun `kdumplab lab setup`")


def _read_manifest(path: Path, root: Path) -> dict:
    """A manifest with host paths; a truncated or garbled one is a one-line error."""
    from kdumplab.inputfile import read_text  # noqa: PLC0415

    try:
        m = json.loads(read_text(path, strict=True))
    except ValueError as err:
        raise KdumplabError(str(path), f"unreadable lab manifest ({' '.join(str(err).split())[:80]})",
                            "rerun `kdumplab lab setup`") from None
    if not isinstance(m, dict):
        raise KdumplabError(str(path), "unreadable lab manifest (not a JSON object)", "rerun `kdumplab lab setup`")
    return _paths(m, lambda p: _absolute(p, root, path))  # type: ignore[return-value]


def _previous(path: Path, root: Path, log: Callable[[str], None]) -> dict:
    """What the last setup recorded (host paths), or {} when there is none or it is unusable."""
    if not path.is_file():
        return {}
    try:
        return _read_manifest(path, root)
    except KdumplabError as err:
        log(f"{err.one_line()}; writing it afresh")
        return {}


def _arch_name(arch: ArchParts) -> str:
    return next(name for name, parts in ARCHES.items() if parts is arch)


def _checked_image(f: Fetched, arch: ArchParts, old: object) -> tuple[Path | None, str]:
    """The kernel image of an unpacked package and its sha256; None when the image no longer matches what
    the last setup recorded for the same package version (the tree was damaged since)."""
    image = _find_vmlinuz(f.root)
    sha = image_sha256(image)
    same = isinstance(old, dict) and old.get("package") == f.package and old.get("version") == f.version
    if same and old.get("image_sha256") not in (None, sha):  # type: ignore[union-attr]
        return None, sha
    try:
        check_image(image, _arch_name(arch))
    except KdumplabError:
        return None, sha
    return image, sha


@dataclass(frozen=True, slots=True)
class Lab:
    """What a boot needs from the cache: kernels by generation, busybox, and kexec-tools by version, for
    one guest architecture; ``firmware`` names the firmware files it can boot with (x86: seabios, ovmf)."""

    kernels: dict[str, dict[str, str]]
    busybox: Path
    kexec_tools: dict[str, dict] = field(default_factory=dict)  # manifest "kexec_tools" (empty: --no-kexec)
    arch: str = "arm64"
    firmware: dict[str, dict] = field(default_factory=dict)


def unknown_kernel_hint(kernel: str, lab: Lab) -> str:
    """What to do about a kernel the cache does not hold: build it (the lab's own kernels) or pick another."""
    from kdumplab.lab import build  # noqa: PLC0415 (build imports this module)

    if kernel in build.VARIANTS:
        return f"build it first: kdumplab lab build --variant {kernel} (tens of minutes)"
    return "one of " + ", ".join(lab.kernels)


def load_lab(arch: str = "arm64") -> Lab:
    """Read the cache manifest (the section of guest architecture ``arch``); a one-line error if setup has
    not run for it."""
    path = manifest_path(arch)
    if not path.is_file():
        raise KdumplabError(str(path), "lab cache missing", f"run `kdumplab lab setup --arch {arch}`")
    m = _read_manifest(path, path.parent)
    kernels, busybox = m.get("kernels"), m.get("busybox")
    if not isinstance(kernels, dict) or not isinstance(busybox, dict):
        raise KdumplabError(str(path), f"lab cache incomplete for {arch} (no kernels or busybox)",
                            "run `kdumplab lab setup`")
    for gen, k in kernels.items():
        bad = [key for key in ("package", "version", "vmlinuz") if not isinstance(k, dict)
               or not isinstance(k.get(key), str)]
        if bad:
            raise KdumplabError(str(path), f"kernel {gen}: no {bad[0]}", "rerun `kdumplab lab setup`")
    if not isinstance(busybox.get("path"), str):
        raise KdumplabError(str(path), "busybox: no path", "rerun `kdumplab lab setup`")
    kexec_tools, firmware = m.get("kexec_tools", {}), m.get("firmware", {})
    if not isinstance(kexec_tools, dict) or not isinstance(firmware, dict):
        raise KdumplabError(str(path), "kexec_tools/firmware are not tables", "rerun `kdumplab lab setup`")
    from kdumplab.lab import build  # noqa: PLC0415 (build imports this module)

    # the kernels and kexec-tools `kdumplab lab build` made (issue 13, arm64) sit next to the Debian ones
    if arch == "arm64":
        kernels, kexec_tools = {**kernels, **build.built_kernels()}, {**kexec_tools, **build.built_kexec_tools()}
    return Lab(kernels, Path(busybox["path"]), kexec_tools, arch, firmware)
