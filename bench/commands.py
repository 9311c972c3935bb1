"""Running an hcp command from a benchmark: its wall time, its peak memory and its output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def hcp(*args: str, env: dict) -> tuple[float, int, str]:
    """Run an hcp command; return wall seconds, the child's peak RSS (MiB) and its stdout.

    The peak is the child's own high-water mark (``VmHWM``): ``ru_maxrss`` of a forked child never reports
    less than the parent's resident size at the fork, so it showed the bench's own size for small steps."""
    code = ("import resource, runpy, sys; sys.argv = ['hcp'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('hcp.cli', run_name='__main__')\n"
            "finally:\n    hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "    print('PEAK_RSS_KIB', hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hcp {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    peak = max([int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB")] or [0])
    return seconds, peak // 1024, done.stdout
