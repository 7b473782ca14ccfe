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
        self.version = 0  # goes up with every change, so views rendered from it know they aged

    def report(self, component: str, *, ok: bool, detail: str | None = None) -> None:
        health = ComponentHealth(ok, detail)
        if self._components.get(component) != health:
            self._components[component] = health
            self.version += 1

    def components(self) -> dict[str, ComponentHealth]:
        return dict(self._components)
