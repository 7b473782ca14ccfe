"""GET /alerts and POST /-/reload."""

from __future__ import annotations

from aiohttp import web

from polyad.alerts.engine import Alert, utc
from polyad.api.keys import ALERTING
from polyad.api.render import iso_utc
from polyad.api.schemas import AlertList, AlertView, RulesReloaded
from polyad.errors import Conflict

__all__ = ["list_alerts", "reload_rules"]

JSON = "application/json"


def alert_view(alert: Alert) -> AlertView:
    return AlertView(name=alert.name, state=alert.state, value=alert.value,
                     labels=alert.labels, annotations=alert.annotations(),
                     active_at=iso_utc(utc(alert.active_at_s)),
                     fired_at=iso_utc(utc(alert.fired_at_s)) if alert.fired_at_s else None,
                     rule=alert.rule.source)


async def list_alerts(request: web.Request) -> web.Response:
    alerting = request.app.get(ALERTING)
    alerts = [alert_view(alert) for alert in alerting.engine.active()] if alerting else []
    return web.Response(body=AlertList(alerts=alerts).model_dump_json().encode(),
                        content_type=JSON)


async def reload_rules(request: web.Request) -> web.Response:
    alerting = request.app.get(ALERTING)
    if alerting is None:
        raise Conflict("alerting is disabled (alerts.enabled: false)")
    groups = await alerting.reload()
    body = RulesReloaded(status="reloaded", groups=len(groups),
                         rules=sum(len(group.rules) for group in groups))
    return web.Response(body=body.model_dump_json().encode(), content_type=JSON)
