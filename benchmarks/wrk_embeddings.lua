-- wrk script: POST /v1/embeddings with a new short sentence in every request.
--
-- Arguments after `--`: run id, model id, words per sentence, then the words to draw from
-- (benchmarks/workload.py passes them, so both sides build the same sentences).
-- BENCH_API_KEY in the environment, if set, is sent as `Authorization: Bearer <key>`.
-- done() prints one line, "WRK_RESULT {json}", that bench_embeddings.py reads.

local run_id, model, words_per_sentence
local words = {}
local counter = 0
local headers = { ["Content-Type"] = "application/json" }
local api_key = os.getenv("BENCH_API_KEY")
if api_key and api_key ~= "" then
  headers["Authorization"] = "Bearer " .. api_key
end

function init(args)
  run_id, model, words_per_sentence = args[1], args[2], tonumber(args[3])
  for i = 4, #args do
    words[#words + 1] = args[i]
  end
  math.randomseed(os.time())
end

function request()
  counter = counter + 1
  local picked = {}
  for i = 1, words_per_sentence do
    picked[i] = words[math.random(#words)]
  end
  local text = "item " .. run_id .. "-" .. counter .. " " .. table.concat(picked, " ")
  local body = '{"input": "' .. text .. '", "model": "' .. model .. '"}'
  return wrk.format("POST", "/v1/embeddings", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
