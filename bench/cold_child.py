"""One cold start, run as `python -m bench.cold_child MODULE EVENT_FILE RESULT_FILE`.

Only the standard library is imported before the clock starts, so the figure
is what a fresh Lambda container spends importing the handler module and
serving its first request (init + first invoke), nothing of the bench itself.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path

from bench.lambda_context import FakeLambdaContext


def main(module_name: str, event_file: str, result_file: str) -> None:
    event = json.loads(Path(event_file).read_text())
    context = FakeLambdaContext()
    started = time.perf_counter()
    module = importlib.import_module(module_name)
    result = module.handler(event, context)
    elapsed = time.perf_counter() - started
    report = {"seconds": elapsed, "peak_rss_kib": _peak_rss_kib(), "result": result}
    Path(result_file).write_text(json.dumps(report))


def _peak_rss_kib() -> int:
    """Peak RSS of this process's own address space, interpreter included.

    Not getrusage's ru_maxrss: Linux carries it across fork and execve, so every
    child reports at least the parent's RSS at spawn time (the bench parent's,
    about 140 MiB), whatever it used itself. VmHWM belongs to the new address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    # Elsewhere (macOS) ru_maxrss is in bytes and not inherited across exec.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


if __name__ == "__main__":
    main(*sys.argv[1:4])
