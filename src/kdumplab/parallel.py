"""Running many independent pure tasks at once, for ``sweep`` and ``fleet``: in this process, in a local
process pool (the default: all cores), or on a Dask cluster (``--dask ADDRESS`` or ``--dask local``).

Whatever the back-end, at most ``in_flight`` tasks are submitted and not yet collected, so memory stays
bounded however many tasks the iterator yields; results come back in completion order, each with the
task it belongs to. Task functions must be importable module-level functions (they are pickled), and
their inputs and outputs plain values. This is not a scheduler of our own: it hands tasks to
``concurrent.futures`` or ``dask.distributed`` and takes the results back.

Dask workers need kdumplab installed (the same version) and, for ``fleet``, the input paths readable
under the same names.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from kdumplab.errors import KdumplabError

__all__ = ["Backend", "cpu_count", "Progress"]

T = TypeVar("T")
R = TypeVar("R")


def cpu_count() -> int:
    """The cores this process may use (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Backend:
    """Where tasks run: ``jobs`` local processes (1 = in this process), or a Dask scheduler ``dask``
    (an address such as ``tcp://10.0.0.5:8786``, or ``local`` for a LocalCluster of ``jobs`` workers)."""

    def __init__(self, jobs: int | None = None, dask: str | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise KdumplabError("--jobs", f"{jobs}: needs at least 1")
        self.jobs = jobs or cpu_count()
        self.dask = dask
        self._client: Any = None
        self._cluster: Any = None
        self._pool: Any = None

    @property
    def name(self) -> str:
        if self.dask:
            return f"dask {self.dask}"
        return "this process" if self.jobs == 1 else f"process pool of {self.jobs}"

    def __enter__(self) -> Backend:
        if self.dask:
            self._start_dask()
        elif self.jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)
        return self

    def _start_dask(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise KdumplabError("--dask", "dask.distributed is not installed",
                                "pip install 'dask[distributed]' here and on every worker") from None
        try:
            if self.dask == "local":
                self._cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.dask, timeout=30)
        except (OSError, TimeoutError) as err:
            raise KdumplabError("--dask", f"cannot reach the scheduler {self.dask}: {err}",
                                "start one with `dask scheduler`, or use --dask local") from None

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def map(self, fn: Callable[[T], R], tasks: Iterable[T], in_flight: int | None = None,
            failed: Callable[[T, BaseException], R] | None = None) -> Iterator[tuple[T, R]]:
        """``(task, fn(task))`` for every task, in completion order, with at most ``in_flight`` pending.

        With ``failed``, a task whose worker died or raised gives ``(task, failed(task, error))`` and the run
        goes on (a dead pool is replaced); without it the error propagates.
        """
        if self._client is not None:
            return self._map_dask(fn, tasks, in_flight or 4 * max(self._workers(), 1), failed)
        if self._pool is not None:
            return self._map_pool(fn, tasks, in_flight or 4 * self.jobs, failed)
        return ((t, fn(t)) for t in tasks)

    def _restart_pool(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self.__enter__()

    def _workers(self) -> int:
        try:
            return len(self._client.scheduler_info()["workers"])
        except (KeyError, OSError):
            return self.jobs

    def _map_pool(self, fn: Callable[[T], R], tasks: Iterable[T], limit: int,
                  failed: Callable[[T, BaseException], R] | None) -> Iterator[tuple[T, R]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pending: dict[Any, T] = {}
        it = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    task = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[self._pool.submit(fn, task)] = task
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                task = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as err:
                    if failed is None:
                        raise
                    broken = broken or isinstance(err, BrokenProcessPool)
                    result = failed(task, err)
                yield task, result
            if broken:  # every task still pending died with the pool: report them, start a new pool
                for fut, task in list(pending.items()):
                    del pending[fut]
                    yield task, failed(task, BrokenProcessPool("a worker process died"))  # type: ignore[misc]
                self._restart_pool()

    def _map_dask(self, fn: Callable[[T], R], tasks: Iterable[T], limit: int,
                  failed: Callable[[T, BaseException], R] | None) -> Iterator[tuple[T, R]]:
        from distributed import as_completed

        it = iter(tasks)
        pending: dict[str, T] = {}

        def submit() -> Any:
            try:
                task = next(it)
            except StopIteration:
                return None
            fut = self._client.submit(fn, task, pure=False)
            pending[fut.key] = task
            return fut

        first = [f for f in (submit() for _ in range(limit)) if f is not None]
        if not first:
            return
        queue = as_completed(first)
        for fut in queue:
            task = pending.pop(fut.key)
            try:
                result = fut.result()
            except Exception as err:
                if failed is None:
                    raise
                result = failed(task, err)
            fut.release()
            nxt = submit()
            if nxt is not None:
                queue.add(nxt)
            yield task, result


class Progress:
    """``done/total, rate, ETA`` on stderr, redrawn at most 5 times a second, only when stderr is a terminal."""

    def __init__(self, what: str, total: int | None, stream: Any = None) -> None:
        self.what, self.total, self.done = what, total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self._last = time.monotonic()

    def add(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.2:
            self._last = now
            self.stream.write("\r" + self.line(now) + "\x1b[K")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what}: {self.done}" + (f"/{self.total}" if self.total is not None else "")
        text += f", {rate:,.0f}/s" if rate >= 10 else f", {rate * 60:,.0f}/min"
        if self.total and rate > 0:
            text += f", ETA {max(self.total - self.done, 0) / rate:,.0f} s"
        return text

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
