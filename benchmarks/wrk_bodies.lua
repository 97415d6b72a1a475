-- wrk script: POST prepared JSON bodies to one path, a different body each request.
--
-- Arguments after `--`: the path (e.g. /v1/collections/<name>/search), then a file of JSON
-- request bodies, one per line (bench_search.py: random unit vectors; bench_images.py:
-- base64 photos), used in turn. done() prints the WRK_RESULT line (wrk_report.lua).

require("wrk_report")

local path
local bodies = {}
local counter = 0

function init(args)
  path = args[1]
  for line in io.lines(args[2]) do
    bodies[#bodies + 1] = line
  end
end

function request()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
end
