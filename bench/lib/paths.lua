-- wrk script used for every server of bench/redirect.mjs, so that each one gets the same
-- client-side work per request: one Lua request() call and one wrk.format() per request.
--
-- args (after `--`): <paths file> <start offset> <threads>
--   The file holds one request path per line (one line for the fixed cases, N distinct
--   tokens for the LRU-miss and invalid cases). Thread t sends lines offset+t,
--   offset+t+threads, ... wrapping around, so no two threads send the same line and the
--   parent can continue the cycle across runs by raising the offset.
-- Headers (Host and the browser-like ones) come from -H on the command line.
-- done() prints one line "WRKJSON {...}" that the parent parses (latency in µs).

local counter = 0
function setup (thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local paths = {}
local n = 0
local idx = 0
local step = 1

function init (args)
  local file = args[1]
  local offset = tonumber(args[2]) or 0
  step = tonumber(args[3]) or 1
  for line in io.lines(file) do
    if line ~= "" then
      n = n + 1
      paths[n] = line
    end
  end
  if n == 0 then error("no paths in " .. file) end
  idx = (offset + (tid or 0)) % n
end

function request ()
  local p = paths[idx + 1]
  idx = (idx + step) % n
  return wrk.format("GET", p)
end

function done (summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.2f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
