-- wrk script: the plain GET of the command line's URL, with the same one-line result as the
-- others (wrk_report.lua). It measures the floor of the HTTP stack: a request that does no
-- work (GET /healthz).

require("wrk_report")
