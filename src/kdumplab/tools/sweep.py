"""``kdumplab sweep``: cut the sizes into tasks, run them on a back-end, fold the answers into runs."""

from __future__ import annotations

from collections.abc import Iterator

from kdumplab import sweep as sw
from kdumplab.errors import KdumplabError
from kdumplab.parallel import Backend, Progress

__all__ = ["resolve_kernels", "run_sweep", "CHUNK"]

#: sizes per task: big enough that the pool's own work per task (about 0.5 ms of the parent's CPU: pickling,
#: queues, waking up) is noise next to the model's (a task of 1024 points takes 0.15-0.4 s), small enough to spread
#: evenly (a 1,000,000-scenario sweep is about 1,000 tasks). 256 cost the parent 3.4 CPU-us a point, 1024 1.9.
CHUNK = 1024


def resolve_kernels(text: str) -> tuple[str, ...]:
    """``all`` (every arm64 generation and proposal) or a comma-separated list of generations."""
    from kdumplab import policy

    if text.strip() == "all":
        return policy.POLICY_NAMES("arm64")
    names = tuple(k.strip() for k in text.split(",") if k.strip())
    if not names:
        raise KdumplabError("--kernel", "no generation given", "all, or e.g. 6.1,6.12")
    return tuple(policy.for_kernel(k).name for k in names)


def resolve_kexec_tools(text: str | None) -> str | None:
    """A modelled kexec-tools version, ``none``, or (None) the newest modelled one."""
    from kdumplab.kexec import KEXEC_TOOLS

    if text == "none":
        return None
    if text is None:
        return max(KEXEC_TOOLS, key=lambda v: tuple(int(x) for x in v.split(".")))
    if text not in KEXEC_TOOLS:
        raise KdumplabError("--kexec-tools", f"{text!r} is not modelled", f"one of {', '.join(KEXEC_TOOLS)}, none")
    return text


def _tasks(kernels: tuple[str, ...], mems: list[int], cmdline: str, kexec_tools: str | None
           ) -> Iterator[tuple[str, tuple[int, ...], str, str | None]]:
    for kernel in kernels:
        for i in range(0, len(mems), CHUNK):
            yield kernel, tuple(mems[i:i + CHUNK]), cmdline, kexec_tools


def run_sweep(cmdline: str, mem_range: str, step: str | None, kernels: tuple[str, ...], kexec_tools: str | None,
              backend: Backend, progress: Progress | None = None) -> sw.Sweep:
    from kdumplab.ranges import parse_size

    start, end = sw.parse_mem_range(mem_range)
    step_bytes = parse_size(step, "--step") if step else sw.default_step(start, end)
    mems = sw.sizes(start, end, step_bytes)
    if progress is not None:
        progress.total = len(mems) * len(kernels)
    # each task comes back folded into runs, in completion order; join them in task order as they complete
    index = {t[:2]: n for n, t in enumerate(_tasks(kernels, mems, "", None))}
    waiting: dict[int, list[sw.Run]] = {}
    runs: list[sw.Run] = []
    nxt = 0
    with backend:
        for task, chunk in backend.map(sw.sweep_runs, _tasks(kernels, mems, cmdline, kexec_tools)):
            waiting[index[task[:2]]] = chunk
            if progress is not None:
                progress.add(len(task[1]))
            while nxt in waiting:
                sw.join_runs(runs, waiting.pop(nxt))
                nxt += 1
    if progress is not None:
        progress.close()
    return sw.Sweep(cmdline, "qemu-virt", kernels, start, end, step_bytes, kexec_tools, tuple(runs),
                    len(mems) * len(kernels))
