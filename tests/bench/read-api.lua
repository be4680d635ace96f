-- wrk script for the read API benchmark in BENCHMARKS.md. Each request asks for the list of a random user from
-- USERS (one id per line); each of the CONNECTIONS connections waits CONNECTIONS/RATE seconds between requests,
-- so the total rate stays near RATE requests/s (wrk 4 has no fixed-rate option).
--   USERS=users.txt RATE=500 CONNECTIONS=20 wrk -t2 -c20 -d60s -s tests/bench/read-api.lua http://127.0.0.1:5080
local users = {}
for line in io.lines(os.getenv("USERS") or "users.txt") do users[#users + 1] = line end
local rate = tonumber(os.getenv("RATE") or "500")
local connections = tonumber(os.getenv("CONNECTIONS") or "20")
local path = os.getenv("PATH_TEMPLATE") or "/users/%s/recommendations?k=20"

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  return wrk.format("GET", string.format(path, escape(users[math.random(#users)])))
end

function delay()
  return 1000 * connections / rate
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests %d in %.1f s = %.0f/s; errors: connect %d, read %d, write %d, timeout %d, non-2xx %d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect, e.read, e.write, e.timeout, e.status))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%g %.2f ms\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("max %.2f ms\n", latency.max / 1000))
end
