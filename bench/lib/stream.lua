-- wrk script of bench/pipeline.mjs (lib/load.mjs runWrk with `stream`): every request's path
-- is the next line of a file, read as wrk goes, so that millions of distinct tokens (every
-- click a new one) need no table in memory. Run with one thread (-t 1): each thread would
-- read the file from its start.
--
-- args (after `--`): <paths file> <wrap|stop>
--   wrap: at the end of the file start over (bare uWS, which does not care);
--   stop: repeat the last path (the parent sees lines < requests and says so).
-- done() prints "WRKJSON {...}" like paths.lua, plus "lines" (paths read) and "wraps".

local threads = {}
function setup (thread)
  table.insert(threads, thread)
end

local fh
local file
local wrap = true
local last = "/"
lines = 0
wraps = 0

function init (args)
  file = args[1]
  wrap = args[2] ~= "stop"
  fh = assert(io.open(file, "r"))
end

function request ()
  local p = fh:read("*l")
  if p == nil or p == "" then
    if wrap then
      fh:close()
      fh = assert(io.open(file, "r"))
      wraps = wraps + 1
      p = fh:read("*l")
    else
      p = last
    end
  else
    lines = lines + 1
  end
  last = p
  return wrk.format("GET", p)
end

function done (summary, latency, requests)
  local e = summary.errors
  local nlines, nwraps = 0, 0
  for _, t in ipairs(threads) do
    nlines = nlines + (t:get("lines") or 0)
    nwraps = nwraps + (t:get("wraps") or 0)
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.2f,"max_us":%d,"lines":%d,"wraps":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max, nlines, nwraps))
end
