"""GET /history on the real app: the samples it kept, aligned points, and every bad query a
clear 422 (or 404 with history off), never a 500."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from polyad.api.keys import HISTORY, SAMPLER
from polyad.catalog import by_path
from polyad.snapshot import Snapshot
from tests.api.test_errors import problem
from tests.conftest import AppClient, MakeClient


async def ticks(client: AppClient, count: int) -> None:
    """Until the sampler has taken `count` samples, with a deadline."""
    reached = asyncio.Event()

    def count_ticks(snapshot: Snapshot) -> None:
        if snapshot.seq >= count:
            reached.set()

    client.app[SAMPLER].listeners.append(count_ticks)
    await asyncio.wait_for(reached.wait(), 10)


async def test_cpu_and_memory_over_the_last_minute(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    await ticks(client, 5)
    response = await client.get("/history", params=[("metric", "memory.usage"),
                                                     ("metric", "cpu.cores[].usage"),
                                                     ("since", "1m"), ("step", "1s")])
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    assert body["step_seconds"] == 1.0 and body["since"].endswith("Z")
    memory = body["series"][0]
    assert (memory["metric"], memory["labels"], memory["unit"]) == ("memory.usage", {}, "%")
    newest = (await (await client.get("/metrics")).json())["memory"]["usage"]
    assert memory["points"] and all(0 < value <= 100 for _, value in memory["points"])
    assert abs(memory["points"][-1][1] - newest) < 5          # the same host, a tick apart
    assert all(point[0] % 1 == 0 for point in memory["points"])   # aligned to the step
    cores = [series["labels"]["cpu_logical_number"] for series in body["series"][1:]]
    assert cores == [str(number) for number in range(len(cores))] and cores


async def test_a_percent_says_percent_whichever_way_prometheus_gets_it(
    make_client: MakeClient,
) -> None:
    """cpu.usage has no instrument of its own (Prometheus averages the per-core ratio) and
    pressure comes from a counter's rate: both are percents in the JSON, as /history says."""
    client = await make_client(sampler={"interval": "100ms"})
    await ticks(client, 5)
    body = await (await client.get("/history?metric=cpu.usage&metric=cpu.cores[].usage"
                                   "&metric=system.uptime_seconds&since=1m")).json()
    units = {series["metric"]: series["unit"] for series in body["series"]}
    assert units == {"cpu.usage": "%", "cpu.cores[].usage": "%", "system.uptime_seconds": "s"}
    assert by_path()["system.pressure.io.some_avg10"].json_unit == "%"
    assert by_path()["gpu.devices[].temperature"].json_unit == "Cel"


async def test_two_metrics_share_their_points_times(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    await ticks(client, 12)
    body = await (await client.get("/history?metric=memory.usage&metric=system.uptime_seconds"
                                   "&since=30s&step=500ms")).json()
    times = [[at for at, _ in series["points"]] for series in body["series"]]
    assert times[0] == times[1] and len(times[0]) >= 2


async def test_the_default_step_gives_a_chart_s_worth_of_points(client: AppClient) -> None:
    body = await (await client.get("/history?metric=memory.usage&since=1h")).json()
    assert body["step_seconds"] == 15.0      # 3,600 s / 240 points


async def test_an_unknown_metric_is_a_422_naming_the_known_ones(client: AppClient) -> None:
    body = await problem(await client.get("/history?metric=cpu.usage&metric=cpu.bogus"), 422)
    assert "cpu.bogus" in body["detail"] and "memory.usage" in body["detail"]
    assert body["errors"] == [{"field": "metric", "message": "not a metric path: 'cpu.bogus'",
                               "type": "unknown_metric"}]
    assert set(by_path()) <= set(body["detail"].split("known: ")[1].split(", "))


async def test_a_window_past_what_is_kept_gets_what_is_kept(client: AppClient) -> None:
    for query, since_s, step_s in [("since=2d", 86400, 360), ("since=1h&step=1s", 3600, 1.8),
                                   ("since=1m&step=1d", 60, 60)]:
        body = await (await client.get(f"/history?metric=memory.usage&{query}")).json()
        assert body["step_seconds"] == step_s, query         # at most 2,000 points, at least 1
        started = datetime.fromisoformat(body["since"].replace("Z", "+00:00")).timestamp()
        assert abs(time.time() - since_s - started) < 5, query


async def test_bad_queries_are_422s(client: AppClient) -> None:
    for query, field in [("", "metric"), ("&since=soon", "since"), ("&step=-1s", "step"),
                         ("&since=0", "since"),
                         ("&" + "&".join(["metric=memory.usage"] * 21), "metric")]:
        url = "/history?" + ("metric=memory.usage" if field != "metric" or query else "") + query
        body = await problem(await client.get(url), 422)
        assert body["errors"][0]["field"] == field, (query, body)


async def test_history_off_is_a_404_and_keeps_nothing(make_client: MakeClient) -> None:
    client = await make_client(history={"enabled": False})
    assert HISTORY not in client.app
    body = await problem(await client.get("/history?metric=memory.usage"), 404)
    assert "history.enabled" in body["detail"]


async def test_it_needs_a_token(make_client: MakeClient) -> None:
    client = await make_client(token=None)
    assert (await client.get("/history?metric=memory.usage")).status == 401


async def test_this_machine_s_history_stays_under_8_mb(make_client: MakeClient) -> None:
    client = await make_client(sampler={"interval": "100ms"})
    await ticks(client, 2)
    history = client.app[HISTORY]
    assert 0 < len(history) <= 250
    # at a 1 s tick and the default retention, as an operator runs it
    per_series_at_defaults = 4 * (3600 + 3 * 1440)
    assert len(history) * per_series_at_defaults < 8 * 1024 * 1024
    started = time.perf_counter()
    await client.get("/history?metric=cpu.cores[].usage&since=24h")
    assert time.perf_counter() - started < 5       # a day's query answers, however slowly
