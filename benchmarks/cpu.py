"""CPU time, read from /proc (Linux), to see where a run's cores went.

On a small machine the load generator competes with the server for the same cores, and
anything else running (a test suite, a build) lowers every figure; the tables show both.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # units of the times in /proc/stat and /proc/<pid>/stat


@dataclass(frozen=True)
class Reading:
    """CPU seconds used so far, by whom; differences of two readings give cores used."""

    wall_s: float
    machine_s: float  # every process on the machine
    own_s: float  # this process
    waited_s: float  # its children that ended and were waited for: the wrk runs
    watched_s: float  # the live process trees it watches: the servers

    def cores_since(self, before: Reading) -> dict[str, float]:
        """Cores (CPU seconds per second) each party used since `before`."""
        wall = self.wall_s - before.wall_s
        used = {
            name: (getattr(self, name + "_s") - getattr(before, name + "_s")) / wall
            for name in ("machine", "own", "waited", "watched")
        }
        measured = used["own"] + used["waited"] + used["watched"]
        used["other"] = max(0.0, used["machine"] - measured)  # should be ~0
        return used


def read(*watched: int) -> Reading:
    own = os.times()
    return Reading(
        wall_s=time.perf_counter(),
        machine_s=machine_busy_s(),
        own_s=own.user + own.system,
        waited_s=waited_children_cpu_s(),
        watched_s=sum(tree_cpu_s(pid) for pid in watched),
    )


def machine_busy_s() -> float:
    """CPU seconds used so far by everything on the machine (the first line of /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its live descendants."""
    return sum(_process_cpu_s(p) for p in process_tree(pid))


def waited_children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except FileNotFoundError:
            continue  # the thread ended
        pids.extend(p for child in children for p in process_tree(int(child)))
    return pids


def _process_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0  # it ended
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": utime and stime are 14, 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
