"""The Lua scripts that keep the Redis task queue's steps atomic (see redis_store.py).

Each step that reads and then writes (submit within the bound, claim the best head, renew or
finish only while still the owner) runs as one script, so two agents never interleave inside it.
Records are found by key prefix inside the scripts: standalone Redis, not Redis Cluster.

Each script names its keys and arguments once, here (`Script`): the Lua reads them as locals of
those names, and the store passes them by name (`Script.keys_and_args` puts them in order), so
no position is matched across two files. A name starting with `*` takes the rest, as a table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from polyad.redis_link import Client

__all__ = ["CANCEL", "CLAIM", "FINISH", "HAND_BACK", "PRUNE", "RECLAIM", "REMOVE", "RENEW",
           "SCRIPTS", "SUBMIT", "Script", "ScriptRunner"]


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    body: str

    @property
    def source(self) -> str:
        """The Lua: a local per name, then the body."""
        return "".join(_locals("KEYS", self.keys) + _locals("ARGV", self.args)) + self.body

    def keys_and_args(self, keys: Mapping[str, Any], args: Mapping[str, Any],
                      ) -> tuple[list[Any], list[Any]]:
        """KEYS and ARGV in the script's order; a name missing or unknown is a ValueError."""
        return _ordered(self.name, "keys", self.keys, keys), _ordered(self.name, "args",
                                                                      self.args, args)


def _locals(table: str, names: Sequence[str]) -> list[str]:
    lines = []
    for position, name in enumerate(names, start=1):
        if name.startswith("*"):
            lines.append(f"local {name[1:]} = {{unpack({table}, {position})}}\n")
        else:
            lines.append(f"local {name} = {table}[{position}]\n")
    return lines


def _ordered(script: str, kind: str, names: Sequence[str], given: Mapping[str, Any]) -> list[Any]:
    if set(given) != {name.lstrip("*") for name in names}:
        raise ValueError(f"{script} {kind}: expected {', '.join(names)}; got {', '.join(given)}")
    ordered: list[Any] = []
    for name in names:
        if name.startswith("*"):
            ordered.extend(given[name[1:]])
        else:
            ordered.append(given[name])
    return ordered


_SPLIT = """
local function split(text)
  local items = {}
  for item in string.gmatch(text, '[^,]+') do items[#items + 1] = item end
  return items
end
"""

_FIELD = """
local function field(fields, name)
  if type(fields) ~= 'table' then return nil end
  for j = 1, #fields, 2 do
    if fields[j] == name then return fields[j + 1] end
  end
  return nil
end
"""

_LEAVE_QUEUE = """
local function leave_queue(counts_key, priority_name, expected_s)
  if redis.call('HINCRBY', counts_key, priority_name, -1) <= 0 then
    redis.call('HSET', counts_key, priority_name .. ':work', 0)
  else
    redis.call('HINCRBYFLOAT', counts_key, priority_name .. ':work', -tonumber(expected_s or '0'))
  end
end
"""

_OWNED = """
local function owned(stream_key, group_name, consumer_name, id)
  local pending = redis.call('XPENDING', stream_key, group_name, id, id, 1)
  return #pending > 0 and pending[1][2] == consumer_name
end
"""

