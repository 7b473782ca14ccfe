"""fleet.probe: a shared (not host-bound) task that waits `seconds`, reporting progress, and
answers with the process that ran it, so the fleet tests can see which agent took each task
and that each ran once; fleet.gpu_probe, the same needing a GPU with 1 GiB free. Installed by
`make dev` for the tests only."""

from __future__ import annotations

import asyncio
import os
import socket

from pydantic import BaseModel, ConfigDict, Field

from polyad.tasks.registry import Handler, TaskContext

__all__ = ["handlers"]


class ProbeData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    seconds: float = Field(default=0.0, ge=0, le=60)
    tag: str = Field(default="", max_length=64)   # makes otherwise equal tasks distinct


async def probe(context: TaskContext, data: ProbeData) -> dict[str, object]:
    steps = max(1, round(data.seconds * 10))
    for step in range(steps):
        await asyncio.sleep(data.seconds / steps)
        context.report_progress((step + 1) / steps)
    return {"pid": os.getpid(), "host": socket.gethostname(), "tag": data.tag}


def handlers() -> list[Handler]:
    return [Handler("fleet", "probe", ProbeData, probe, "Wait, then say which agent ran it",
                    estimate_s=0.1, timeout_s=90.0, host_bound=False,
                    declared_s=lambda data: data.seconds),
            Handler("fleet", "gpu_probe", ProbeData, probe,
                    "Wait on an agent with a GPU, then say which agent ran it", estimate_s=0.1,
                    timeout_s=90.0, host_bound=False, declared_s=lambda data: data.seconds,
                    gpu=True, gpu_memory_mb=1024)]
