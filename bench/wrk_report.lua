-- wrk script for polyad's benchmarks: reports a run as one JSON line (prefixed WRK-JSON) with
-- latency percentiles and every kind of error. Arguments after the URL, if any, are requests
-- to send in turn: "METHOD PATH" or "METHOD PATH BODY" (a JSON body).
local requests = {}
local turn = 0

function init(args)
  for _, spec in ipairs(args) do
    local method, path, body = spec:match("^(%S+)%s+(%S+)%s*(.*)$")
    local headers = {}  -- wrk.format takes these instead of wrk.headers (-H): copy those in
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    table.insert(requests, wrk.format(method, path, headers, body))
  end
  if #requests > 0 then
    request = function()
      turn = turn % #requests + 1
      return requests[turn]
    end
  end
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
