-- The result line every wrk script here prints from done(): "WRK_RESULT {json}", which
-- benchmarks/served.py's wrk_result reads. Scripts load it with require("wrk_report");
-- served.py runs wrk in this folder so that require finds it.

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
