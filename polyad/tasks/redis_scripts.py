"""The Lua scripts that keep the Redis task queue's steps atomic (see redis_store.py).

Each step that reads and then writes (submit within the bound, claim the best head, renew or
finish only while still the owner) runs as one script, so two agents never interleave inside it.
Records are found by key prefix inside the scripts: standalone Redis, not Redis Cluster.
"""

from __future__ import annotations

__all__ = ["CANCEL", "CLAIM", "FINISH", "HAND_BACK", "PRUNE", "RECLAIM", "RENEW", "SUBMIT"]

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
local function leave_queue(counts, priority, expected_s)
  if redis.call('HINCRBY', counts, priority, -1) <= 0 then
    redis.call('HSET', counts, priority .. ':work', 0)
  else
    redis.call('HINCRBYFLOAT', counts, priority .. ':work', -tonumber(expected_s or '0'))
  end
end
"""

_OWNED = """
local function owned(stream, group, consumer, id)
  local pending = redis.call('XPENDING', stream, group, id, id, 1)
  return #pending > 0 and pending[1][2] == consumer
end
"""

# KEYS: stream, record, index, counts of the task's pool, then the counts of every pool this
# agent serves. ARGV: max_queued, priority, expected_s, workers, at_ms, task_id, channel, pool,
# priorities at or above this one (comma-separated), all priorities, then record field/values.
# Returns {1, estimated_s} or, when full, {0, queued, queued_work_s}.
SUBMIT = _SPLIT + """
local ahead = {}
for _, priority in ipairs(split(ARGV[9])) do ahead[priority] = true end
local queued, work, work_ahead = 0, 0, 0
for i = 5, #KEYS do
  for _, priority in ipairs(split(ARGV[10])) do
    local counts = redis.call('HMGET', KEYS[i], priority, priority .. ':work')
    local priority_work = tonumber(counts[2] or '0')
    queued = queued + tonumber(counts[1] or '0')
    work = work + priority_work
    if ahead[priority] then work_ahead = work_ahead + priority_work end
  end
end
if queued >= tonumber(ARGV[1]) then return {0, tostring(queued), tostring(work)} end
local estimated = work_ahead / tonumber(ARGV[4]) + tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'estimated_s', tostring(estimated), unpack(ARGV, 11))
redis.call('XADD', KEYS[1], '*', 'task', ARGV[6], 'at', ARGV[5])
redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
redis.call('HINCRBYFLOAT', KEYS[4], ARGV[2] .. ':work', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('PUBLISH', ARGV[7], 'queued:' .. ARGV[8])
return {1, tostring(estimated)}
"""

# KEYS: n streams, then the counts hash of each stream's pool. ARGV: group, consumer, record
# prefix, started_at, n, then n priorities and n aging penalties (ms), one per stream.
# Delivers the head with the smallest `at + penalty` to this consumer, one entry only (no
# read-ahead); entries of tasks cancelled while queued are acknowledged and deleted on the way.
# Returns {entry id, stream index (1-based), record field/values} or nil.
CLAIM = _FIELD + _LEAVE_QUEUE + """
local group, consumer, prefix, started = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local function last_delivered(stream)
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    if field(info, 'name') == group then return field(info, 'last-delivered-id') end
  end
  error('NOGROUP ' .. stream)
end
for _ = 1, 100 do
  local best, best_key
  for i = 1, n do
    -- the queued count says whether looking is worth it (cancelled entries are not counted)
    local waiting = tonumber(redis.call('HGET', KEYS[n + i], ARGV[5 + i]) or '0') > 0
    local head = waiting and redis.call('XRANGE', KEYS[i], '(' .. last_delivered(KEYS[i]), '+',
                                        'COUNT', 1) or {}
    if #head > 0 then
      local key = tonumber(field(head[1][2], 'at')) + tonumber(ARGV[5 + n + i])
      if best == nil or key < best_key then best, best_key = i, key end
    end
  end
  if best == nil then return nil end
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1,
                          'STREAMS', KEYS[best], '>')
  local id, fields = read[1][2][1][1], read[1][2][1][2]
  local record = prefix .. field(fields, 'task')
  if redis.call('HGET', record, 'status') == 'queued' then
    leave_queue(KEYS[n + best], ARGV[5 + best], redis.call('HGET', record, 'expected_s'))
    redis.call('HINCRBY', record, 'attempts', 1)
    redis.call('HSET', record, 'status', 'running', 'started_at', started, 'owner', consumer)
    return {id, best, redis.call('HGETALL', record)}
  end
  redis.call('XACK', KEYS[best], group, id)
  redis.call('XDEL', KEYS[best], id)
