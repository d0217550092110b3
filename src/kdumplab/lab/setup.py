"""`kdumplab lab setup`: prepare this machine from nothing, idempotently.

Steps: install QEMU (and readelf/cpio) with apt, add the arm64 architecture, add the suites bullseye,
trixie and sid for arm64 only, on the same mirror URIs the machine's apt sources already use, pinned at
priority 100 so nothing from them installs on the host; then download into the cache the four kernels,
busybox-static and kexec-tools of each suite with every shared library it needs (resolved recursively over
``readelf -d`` NEEDED and PT_INTERP), verify each .deb against apt's SHA256, and unpack it.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kdumplab.errors import KdumplabError
from kdumplab.lab import run as runmod

__all__ = ["KERNELS", "KEXEC_SUITES", "cache_dir", "setup", "mirror_uris", "Lab", "load_lab"]

KERNEL_SUITES = {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie", "7.2": "sid"}
# Package-name patterns per generation, as Debian names them (see docs/lab.md).
KERNELS = {
    "5.10": re.compile(r"^linux-image-5\.10\.0-\d+-arm64(-unsigned)?$"),
    "6.1": re.compile(r"^linux-image-6\.1\.0-\d+-arm64-unsigned$"),
    "6.12": re.compile(r"^linux-image-6\.12\.\d+\+deb13-arm64-unsigned$"),
    "7.2": re.compile(r"^(linux-binary-7\.2\.\d+\+deb14-arm64|linux-image-7\.2\.\d+\+deb14-arm64(-unsigned)?)$"),
}
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
    out = ["# Written by `kdumplab lab setup`: arm64 only, pinned low in " + str(PREFS_FILE)]
    for uri, signed in uris:
        out += ["", "Types: deb", f"URIs: {uri}", "Suites: " + " ".join(ADDED_SUITES), "Components: main",
                "Architectures: arm64"]
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


def _madison(*pkgs: str) -> list[Candidate]:
    """Every arm64 version apt knows for ``pkgs`` (one apt-cache call: each costs seconds)."""
    if not pkgs:
        return []
    done = runmod.run([*_apt("apt-cache"), "madison", *(f"{p}:arm64" for p in pkgs)], timeout=120, check=False)
    out = []
    for line in done.stdout.decode().splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2].endswith("arm64 Packages"):
            suite = parts[2].split()[1].split("/")[0]
            out.append(Candidate(parts[0].removesuffix(":arm64"), parts[1], suite))
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
    done = runmod.run([*_apt("apt-cache"), "show", f"{c.package}:arm64={c.version}"], timeout=60, check=False)
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
        self.manifest: dict[str, object] = (
            json.loads(self.manifest_path.read_text()) if self.manifest_path.is_file() else {}
        )

    def save(self) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.manifest_path)

    def fetch(self, cands: list[Candidate], what: str) -> Fetched:
        """Download the newest candidate that the archive really has (404s fall back to the next one)."""
        errors = []
        for c in _sort_versions(cands):
            key = f"{c.package}_{c.version}".replace(":", "%3a")
            deb = self.root / "debs" / f"{key}_arm64.deb"
            tree = self.root / "trees" / key
            want = _apt_sha256(c)
            if not deb.is_file():
                with tempfile.TemporaryDirectory(dir=self.root / "debs") as tmp:
                    r = runmod.run([*_apt("apt-get"), "download", f"{c.package}:arm64={c.version}"], timeout=600,
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

def _kernel_candidates(gen: str) -> list[Candidate]:
    suite = KERNEL_SUITES[gen]
    prefix = "linux-binary-7.2" if gen == "7.2" else f"linux-image-{gen}"
    names = set()
    for p in ("linux-image-" + gen, prefix):
        done = runmod.run([*_apt("apt-cache"), "pkgnames", p], timeout=60, check=False)
        names |= {n for n in done.stdout.decode().split() if KERNELS[gen].match(n)}
    cands = [c for c in _madison(*sorted(names)) if _in_suite(c, suite)]
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


_LIBDIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")


def _kexec_set(cache: Cache, suite: str, version: str) -> dict[str, object]:
    """kexec-tools of ``suite`` with every library package its binary needs, from the same suite."""
    kexec = cache.fetch([c for c in _madison("kexec-tools") if _in_suite(c, suite)], f"kexec-tools {version}")
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
        for c in _madison(*level):
            if _in_suite(c, suite) and (c.package != kexec.package or c.version == kexec.version):
                by_pkg.setdefault(c.package, []).append(c)
        chosen = []
        for pkg, cands in sorted(by_pkg.items()):
            if pkg == kexec.package:
                chosen.append(f"{pkg}:arm64={kexec.version}")
                continue
            roots[pkg] = cache.fetch(cands, f"{suite} {pkg}")
            chosen.append(f"{pkg}:arm64={roots[pkg].version}")
        if not chosen:
            break
        dep = runmod.run([*_apt("apt-cache"), "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
                          "--no-breaks", "--no-replaces", "--no-enhances", *chosen],
                         timeout=120, check=False).stdout.decode()
        nxt = {m.group(1) for m in re.finditer(r"^\s+\|?(?:Pre)?Depends: <?([a-z0-9][a-z0-9+.-]*?)(?::arm64)?>?$",
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
            hits = [r.root / pre / interp.lstrip("/") for r in roots.values() for pre in ("", "usr")]
            hit = next((h for h in hits if h.exists()), None)
            if hit is not None:
                files[interp] = str(hit.resolve())
                todo.append(hit.resolve())
            else:
                raise KdumplabError(f"kexec-tools {version}", f"dynamic loader {interp} not found in {suite}")
        for so in needed:
            if any(k.endswith("/" + so) for k in files):
                continue
            for r in roots.values():
                hit = next((r.root / d / so for d in _LIBDIRS if (r.root / d / so).exists()), None)
                if hit is not None:
                    files["/" + str(hit.relative_to(r.root))] = str(hit.resolve())
                    todo.append(hit.resolve())
                    break
            else:
                raise KdumplabError(f"kexec-tools {version}", f"library {so} not found in {suite}'s packages")
    return {"package": kexec.package, "version": kexec.version, "sha256": kexec.sha256, "suite": suite,
            "binary": str(binary), "interp": interp_path, "files": files,
            "library_packages": {p: f.version for p, f in sorted(roots.items())}}


def setup(log: Callable[[str], None], *, apt: bool = True, kexec: bool = True) -> dict[str, object]:
    """Run every step; returns the manifest (also written to the cache)."""
    t0 = time.monotonic()
    if apt:
        if os.geteuid() != 0:
            raise KdumplabError("lab setup", "apt steps need root", "run as root, or pass --no-apt")
        if runmod.which("qemu-system-aarch64") is None or runmod.which("readelf") is None:
            runmod.run(["apt-get", "update"], timeout=600)
            runmod.run(["apt-get", "install", "-y", "--no-install-recommends", "qemu-system-arm", "binutils",
                        "cpio"], timeout=1200)
        archs = runmod.run(["dpkg", "--print-foreign-architectures"], timeout=30).stdout.decode().split()
        changed = False
        if "arm64" not in archs:
            runmod.run(["dpkg", "--add-architecture", "arm64"], timeout=30)
            changed = True
        changed |= _write_if_changed(SOURCES_FILE, sources_text(mirror_uris()))
        changed |= _write_if_changed(PREFS_FILE, prefs_text())
        if changed or not any(_in_suite(c, "sid") for c in _madison("busybox-static")):
            log("apt-get update")
            runmod.run(["apt-get", "update"], timeout=900)
    cache = Cache(cache_dir(), log)
    kernels = {}
    for gen in KERNEL_SUITES:
        f = cache.fetch(_kernel_candidates(gen), f"kernel {gen}")
        kernels[gen] = {"package": f.package, "version": f.version, "suite": f.suite, "sha256": f.sha256,
                        "vmlinuz": str(_find_vmlinuz(f.root))}
    cache.manifest["kernels"] = kernels
    bb = cache.fetch([c for c in _madison("busybox-static") if _in_suite(c, "bookworm")], "busybox-static")
    cache.manifest["busybox"] = {"package": bb.package, "version": bb.version, "sha256": bb.sha256,
                                 "path": str(bb.root / "bin/busybox")}
    cache.save()
    if kexec:
        cache.manifest["kexec_tools"] = {v: _kexec_set(cache, s, v) for v, s in KEXEC_SUITES.items()}
    cache.manifest["setup_wall_s"] = round(time.monotonic() - t0, 1)
    cache.save()
    return cache.manifest


@dataclass(frozen=True, slots=True)
class Lab:
    """What a boot needs from the cache: kernels by generation, busybox, and kexec-tools by version."""

    kernels: dict[str, dict[str, str]]
    busybox: Path
    kexec_tools: dict[str, dict] = field(default_factory=dict)  # manifest "kexec_tools" (empty: --no-kexec)


def load_lab() -> Lab:
    """Read the cache manifest; a one-line error if setup has not run."""
    path = cache_dir() / "manifest.json"
    if not path.is_file():
        raise KdumplabError(str(path), "lab cache missing", "run `kdumplab lab setup`")
    m = json.loads(path.read_text())
    if "kernels" not in m or "busybox" not in m:
        raise KdumplabError(str(path), "lab cache incomplete", "run `kdumplab lab setup`")
    return Lab(m["kernels"], Path(m["busybox"]["path"]), m.get("kexec_tools", {}))
