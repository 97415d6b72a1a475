-- wrk script: the plain GET of the command line's URL, and the same one-line result as
-- wrk_embeddings.lua, so benchmarks/served.py reads both alike. It measures the floor of
-- the HTTP stack: a request that does no work (GET /healthz).

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
