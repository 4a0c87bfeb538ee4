-- wrk's done() hook for bench/wrk.ts: one JSON line with the totals the harness needs
-- (requests, errors by kind, latency percentiles in microseconds). No per-request hooks: a Lua
-- response() callback would cost wrk CPU on every request and cap the load it can offer.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"event":"result","requests":%.0f,"durationUs":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50Us":%.0f,"p99Us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
