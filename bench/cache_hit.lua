-- wrk script for bench/cache_hit.sh: POSTs the same chat request through aigwd over and over.
--
-- Environment (every wrk thread reads it in its own Lua state):
--   BENCH_KEY     the gateway key
--   BENCH_CACHE   value of the x-aigw-cache request header ("on": served from the cache;
--                 "off": every request goes to the upstream, for comparison)
--   BENCH_STREAM  "1" to ask for stream: true (a hit is then replayed as SSE)
--   BENCH_DELAY_MS  if > 0, each connection waits a random 0..2x this many ms before each
--                 request (mean: this): a paced load instead of a saturating one
--
-- response() counts non-2xx answers, answers without a finished body, and (with
-- BENCH_CACHE=on) answers that were not cache hits; done() prints one line:
--   BENCH_RESULT requests=N duration_us=N rps=F ok_rps=F p50_us=N p90_us=N p99_us=N
--                p999_us=N max_us=N socket_errors=N timeouts=N non2xx=N bad_body=N misses=N errors=N
-- Latency is wrk's: from writing the request to the last byte of the response.

local key = os.getenv("BENCH_KEY") or "bench-key"
local cache = os.getenv("BENCH_CACHE") or "on"
local stream = os.getenv("BENCH_STREAM") == "1"
local want_hit = cache == "on"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["x-aigw-cache"] = cache
wrk.body = '{"model":"openai/gpt-4o-mini","messages":[' ..
    '{"role":"system","content":"You are a terse assistant."},' ..
    '{"role":"user","content":"Say hello in five words."}],' ..
    '"max_tokens":32,"temperature":0' ..
    (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'

local done_marker = stream and "[DONE]" or '"choices"'

non2xx = 0
bad_body = 0
misses = 0
first_bad = ""

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if first_bad == "" then
            first_bad = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 300)
        end
    elseif body == nil or not string.find(body, done_marker, 1, true) then
        bad_body = bad_body + 1
        if first_bad == "" then
            first_bad = "HTTP " .. status .. " without " .. done_marker .. ": " .. string.sub(body or "", 1, 300)
        end
    elseif want_hit and headers["x-aigw-cache"] ~= "HIT" then
        misses = misses + 1
        if first_bad == "" then
            first_bad = "x-aigw-cache: " .. tostring(headers["x-aigw-cache"])
        end
    end
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_no", #threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + (thread_no or 0))
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
if delay_ms > 0 then
    function delay()
        return math.random(0, 2 * delay_ms)
    end
end

function done(summary, latency, requests)
    local n2, bb, ms, example = 0, 0, 0, ""
    for _, t in ipairs(threads) do
        n2 = n2 + (t:get("non2xx") or 0)
        bb = bb + (t:get("bad_body") or 0)
        ms = ms + (t:get("misses") or 0)
        local fb = t:get("first_bad") or ""
        if example == "" and fb ~= "" then
            example = fb
        end
    end
    local e = summary.errors
    local sock = e.connect + e.read + e.write
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d rps=%.1f ok_rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d " ..
        "max_us=%d socket_errors=%d timeouts=%d non2xx=%d bad_body=%d misses=%d errors=%d\n",
        summary.requests, summary.duration, summary.requests / secs, (summary.requests - n2 - bb - ms) / secs,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.max, sock, e.timeout, n2, bb, ms, sock + e.timeout + n2 + bb + ms))
    if example ~= "" then
        io.write("BENCH_FIRST_ERROR " .. string.gsub(example, "[\r\n]+", " ") .. "\n")
    end
end