# `served_counts`: the counts of every pool this agent serves; `ahead`: the priorities at or
# above this one, `priorities`: all (comma-separated); `busy`: each worker's seconds until free,
# soonest first (comma-separated); `fields`: the record's field/values. The estimate is
# tasks/estimates.py's start_after, here where the queue is counted. Returns {1, estimated_s}
# or, when full, {0, queued, queued_work_s}.
SUBMIT = Script(
    "SUBMIT", ("stream", "record", "index", "counts", "*served_counts"),
    ("max_queued", "priority", "expected_s", "busy", "at_ms", "task_id", "channel", "pool",
     "ahead", "priorities", "*fields"),
    _SPLIT + """
local function start_after(work_ahead, busy_text)
  local busy, freed = split(busy_text), 0
  for count = 1, #busy do
    freed = freed + tonumber(busy[count])
    local level = (work_ahead + freed) / count
    if count == #busy or level <= tonumber(busy[count + 1]) then return level end
  end
  return work_ahead
end
local is_ahead = {}
for _, each in ipairs(split(ahead)) do is_ahead[each] = true end
local queued, work, work_ahead = 0, 0, 0
for _, pool_counts in ipairs(served_counts) do
  for _, each in ipairs(split(priorities)) do
    local counted = redis.call('HMGET', pool_counts, each, each .. ':work')
    local priority_work = tonumber(counted[2] or '0')
    queued = queued + tonumber(counted[1] or '0')
    work = work + priority_work
    if is_ahead[each] then work_ahead = work_ahead + priority_work end
  end
end
if queued >= tonumber(max_queued) then return {0, tostring(queued), tostring(work)} end
local estimated = start_after(work_ahead, busy) + tonumber(expected_s)
redis.call('HSET', record, 'estimated_s', tostring(estimated), unpack(fields))
redis.call('XADD', stream, '*', 'task', task_id, 'at', at_ms)
redis.call('HINCRBY', counts, priority, 1)
redis.call('HINCRBYFLOAT', counts, priority .. ':work', expected_s)
redis.call('ZADD', index, at_ms, task_id)
redis.call('PUBLISH', channel, 'queued:' .. pool)
return {1, tostring(estimated)}
""")

# `queues`: n streams, then the counts hash of each stream's pool; `order`: n priorities, then
# n aging penalties (ms), one per stream. Delivers the head with the smallest `at + penalty` to
# this consumer, one entry only (no read-ahead); entries of tasks cancelled while queued are
# acknowledged and deleted on the way. Returns {entry id, stream index (1-based), record
# field/values} or nil.
CLAIM = Script(
    "CLAIM", ("*queues",), ("group", "consumer", "prefix", "started", "n", "*order"),
    _FIELD + _LEAVE_QUEUE + """
local streams = tonumber(n)
local function last_delivered(stream_key)
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream_key)) do
    if field(info, 'name') == group then return field(info, 'last-delivered-id') end
  end
  error('NOGROUP ' .. stream_key)
end
for _ = 1, 100 do
  local best, best_key
  for i = 1, streams do
    -- the queued count says whether looking is worth it (cancelled entries are not counted)
    local waiting = tonumber(redis.call('HGET', queues[streams + i], order[i]) or '0') > 0
    local head = waiting and redis.call('XRANGE', queues[i], '(' .. last_delivered(queues[i]),
                                        '+', 'COUNT', 1) or {}
    if #head > 0 then
      local key = tonumber(field(head[1][2], 'at')) + tonumber(order[streams + i])
      if best == nil or key < best_key then best, best_key = i, key end
    end
  end
  if best == nil then return nil end
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1,
                          'STREAMS', queues[best], '>')
  local id, entry_fields = read[1][2][1][1], read[1][2][1][2]
  local record = prefix .. field(entry_fields, 'task')
  if redis.call('HGET', record, 'status') == 'queued' then
    leave_queue(queues[streams + best], order[best], redis.call('HGET', record, 'expected_s'))
    redis.call('HINCRBY', record, 'attempts', 1)
    redis.call('HSET', record, 'status', 'running', 'started_at', started, 'owner', consumer)
    return {id, best, redis.call('HGETALL', record)}
  end
  redis.call('XACK', queues[best], group, id)
  redis.call('XDEL', queues[best], id)
end
return nil
""")

