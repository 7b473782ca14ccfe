"""Task handlers by (type, action): built-ins, plus plugins from the `polyad.handlers`
entry-point group. An unknown pair is a 422 that lists the registered ones."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import structlog
from pydantic import BaseModel

from polyad.cache import Cache
from polyad.errors import ValidationError
from polyad.snapshot import Snapshot

__all__ = ["ENTRY_POINT_GROUP", "Handler", "HandlerRegistry", "NotRegistered", "TaskContext"]

ENTRY_POINT_GROUP = "polyad.handlers"
log = structlog.get_logger(logger_name="polyad.tasks")


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a handler may use: the newest snapshot, progress reporting, the agent's cache, and
    its cancellation (a cancelled task's coroutine receives CancelledError; it must not
    swallow it)."""

    task_id: str
    snapshot: Callable[[], Snapshot | None]
    report_progress: Callable[[float], None]
    cache: Cache


HandlerRun = Callable[[TaskContext, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Handler:
    type: str
    action: str
    data_model: builtins.type[BaseModel]  # `type` is also a field name here
    run: HandlerRun
    description: str = ""
    estimate_s: float = 1.0       # a first guess of the duration, until real ones are seen
    timeout_s: float = 300.0
    cacheable: bool = False       # identical requests within cache_ttl_s are served from cache
    cache_ttl_s: float = 0.0
    host_bound: bool = True       # runs on this agent only (false: any agent may run it)
    # how long its data says it takes (seconds), when it says: the estimate scales with it
    declared_s: Callable[[Any], float] | None = None
    gpu: bool = False             # runs only where a GPU has gpu_memory_mb free (placement.py)
    gpu_memory_mb: int = 0

    def declared(self, data: BaseModel) -> float | None:
        """The seconds `data` (its validated model) declares; None when the handler declares
        nothing, or its function fails (a plugin's bug costs the estimate, not the task)."""
        if self.declared_s is None:
            return None
        try:
            return max(0.0, float(self.declared_s(data)))
        except Exception as error:
            log.warning("task handler's declared duration failed", handler=self.key,
                        error=f"{type(error).__name__}: {error}")
            return None

    @property
    def key(self) -> str:
        return f"{self.type}.{self.action}"


class NotRegistered(ValidationError):
    pass


class HandlerRegistry(dict[tuple[str, str], Handler]):
    def __missing__(self, key: tuple[str, str]) -> Handler:
        known = ", ".join(sorted(f"{t}.{a}" for t, a in self))
        raise NotRegistered(f"no handler for {key[0]}.{key[1]}; registered: {known}")

    def add(self, handler: Handler) -> None:
        if (handler.type, handler.action) in self:
            raise ValueError(f"a handler for {handler.key} is already registered")
        if not asyncio.iscoroutinefunction(handler.run):
            raise TypeError(f"{handler.key}: run must be a coroutine function")
        self[(handler.type, handler.action)] = handler

    @classmethod
    def of(cls, handlers: Iterable[Handler], *, plugins: bool = True) -> HandlerRegistry:
        registry = cls()
        for handler in handlers:
            registry.add(handler)
        if plugins:
            registry.load_plugins()
        return registry

    def load_plugins(self) -> None:
        """Each entry point names a callable returning handlers; a broken plugin is logged and
        left out, never fatal (as Glances does with its plugins)."""
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                for handler in entry_point.load()():
                    self.add(handler)
            except Exception as error:
                log.warning("task handler plugin not loaded", plugin=entry_point.name,
                            error=f"{type(error).__name__}: {error}")
