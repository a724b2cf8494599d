-- wrk's side of scripts/bench.sh: the method, body and auth header of a request kind, from the
-- environment, and one machine-readable summary line at the end of the run.
--   BENCH_METHOD (GET), BENCH_BODY (a file sent as application/scim+json), BENCH_HEADER ("Name: value",
--   e.g. "Authorization: Bearer dev-superuser-token")
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  local f = assert(io.open(body, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/scim+json"
end
local header = os.getenv("BENCH_HEADER")
if header and header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f max_us=%.0f status_errors=%d timeouts=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.timeout, e.connect + e.read + e.write))
end