# Takes over entries whose owner stopped renewing them. A task already started max_attempts
# times fails instead (it may be what kills its agents), with `abandoned` (JSON) as its error;
# one whose cancel was asked is cancelled. An entry of this consumer's that it holds no lease on
# (`held`: the entry ids it does, comma-separated) is one whose claim's reply never came back
# (Redis paused or restarted mid-call): it was claimed, its attempt counted, but it never
# started, so it runs now without counting another. Returns {next cursor,
# {id, 'run' | 'done', record field/values}...}.
RECLAIM = Script(
    "RECLAIM", ("stream",),
    ("group", "consumer", "min_idle_ms", "cursor", "count", "prefix", "now", "max_attempts",
     "retention_s", "abandoned", "held"),
    _FIELD + _SPLIT + """
local is_held = {}
for _, id in ipairs(split(held)) do is_held[id] = true end
local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle_ms, cursor,
                           'COUNT', count)
local out = {claimed[1]}
for _, entry in ipairs(claimed[2]) do
  local id, task_id = entry[1], field(entry[2], 'task')
  local record = task_id and (prefix .. task_id)
  local status = record and redis.call('HGET', record, 'status')
  local ours = status == 'running' and redis.call('HGET', record, 'owner') == consumer
  if is_held[id] then
    -- running here (a renewal ran late): XAUTOCLAIM just renewed it
  elseif ours and redis.call('HGET', record, 'cancel_requested') ~= '1' then
    redis.call('HSET', record, 'started_at', now, 'progress', '0')
    out[#out + 1] = {id, 'run', redis.call('HGETALL', record)}
  elseif status ~= 'running' and status ~= 'queued' then
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
  elseif redis.call('HGET', record, 'cancel_requested') == '1'
      or tonumber(redis.call('HGET', record, 'attempts') or '0') >= tonumber(max_attempts) then
    if redis.call('HGET', record, 'cancel_requested') == '1' then
      redis.call('HSET', record, 'status', 'cancelled', 'finished_at', now)
    else
      redis.call('HSET', record, 'status', 'failed', 'finished_at', now, 'error', abandoned)
    end
    redis.call('HDEL', record, 'owner', 'cancel_requested')
    redis.call('EXPIRE', record, retention_s)
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    out[#out + 1] = {id, 'done', redis.call('HGETALL', record)}
  else
    redis.call('HINCRBY', record, 'attempts', 1)
    redis.call('HSET', record, 'status', 'running', 'started_at', now,
               'owner', consumer, 'progress', '0')
    out[#out + 1] = {id, 'run', redis.call('HGETALL', record)}
  end
end
return out
""")

# Renews the lease (resets the entry's idle time) only while this consumer still owns it.
# Returns 0 (lost), 1 (renewed) or 2 (renewed, and a cancel was asked).
RENEW = Script(
    "RENEW", ("stream", "record"), ("group", "consumer", "entry_id", "progress"),
    _OWNED + """
if not owned(stream, group, consumer, entry_id) then return 0 end
redis.call('XCLAIM', stream, group, consumer, 0, entry_id, 'JUSTID')
redis.call('HSET', record, 'progress', progress)
if redis.call('HGET', record, 'cancel_requested') == '1' then return 2 end
return 1
""")

# Stores the outcome (`fields`) only while this consumer owns the entry; the entry is
# acknowledged and deleted (XACK alone keeps it), the record expires after the retention.
FINISH = Script(
    "FINISH", ("stream", "record", "index"),
    ("group", "consumer", "entry_id", "retention_s", "max_records", "*fields"),
    _OWNED + """
if not owned(stream, group, consumer, entry_id) then return 0 end
redis.call('HSET', record, unpack(fields))
redis.call('HDEL', record, 'owner', 'cancel_requested')
redis.call('EXPIRE', record, retention_s)
redis.call('XACK', stream, group, entry_id)
redis.call('XDEL', stream, entry_id)
redis.call('ZREMRANGEBYRANK', index, 0, -tonumber(max_records) - 1)
return 1
""")

# The agent is stopping: the task goes back to its queue, keeping its place in the aging order;
# the interrupted start does not count as an attempt.
HAND_BACK = Script(
    "HAND_BACK", ("stream", "record", "counts"),
    ("group", "consumer", "entry_id", "at_ms", "task_id", "priority", "expected_s", "channel",
     "pool"),
    _OWNED + """
if not owned(stream, group, consumer, entry_id) then return 0 end
redis.call('XACK', stream, group, entry_id)
redis.call('XDEL', stream, entry_id)
redis.call('XADD', stream, '*', 'task', task_id, 'at', at_ms)
redis.call('HSET', record, 'status', 'queued', 'progress', '0')
redis.call('HDEL', record, 'started_at', 'owner')
redis.call('HINCRBY', record, 'attempts', -1)
redis.call('HINCRBY', counts, priority, 1)
redis.call('HINCRBYFLOAT', counts, priority .. ':work', expected_s)
redis.call('PUBLISH', channel, 'queued:' .. pool)
return 1
""")

