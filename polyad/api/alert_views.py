"""GET /alerts and POST /-/reload."""

from __future__ import annotations

from aiohttp import web

from polyad.api.keys import ALERTING
from polyad.api.responses import json_response
from polyad.errors import Conflict
from polyad.views.records import alert_view
from polyad.views.schemas import AlertList, RulesReloaded

__all__ = ["list_alerts", "reload_rules"]


async def list_alerts(request: web.Request) -> web.Response:
    alerting = request.app.get(ALERTING)
    alerts = [alert_view(alert) for alert in alerting.engine.active()] if alerting else []
    return json_response(AlertList(alerts=alerts))


async def reload_rules(request: web.Request) -> web.Response:
    alerting = request.app.get(ALERTING)
    if alerting is None:
        raise Conflict("alerting is disabled (alerts.enabled: false)")
    groups = await alerting.reload()
    body = RulesReloaded(status="reloaded", groups=len(groups),
                         rules=sum(len(group.rules) for group in groups))
    return json_response(body)
