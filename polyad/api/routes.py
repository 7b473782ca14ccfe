"""The route table, as data: the router and the OpenAPI document are both built from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from polyad.api import alert_views, event_views, history_views, task_views, views
from polyad.api.bodies import expect_body
from polyad.negotiation import EXPOSITION_MEDIA_TYPES, OPENMETRICS, TEXT
from polyad.views import schemas

__all__ = ["ROUTES", "Route", "add_routes"]

Scope = Literal["read", "tasks", "admin"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    operation_id: str                     # stable: generated clients name methods after it
    summary: str
    response: type[BaseModel] | None      # None: a free-form body of media_type
    scope: Scope | None = None            # None: open to all (health, OpenAPI)
    unavailable: type[BaseModel] | None = None  # the 503 body, for views that need a sample
    request: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    query: type[BaseModel] | None = None  # the query string's model (validation and OpenAPI)
    # other media types of the success body, which the Accept header chooses (text bodies)
    negotiated: tuple[str, ...] = ()
    empty: str | None = None              # when the route answers 204 No Content instead


ROUTES: tuple[Route, ...] = (
    Route("GET", "/status", views.status, "getStatus",
          "Agent status, uptime, resources and cache summary", schemas.StatusResponse,
          scope="read", unavailable=schemas.Problem),
    Route("GET", "/metrics", views.metrics, "getMetrics",
          "Host metrics from the newest sample (the Prometheus exposition, as /metrics/prom "
          "gives it, when the Accept header asks for it and not for JSON)",
          schemas.MetricsResponse, scope="read", unavailable=schemas.Problem,
          negotiated=EXPOSITION_MEDIA_TYPES),
    Route("GET", "/metrics/prom", views.prometheus, "getPrometheusMetrics",
          "Prometheus exposition (OpenMetrics when the Accept header asks for it)", None,
          scope="read", unavailable=schemas.Problem, media_type=TEXT,
          negotiated=(OPENMETRICS,)),
    Route("GET", "/history", history_views.history, "getHistory",
          "Past values of metrics from the agent's memory (every tick's for history.retention, "
          "a minute's mean for history.long_retention), at points aligned to `step`",
          schemas.HistoryResponse, scope="read", query=history_views.HistoryQuery),
    Route("GET", "/events", event_views.events, "getEvents",
          "The live stream (Server-Sent Events): `tick` with the console's numbers each sample, "
          "`alert` on each alert change, `task` on each task state; ends after "
          "events.max_duration (the client reconnects), 503 past events.max_clients",
          schemas.StreamEvent, scope="read", media_type=event_views.EVENT_STREAM),
    Route("GET", "/cache", views.cache_stats, "getCacheStats", "Cache statistics",
          schemas.CacheStats, scope="read"),
    Route("DELETE", "/cache", views.clear_cache, "clearCache", "Remove every cache entry",
          schemas.CacheCleared, scope="admin"),
    Route("POST", "/task", task_views.submit_task, "submitTask", "Submit a task",
          schemas.TaskAccepted, scope="tasks", request=schemas.TaskRequest, status=202,
          unavailable=schemas.Problem),
    Route("GET", "/task/{task_id}", task_views.get_task, "getTask",
          "A task's state, progress and result", schemas.TaskView, scope="read"),
    Route("POST", "/task/{task_id}/cancel", task_views.cancel_task, "cancelTask",
          "Cancel a queued or running task (409 once it has ended)", schemas.TaskView,
          scope="tasks"),
    Route("DELETE", "/task/{task_id}", task_views.delete_task, "deleteTask",
          "Delete an ended task's record (204; GET says 404 afterwards). For compatibility, a "
          "queued or running task is cancelled instead, as POST /task/{task_id}/cancel does "
          "(200 with its record)", schemas.TaskView, scope="tasks",
          empty="The task had ended: its record is deleted"),
    Route("GET", "/tasks", task_views.list_tasks, "listTasks",
          "Tasks, newest first, a page at a time (follow `next`)", schemas.TaskList,
          scope="read", query=task_views.TaskQuery),
    Route("GET", "/alerts", alert_views.list_alerts, "listAlerts",
          "Active alerts: pending and firing, with value, labels and annotations",
          schemas.AlertList, scope="read"),
    Route("POST", "/-/reload", alert_views.reload_rules, "reloadRules",
          "Read the alert rule files again (the previous rules stay if they are wrong)",
          schemas.RulesReloaded, scope="admin"),
    Route("GET", "/healthz", views.healthz, "getHealth", "Liveness: the process answers",
          schemas.Health),
    Route("GET", "/readyz", views.readyz, "getReadiness",
          "Readiness: a fresh sample of the host exists", schemas.Readiness,
          unavailable=schemas.Readiness),
    Route("GET", "/openapi.json", views.openapi, "getOpenApi", "This OpenAPI 3.1 document",
          None),
)


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    """Every route with the agent's `Expect:` step (aiohttp runs it before the middleware)."""
    for route in routes:
        if route.method == "GET":  # HEAD too, as uptime checks and `curl -I` expect
            app.router.add_get(route.path, route.handler, expect_handler=expect_body)
        else:
            app.router.add_route(route.method, route.path, route.handler,
                                 expect_handler=expect_body)