end
return nil
"""

# KEYS: stream. ARGV: group, consumer, min idle ms, cursor, count, record prefix, now (ISO),
# max_attempts, retention_s, the error of an abandoned task (JSON), the entry ids of this stream
# that this agent holds a lease on (comma-separated).
# Takes over entries whose owner stopped renewing them. A task already started max_attempts
# times fails instead (it may be what kills its agents); one whose cancel was asked is
# cancelled. An entry of this consumer's that it holds no lease on is one whose claim's reply
# never came back (Redis paused or restarted mid-call): it was claimed, its attempt counted, but
# it never started, so it runs now without counting another. Returns {next cursor,
# {id, 'run' | 'done', record field/values}...}.
RECLAIM = _FIELD + _SPLIT + """
local held = {}
for _, id in ipairs(split(ARGV[11])) do held[id] = true end
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                           'COUNT', ARGV[5])
local out = {claimed[1]}
for _, entry in ipairs(claimed[2]) do
  local id, task_id = entry[1], field(entry[2], 'task')
  local record = task_id and (ARGV[6] .. task_id)
  local status = record and redis.call('HGET', record, 'status')
  local ours = status == 'running' and redis.call('HGET', record, 'owner') == ARGV[2]
  if held[id] then
    -- running here (a renewal ran late): XAUTOCLAIM just renewed it
  elseif ours and redis.call('HGET', record, 'cancel_requested') ~= '1' then
    redis.call('HSET', record, 'started_at', ARGV[7], 'progress', '0')
    out[#out + 1] = {id, 'run', redis.call('HGETALL', record)}
  elseif status ~= 'running' and status ~= 'queued' then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  elseif redis.call('HGET', record, 'cancel_requested') == '1'
      or tonumber(redis.call('HGET', record, 'attempts') or '0') >= tonumber(ARGV[8]) then
    if redis.call('HGET', record, 'cancel_requested') == '1' then
      redis.call('HSET', record, 'status', 'cancelled', 'finished_at', ARGV[7])
    else
      redis.call('HSET', record, 'status', 'failed', 'finished_at', ARGV[7], 'error', ARGV[10])
    end
    redis.call('HDEL', record, 'owner', 'cancel_requested')
    redis.call('EXPIRE', record, ARGV[9])
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    out[#out + 1] = {id, 'done', redis.call('HGETALL', record)}
  else
    redis.call('HINCRBY', record, 'attempts', 1)
    redis.call('HSET', record, 'status', 'running', 'started_at', ARGV[7],
               'owner', ARGV[2], 'progress', '0')
    out[#out + 1] = {id, 'run', redis.call('HGETALL', record)}
  end
end
return out
"""

# KEYS: stream, record. ARGV: group, consumer, entry id, progress.
# Renews the lease (resets the entry's idle time) only while this consumer still owns it.
# Returns 0 (lost), 1 (renewed) or 2 (renewed, and a cancel was asked).
RENEW = _OWNED + """
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('HSET', KEYS[2], 'progress', ARGV[4])
if redis.call('HGET', KEYS[2], 'cancel_requested') == '1' then return 2 end
return 1
"""

# KEYS: stream, record, index. ARGV: group, consumer, entry id, retention_s, max_records, then
# record field/values. Stores the outcome only while this consumer owns the entry; the entry is
# acknowledged and deleted (XACK alone keeps it), the record expires after the retention.
FINISH = _OWNED + """
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('HDEL', KEYS[2], 'owner', 'cancel_requested')
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[5]) - 1)
return 1
"""

# KEYS: stream, record, counts. ARGV: group, consumer, entry id, at_ms, task_id, priority,
# expected_s, channel, pool. The agent is stopping: the task goes back to its queue, keeping
# its place in the aging order; the interrupted start does not count as an attempt.
HAND_BACK = _OWNED + """
if not owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[1], '*', 'task', ARGV[5], 'at', ARGV[4])
redis.call('HSET', KEYS[2], 'status', 'queued', 'progress', '0')
redis.call('HDEL', KEYS[2], 'started_at', 'owner')
redis.call('HINCRBY', KEYS[2], 'attempts', -1)
redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
redis.call('HINCRBYFLOAT', KEYS[3], ARGV[6] .. ':work', ARGV[7])
redis.call('PUBLISH', ARGV[8], 'queued:' .. ARGV[9])
return 1
"""

# KEYS: record. ARGV: now (ISO), retention_s, channel, counts key prefix, task_id.
# A queued task is cancelled here; a running one is flagged and its agent told through the
# channel (it also sees the flag at its next renewal). Returns {status before, record} or nil.
CANCEL = _LEAVE_QUEUE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return nil end
if status == 'queued' then
  local pool, priority, expected = unpack(redis.call('HMGET', KEYS[1], 'pool', 'priority',
                                                     'expected_s'))
  leave_queue(ARGV[4] .. pool .. ':queued', priority, expected)
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
elseif status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  redis.call('PUBLISH', ARGV[3], 'cancel:' .. ARGV[5])
end
return {status, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: stream. ARGV: group, min idle ms, a consumer name or "" for any. Deletes consumers that
# own no entry and have been idle that long (each agent start makes one; XREADGROUP makes it
# again if it comes back). Checked and deleted in one step: DELCONSUMER drops owned entries.
PRUNE = _FIELD + """
local pruned = 0
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name = field(info, 'name')
  if field(info, 'pending') == 0 and field(info, 'idle') >= tonumber(ARGV[2])
      and (ARGV[3] == '' or ARGV[3] == name) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    pruned = pruned + 1
  end
end
return pruned
"""
