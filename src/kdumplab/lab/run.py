"""The one module that starts child processes (apt-get, dpkg, dpkg-deb, readelf, QEMU).

Every child gets a pinned environment and locale, an empty stdin, its own process group and a wall-clock
timeout. On a timeout, an exception or Ctrl-C the whole group is killed and waited for, so nothing outlives
the call. A failure is reported by kind (not found, killed by a signal, timed out, non-zero exit) with the
command shell-quoted so it can be pasted into a shell.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdumplab.errors import KdumplabError

__all__ = ["Completed", "RunFailed", "run", "which", "quote", "kill_all", "signals_interrupt", "Terminated"]

# Children started by run() and not yet reaped, so a Ctrl-C in the main thread can end those that worker
# threads are waiting on.
_LIVE: set[subprocess.Popen[bytes]] = set()
_LOCK = threading.Lock()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so every ``finally`` kills its QEMU process group
    and removes its scratch directory before the process ends."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


# Main-thread state of the SIGTERM/SIGHUP handler: while "defer" > 0 a signal is only noted in "pending",
# and raised by _raise_deferred() once the child it would have orphaned is in a try block.
_SIGNALS: dict[str, int] = {"defer": 0, "pending": 0}


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    main = threading.current_thread() is threading.main_thread()
    if main:
        _SIGNALS["defer"] += 1
    try:
        yield
    finally:
        if main:
            _SIGNALS["defer"] -= 1


def _raise_deferred() -> None:
    signum, _SIGNALS["pending"] = _SIGNALS["pending"], 0
    if signum and threading.current_thread() is threading.main_thread():
        raise Terminated(signum)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``Terminated`` in the main thread (Python's defaults would end
    the process at once, leaving QEMU re-parented and running past its timeout). Elsewhere a no-op: only
    the main thread may set handlers, and worker threads' children are ended by ``kill_all`` when the main
    thread unwinds."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, _frame: object) -> None:
        if _SIGNALS["defer"]:
            _SIGNALS["pending"] = signum
            return
        raise Terminated(signum)

    old = {sig: signal.signal(sig, raise_terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def kill_all() -> None:
    """Kill the process group of every child still running (used on Ctrl-C with worker threads)."""
    with _LOCK:
        live = list(_LIVE)
    for proc in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Completed:
    """What a finished child left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool = False


class RunFailed(KdumplabError):
    """A child process failed; ``kind`` is one of not-found, signal, timeout, exit."""

    def __init__(self, kind: str, argv: Sequence[str], detail: str, completed: Completed | None = None) -> None:
        super().__init__(f"run {argv[0]}", f"{kind}: {detail}: {quote(argv)}")
        self.kind = kind
        self.completed = completed


def quote(argv: Sequence[str | os.PathLike[str]]) -> str:
    """The command as one shell-quoted line."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "HOME": os.environ.get("HOME", "/root"),
        "DEBIAN_FRONTEND": "noninteractive",
    }
    if extra:
        env.update(extra)
    return env


def which(program: str) -> str | None:
    """Full path of ``program`` on PATH, or None."""
    return shutil.which(program)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    check: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout_path: Path | None = None,
) -> Completed:
    """Run ``argv`` to completion (or kill it at ``timeout`` seconds) and return what it printed.

    With ``stdout_path`` the child's stdout goes straight to that file (a QEMU serial log) and
    ``Completed.stdout`` is empty. ``check`` turns a non-zero exit or a timeout into ``RunFailed``.
    """
    args = tuple(str(a) for a in argv)
    if shutil.which(args[0]) is None and not Path(args[0]).is_file():
        raise RunFailed("not-found", args, f"{args[0]} is not installed or not on PATH")
    out_file = open(stdout_path, "wb") if stdout_path is not None else None  # noqa: SIM115
    t0 = time.monotonic()
    try:
        with _signals_deferred():  # a SIGTERM between fork and the try below would orphan the child
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out_file if out_file is not None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=_env(env),
                start_new_session=True,
            )
            with _LOCK:
                _LIVE.add(proc)
    except OSError as e:
        if out_file is not None:
            out_file.close()
        raise RunFailed("not-found", args, str(e)) from e
    timed_out = False
    try:
        try:
            _raise_deferred()
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _LOCK:
            _LIVE.discard(proc)
        if out_file is not None:
            out_file.close()
    done = Completed(args, proc.returncode, out or b"", err or b"", time.monotonic() - t0, timed_out)
    if check:
        if timed_out:
            raise RunFailed("timeout", args, f"killed after {timeout:g} s", done)
        if proc.returncode < 0:
            raise RunFailed("signal", args, f"killed by signal {-proc.returncode}", done)
        if proc.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise RunFailed("exit", args, f"exit status {proc.returncode} {tail[0]}".strip(), done)
    return done
