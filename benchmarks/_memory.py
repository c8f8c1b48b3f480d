"""Memory of a process tree, for the benchmarks that run hyperimage commands as subprocesses."""

from __future__ import annotations

import os


def tree_pss_kib(pid: int) -> int:
    """Proportional resident memory (``Pss``: a page shared by k processes counts 1/k in
    each, so forked workers' shared pages count once) of ``pid`` and all its descendants,
    in KiB (0 for processes gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
        except OSError:
            pass
    return total
