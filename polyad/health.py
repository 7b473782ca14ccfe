"""Where long-lived parts (the rate-limit storage, later the cache and task queue) say how they
are; `/status` shows each and turns `degraded` while any of them is failing."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ComponentHealth", "HealthBoard"]


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    ok: bool
    detail: str | None = None


class HealthBoard:
    def __init__(self) -> None:
        self._components: dict[str, ComponentHealth] = {}

    def report(self, component: str, *, ok: bool, detail: str | None = None) -> None:
        self._components[component] = ComponentHealth(ok, detail)

    def components(self) -> dict[str, ComponentHealth]:
        return dict(self._components)
