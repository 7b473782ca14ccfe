"""Where a task that needs a GPU may run: on an agent whose own newest GPU sample shows a device
with the memory it asks for free (`Handler.gpu`, `Handler.gpu_memory_mb`).

With the Redis backend such tasks wait in a pool of their own that only agents with a GPU
claim from; an agent that claims one without room for it hands it back and leaves that pool
alone for a while. With no shared pool (the memory backend) a submission that this host cannot
ever run is a 422 that says why.
"""

from __future__ import annotations

from polyad.collectors.gpu import GpuDevice, GpuSample
from polyad.snapshot import Snapshot
from polyad.tasks.registry import Handler

__all__ = ["fits_here", "has_gpu", "why_never_here"]

_MB = 1024 * 1024


def _devices(snapshot: Snapshot | None) -> list[GpuDevice]:
    """The devices that answered this tick with their memory figures."""
    sample = snapshot.sample("gpu", GpuSample) if snapshot is not None else None
    if sample is None:
        return []
    return [device for device in sample.devices if device.success
            and device.memory_total_bytes is not None and device.memory_used_bytes is not None]


def has_gpu(snapshot: Snapshot | None) -> bool:
    return bool(_devices(snapshot))


def fits_here(handler: Handler, snapshot: Snapshot | None) -> bool:
    """A device here has the handler's GPU memory free now."""
    wanted = handler.gpu_memory_mb * _MB
    return any((device.memory_total_bytes or 0) - (device.memory_used_bytes or 0) >= wanted
               for device in _devices(snapshot))


def why_never_here(handler: Handler, snapshot: Snapshot | None) -> str | None:
    """Why this host could never run the handler's tasks (no GPU, or none with that much
    memory in all); None when it could."""
    devices = _devices(snapshot)
    if not devices:
        return f"{handler.key} needs a GPU, and this host has none that answers"
    if not any((device.memory_total_bytes or 0) >= handler.gpu_memory_mb * _MB
               for device in devices):
        return (f"{handler.key} needs a GPU with {handler.gpu_memory_mb} MB of memory, and no "
                "GPU on this host has that much")
    return None
