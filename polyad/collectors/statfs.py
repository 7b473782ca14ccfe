"""`statvfs` of mounts that may never answer (an NFS server gone): each call in its own daemon
thread, all of a tick's waited for together up to one deadline. A mount whose call has not come
back is stale, and no second call is started for it while the first still hangs, so a hung mount
holds one thread, never one per tick (node_exporter's "stuck mounts", #244, #868, #1353)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["GuardedStatfs", "StatResult"]

StatResult = os.statvfs_result


class _Call:
    """One statvfs under way in its thread; `done` is set when it returned or raised."""

    def __init__(self, path: str, statvfs: Callable[[str], StatResult]) -> None:
        self.done = threading.Event()
        self.result: StatResult | OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(path, statvfs), daemon=True,
                                        name="polyad-statfs")
        self._thread.start()

    def _run(self, path: str, statvfs: Callable[[str], StatResult]) -> None:
        try:
            self.result = statvfs(path)
        except OSError as error:
            self.result = error
        finally:
            self.done.set()


class GuardedStatfs:
    def __init__(self, timeout_s: float,
                 statvfs: Callable[[str], StatResult] = os.statvfs) -> None:
        self._timeout_s = timeout_s
        self._statvfs = statvfs
        self._hanging: dict[str, _Call] = {}   # path → its call that outlived a deadline

    def stat_all(self, paths: Sequence[str]) -> dict[str, StatResult | OSError | None]:
        """Each path's statvfs, the error it raised, or None: no answer in time (stale)."""
        calls = {path: self._call(path) for path in paths}
        for gone in [path for path, call in self._hanging.items()
                     if path not in calls and call.done.is_set()]:
            del self._hanging[gone]   # unmounted since, and its call came back
        deadline = time.monotonic() + self._timeout_s
        results: dict[str, StatResult | OSError | None] = {}
        for path, call in calls.items():
            if call is None or not call.done.wait(max(0.0, deadline - time.monotonic())):
                if call is not None:
                    self._hanging[path] = call
                results[path] = None
            else:
                results[path] = call.result
        return results

    def _call(self, path: str) -> _Call | None:
        """A new call for the path, or None while an earlier one still hangs."""
        hanging = self._hanging.get(path)
        if hanging is not None:
            if not hanging.done.is_set():
                return None
            del self._hanging[path]    # it came back at last: ask afresh
        return _Call(path, self._statvfs)

    @property
    def hanging(self) -> int:
        """Threads still blocked in a statvfs (at most one per mount)."""
        return sum(not call.done.is_set() for call in self._hanging.values())
