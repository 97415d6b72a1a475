-- wrk script: POST /v1/collections/<name>/search with a vector query, a new one each request.
--
-- Arguments after `--`: collection name, then a file of JSON request bodies, one per line
-- (bench_search.py writes them: random unit vectors), used in turn.
-- done() prints one line, "WRK_RESULT {json}", that bench_search.py reads.

local path
local bodies = {}
local counter = 0

function init(args)
  path = "/v1/collections/" .. args[1] .. "/search"
  for line in io.lines(args[2]) do
    bodies[#bodies + 1] = line
  end
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
