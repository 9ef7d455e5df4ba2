"""One cold start, run as `python -m bench.cold_child MODULE EVENT_FILE RESULT_FILE`.

Only the standard library is imported before the clock starts, so the figure
is what a fresh Lambda container spends importing the handler module (init,
which builds the app) and serving its first request, nothing of the bench
itself. The first call is also timed alone, with the time it spends in AWS
calls, as the local stand-in for a SnapStart restore's first request.
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.lambda_context import FakeLambdaContext


class _Absent(importlib.abc.MetaPathFinder):
    """Refuses packages the Lambda layer leaves out, so the child imports what the asset holds."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in the Lambda layer)", name=fullname)
        return None


def block(names: tuple[str, ...]) -> _Absent:
    finder = _Absent(names)
    sys.meta_path.insert(0, finder)
    return finder


def main(module_name: str, event_file: str, result_file: str, absent: str = "") -> None:
    finder = block(tuple(absent.split(","))) if absent else None
    event = json.loads(Path(event_file).read_text())
    context = FakeLambdaContext()
    cpu_started, started = time.process_time(), time.perf_counter()
    module = importlib.import_module(module_name)
    imported, cpu_imported = time.perf_counter(), time.process_time()
    if finder is not None:  # the bench's own imports (outside the clock) may need what the layer lacks
        sys.meta_path.remove(finder)
    aws_seconds = _count_aws_time(module)
    if finder is not None:
        sys.meta_path.insert(0, finder)
    cpu_first_started, first_started = time.process_time(), time.perf_counter()
    result = module.handler(event, context)
    done, cpu_done = time.perf_counter(), time.process_time()
    report = {
        "seconds": (imported - started) + (done - first_started),
        # This process's CPU time over the same two spans: what a loaded machine's scheduling does not add.
        "cpu_seconds": (cpu_imported - cpu_started) + (cpu_done - cpu_first_started),
        "import_seconds": imported - started,
        "first_call_seconds": done - first_started,
        "first_call_aws_seconds": aws_seconds(),
        "peak_rss_kib": _peak_rss_kib(),
        "result": result,
    }
    Path(result_file).write_text(json.dumps(report))


def _count_aws_time(module: object) -> Callable[[], float]:
    """Time the first call spends in AWS calls, hooked in after the import (outside the clock).

    On the app's session (tenant clients are built from it later) and on the clients built at init.
    """
    services = getattr(getattr(module, "app", None), "services", None)
    if services is None:  # the baseline makes no AWS call
        return lambda: 0.0
    from bench.aws_calls import CallCounter

    counter = CallCounter()
    counter.install(services.session)
    for client in (services.dynamodb, services.credentials.sts_client):
        counter.install_on_client(client)
    return lambda: counter.aws_seconds


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
    main(*sys.argv[1:5])
