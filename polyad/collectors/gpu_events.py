"""XID errors (the driver's reports of GPU faults: 48 a double-bit ECC error, 79 a GPU fallen
off the bus …) counted per GPU and XID code from NVML's event set.

NVML delivers events to whoever waits on the set, so one daemon thread waits in a loop; a
collector tick only reads the counts. Nothing can wake NVML's wait early, so its timeout bounds
how long close() blocks: 250 ms, where each empty wake costs some microseconds. NVML is
thread-safe, and the binding's ctypes calls release the GIL while they wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import structlog

from polyad.collectors.base import NoDataLog

__all__ = ["XidWatcher"]

log = structlog.get_logger(logger_name="polyad.collectors")


class XidWatcher:
    """Counts XID errors of the GPUs it could register; a GPU or driver that cannot report them
    (NotSupported, no permission) has no counts (None), never a failed collector."""

    def __init__(self, nvml: Any, no_data: NoDataLog, *, wait_ms: int = 250) -> None:
        self._nvml = nvml
        self._no_data = no_data
        self._wait_ms = wait_ms
        self._event_set: Any = None
        self._watched: frozenset[int] = frozenset()
        self._counts: dict[int, dict[int, int]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, handles: Iterable[tuple[int, Any]]) -> None:
        """Registers each (index, handle) for XID events and starts waiting, if any took."""
        nvml = self._nvml
        try:
            event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as error:
            self._no_data.once(f"no XID events: cannot create an NVML event set: {error}")
            return
        watched = set()
        for index, handle in handles:
            try:
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError,
                                              event_set)
            except nvml.NVMLError as error:
                self._no_data.once(f"gpu {index} does not report XID events: {error}")
                continue
            watched.add(index)
        if not watched:
            self._free(event_set)
            return
        self._event_set, self._watched = event_set, frozenset(watched)
        self._counts = {index: {} for index in watched}
        self._thread = threading.Thread(target=self._wait_loop, name="polyad-gpu-xid",
                                        daemon=True)
        self._thread.start()

    def counts(self, index: int) -> tuple[tuple[int, int], ...] | None:
        """(XID, count) pairs seen on that GPU since the watch began, by XID; None when it is
        not watched."""
        if index not in self._watched:
            return None
        with self._lock:
            return tuple(sorted(self._counts[index].items()))

    def stop(self) -> None:
        """Ends the wait loop (within `wait_ms`) and frees the event set."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout=self._wait_ms / 1000 + 1.0)
        if thread.is_alive():  # still inside NVML's wait: freeing the set under it would crash
            log.warning("GPU XID watch did not stop in time; its event set is left allocated")
            return
        self._free(self._event_set)
        self._event_set = None

    def _free(self, event_set: Any) -> None:
        try:
            self._nvml.nvmlEventSetFree(event_set)
        except self._nvml.NVMLError as error:
            log.debug("NVML event set not freed", error=str(error))

    def _wait_loop(self) -> None:
        nvml = self._nvml
        timeout = getattr(nvml, "NVMLError_Timeout", ())
        while not self._stopping.is_set():
            try:
                event = nvml.nvmlEventSetWait_v2(self._event_set, self._wait_ms)
            except timeout:  # nothing happened, or an interrupt woke the wait
                continue
            except nvml.NVMLError as error:
                # e.g. a GPU lost: said once, and retried after a pause rather than in a spin
                self._no_data.once(f"waiting for XID events failed: {error}")
                self._stopping.wait(self._wait_ms / 1000)
                continue
            if event.eventType == nvml.nvmlEventTypeXidCriticalError:
                self._count(event)

    def _count(self, event: Any) -> None:
        try:
            index = int(self._nvml.nvmlDeviceGetIndex(event.device))
        except self._nvml.NVMLError as error:
            self._no_data.once(f"an XID event named no GPU: {error}")
            return
        if index not in self._watched:
            return
        xid = int(event.eventData)
        with self._lock:
            per_gpu = self._counts[index]
            per_gpu[xid] = per_gpu.get(xid, 0) + 1