# A queued task ends here, `ending` ('cancelled', or 'expired' with `error`, JSON or ''); a
# running one is flagged when cancelled (not when expiring: a deadline is one to start by) and
# its agent told through the channel (it also sees the flag at its next renewal).
# `counts_prefix` + pool + ':queued' is a pool's counts. Returns {status before, record} or nil.
CANCEL = Script(
    "CANCEL", ("record",),
    ("now", "retention_s", "channel", "counts_prefix", "task_id", "ending", "error"),
    _LEAVE_QUEUE + """
local status = redis.call('HGET', record, 'status')
if not status then return nil end
if status == 'queued' then
  local pool, priority, expected = unpack(redis.call('HMGET', record, 'pool', 'priority',
                                                     'expected_s'))
  leave_queue(counts_prefix .. pool .. ':queued', priority, expected)
  redis.call('HSET', record, 'status', ending, 'finished_at', now)
  if error ~= '' then redis.call('HSET', record, 'error', error) end
  redis.call('EXPIRE', record, retention_s)
elseif status == 'running' and ending == 'cancelled' then
  redis.call('HSET', record, 'cancel_requested', '1')
  redis.call('PUBLISH', channel, 'cancel:' .. task_id)
end
return {status, redis.call('HGETALL', record)}
""")

# Deletes a finished task's record and its index entry (DELETE /task/{id}). Returns 1 (deleted),
# 0 (queued or running: kept) or nil (no such record).
REMOVE = Script(
    "REMOVE", ("record", "index"), ("task_id", "finished"),
    _SPLIT + """
local status = redis.call('HGET', record, 'status')
if not status then return nil end
for _, each in ipairs(split(finished)) do
  if status == each then
    redis.call('DEL', record)
    redis.call('ZREM', index, task_id)
    return 1
  end
end
return 0
""")

# Deletes consumers that own no entry and have been idle `min_idle_ms` (each agent start makes
# one; XREADGROUP makes it again if it comes back); `only`: a consumer name, or "" for any.
# Checked and deleted in one step: DELCONSUMER drops owned entries.
PRUNE = Script(
    "PRUNE", ("stream",), ("group", "min_idle_ms", "only"),
    _FIELD + """
local pruned = 0
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
  local name = field(info, 'name')
  if field(info, 'pending') == 0 and field(info, 'idle') >= tonumber(min_idle_ms)
      and (only == '' or only == name) then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, name)
    pruned = pruned + 1
  end
end
return pruned
""")

SCRIPTS = (SUBMIT, CLAIM, RECLAIM, RENEW, FINISH, HAND_BACK, CANCEL, REMOVE, PRUNE)


class ScriptRunner:
    """The scripts, loaded once into the client, run by name with their keys and arguments by
    name. `remake` makes the streams and the group again when Redis lost them (a restart
    without persistence, or someone deleted them); a script that met that runs once more."""

    def __init__(self, client: Client, remake: Callable[[], Awaitable[None]]) -> None:
        self._loaded = {script.name: client.register_script(script.source) for script in SCRIPTS}
        self._remake = remake

    async def __call__(self, script: Script, keys: Mapping[str, Any], args: Mapping[str, Any],
                       *, client: Any = None) -> Any:
        """`client`: a pipeline to queue the call in, instead of running it now."""
        ordered_keys, ordered_args = script.keys_and_args(keys, args)
        return await self._loaded[script.name](keys=ordered_keys, args=ordered_args,
                                               client=client)

    async def remaking(self, script: Script, keys: Mapping[str, Any],
                       args: Mapping[str, Any]) -> Any:
        try:
            return await self(script, keys, args)
        except ResponseError as error:
            if "NOGROUP" not in str(error) and "no such key" not in str(error):
                raise
        await self._remake()
        return await self(script, keys, args)
