-- wrk script: POST /v1/embeddings with a new short sentence in every request.
--
-- Arguments after `--`: run id, model id, words per sentence, then the words to draw from
-- (benchmarks/workload.py passes them, so both sides build the same sentences).
-- BENCH_API_KEY in the environment, if set, is sent as `Authorization: Bearer <key>`.
-- done() prints the WRK_RESULT line (wrk_report.lua) that benchmarks/served.py reads.

require("wrk_report")

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
