"""REST semantics of the task resources, on both backends: POST /task/{id}/cancel cancels,
DELETE deletes an ended task's record (and still cancels a live one, as it always did), and
GET /tasks pages with a cursor."""

from __future__ import annotations

from typing import Any

from tests.conftest import AppClient, MakeClient
from tests.tasks.helpers import submit, wait_for_status

PROBLEM = "application/problem+json"
NOOP = {"type": "system", "action": "noop"}
LONG = {"type": "system", "action": "noop", "data": {"seconds": 30}}


async def test_deleting_an_ended_task_removes_its_record(client: AppClient) -> None:
    done = await submit(client, NOOP)
    kept = await submit(client, NOOP)
    for accepted in (done, kept):
        await wait_for_status(client, accepted["task_id"], "succeeded")
    response = await client.delete(f"/task/{done['task_id']}")
    assert response.status == 204 and await response.read() == b""
    assert (await client.get(f"/task/{done['task_id']}")).status == 404
    assert (await client.delete(f"/task/{done['task_id']}")).status == 404
    listed = await (await client.get("/tasks")).json()
    assert [task["task_id"] for task in listed["tasks"]] == [kept["task_id"]]


async def test_delete_of_a_live_task_still_cancels_it(make_client: MakeClient) -> None:
    client = await make_client(tasks={"workers": 1, "shutdown_grace": 0.5})
    running = await submit(client, LONG)
    queued = await submit(client, LONG)
    await wait_for_status(client, running["task_id"], "running")
    response = await client.delete(f"/task/{queued['task_id']}")
    assert response.status == 200
    assert (await response.json())["status"] == "cancelled"
    assert (await client.delete(f"/task/{running['task_id']}")).status == 200
    await wait_for_status(client, running["task_id"], "cancelled", timeout_s=3)
    # ended now: the next DELETE deletes it
    assert (await client.delete(f"/task/{running['task_id']}")).status == 204
    assert (await client.get(f"/task/{running['task_id']}")).status == 404


async def _pages(client: AppClient, first: str) -> list[dict[str, Any]]:
    pages, url = [], first
    while url is not None:
        response = await client.get(url)
        assert response.status == 200, await response.text()
        page = await response.json()
        if page["next"] is None:
            assert "Link" not in response.headers
        else:
            assert response.headers["Link"] == f'<{page["next"]}>; rel="next"'
        pages.append(page)
        url = page["next"]
        assert len(pages) < 20, "the cursor does not advance"
    return pages


async def test_tasks_page_with_a_cursor_through_every_record_once(client: AppClient) -> None:
    ids = [(await submit(client, NOOP))["task_id"] for _ in range(7)]
    for task_id in ids:
        await wait_for_status(client, task_id, "succeeded")
    pages = await _pages(client, "/tasks?limit=3&status=succeeded")
    assert [len(page["tasks"]) for page in pages] == [3, 3, 1]
    paged = [task["task_id"] for page in pages for task in page["tasks"]]
    assert paged == ids[::-1]
    # the filters and the limit travel in the link
    assert "status=succeeded" in pages[0]["next"] and "limit=3" in pages[0]["next"]
    whole = await (await client.get("/tasks?limit=7")).json()
    assert whole["next"] is None and len(whole["tasks"]) == 7


async def test_a_page_stays_right_when_records_go_between_pages(client: AppClient) -> None:
    ids = [(await submit(client, NOOP))["task_id"] for _ in range(5)]
    for task_id in ids:
        await wait_for_status(client, task_id, "succeeded")
    first = await (await client.get("/tasks?limit=2")).json()
    # the record the cursor names is deleted: the next page still starts right after it
    assert (await client.delete(f"/task/{ids[3]}")).status == 204
    second = await (await client.get(first["next"])).json()
    assert [task["task_id"] for task in second["tasks"]] == [ids[2], ids[1]]


async def test_a_malformed_cursor_is_422(client: AppClient) -> None:
    response = await client.get("/tasks?cursor=abc")
    assert response.status == 422
    errors = (await response.json(content_type=PROBLEM))["errors"]
    assert errors[0]["field"] == "cursor"


async def test_cancelling_does_not_spend_the_submission_limit(make_client: MakeClient) -> None:
    client = await make_client(rate_limit={"tasks": "2/minute"},
                               tasks={"workers": 1, "shutdown_grace": 0.5})
    running = await submit(client, LONG)
    await wait_for_status(client, running["task_id"], "running")
    for _ in range(3):
        await client.post(f"/task/{running['task_id']}/cancel")
    assert (await client.post("/task", json=NOOP)).status == 202
