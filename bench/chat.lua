-- wrk script for bench/gateway_overhead.sh: POSTs the same small chat request over and over.
--
-- Configured through the environment (every wrk thread reads it in its own Lua state):
--   BENCH_MODEL   model string ("gpt-4o-mini" direct, "openai/gpt-4o-mini" through aigwd)
--   BENCH_KEY     bearer token ("sk-bench" direct, the gateway key through aigwd)
--   BENCH_STREAM  "1" to ask for stream: true (SSE); anything else for a plain answer
--   BENCH_DELAY_MS  if set and > 0, each connection waits a random 0..2x this many ms before
--                 each request (mean: this), so wrk offers a paced load instead of saturating;
--                 the random spread keeps the connections from firing in lockstep.
--   BENCH_PROMPT_KB  if set and > 0, an agent's request of about this many KB (see below)
--   BENCH_UNIQUE  "1": every request's prompt carries its own number (thread and counter), so
--                 a response cache never answers it (each request is a MISS that is stored)
--
-- wrk itself counts only socket errors (connect/read/write/timeout) and, separately,
-- status >= 400. We count every non-2xx status and every 2xx answer whose body does not
-- look like a finished chat completion (a truncated stream, an error object) in
-- response(), and done() prints one machine-readable line:
--   BENCH_RESULT requests=N duration_us=N rps=F ok_rps=F p50_us=N p90_us=N p99_us=N max_us=N
--                mean_us=F socket_errors=N timeouts=N non2xx=N bad_body=N errors=N
-- where errors = socket_errors + timeouts + non2xx + bad_body, rps counts every finished
-- response and ok_rps only the good ones (so a fast stream of 401s cannot look fast).
-- Latency is wrk's: from writing the request to the last byte of the response.

local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local key = os.getenv("BENCH_KEY") or "sk-bench"
local stream = os.getenv("BENCH_STREAM") == "1"

-- BENCH_PROMPT_KB (> 0): an agent's request of about that many KB instead: a long system
-- prompt, tool definitions, and earlier turns of tool calls and their results, holding code
-- with quotes, backslashes, tabs, newlines and non-ASCII text (the bytes a JSON reader must
-- stop at). The last user turn is the small request's prompt.
local prompt_kb = tonumber(os.getenv("BENCH_PROMPT_KB") or "0") or 0

-- Text already escaped for a JSON string.
local para = [[fn parse_config(path: &str) -> Result<Config, Error> { read(\"config.toml\")?; }\n]] ..
    [[\tquotes \" and backslashes \\ in a path C:\\src, and text: é ü 中文 😀.\n]]

local function agent_turns(kb)
    local tools, turns = {}, {}
    for i = 1, 12 do
        tools[#tools + 1] = '{"type":"function","function":{"name":"tool_' .. i .. '","description":"' ..
            para .. '","parameters":{"type":"object","properties":{"path":{"type":"string"},' ..
            '"line":{"type":"integer"},"flags":{"type":"array","items":{"type":"string"}}},"required":["path"]}}}'
    end
    local size, i = 0, 0
    while size < kb * 1024 do
        i = i + 1
        local turn = '{"role":"user","content":"' .. string.rep(para, 3) .. '"},' ..
            '{"role":"assistant","content":null,"tool_calls":[{"id":"call_' .. i .. '","type":"function",' ..
            '"function":{"name":"tool_1","arguments":"{\\"path\\":\\"src/main.rs\\",\\"line\\":' .. i .. '}"}}]},' ..
            '{"role":"tool","tool_call_id":"call_' .. i .. '","content":"' .. string.rep(para, 8) .. '"},'
        turns[#turns + 1] = turn
        size = size + #turn
    end
    return '{"role":"system","content":"' .. string.rep(para, 20) .. '"},' .. table.concat(turns),
        ',"tools":[' .. table.concat(tools, ",") .. ']'
end

local context, tools = "", ""
if prompt_kb > 0 then
    context, tools = agent_turns(prompt_kb)
else
    context = '{"role":"system","content":"You are a terse assistant."},'
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"model":"' .. model .. '","messages":[' .. context ..
    '{"role":"user","content":"Say hello in five words."}]' .. tools ..
    ',"max_tokens":32,"temperature":0' ..
    (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0

if os.getenv("BENCH_UNIQUE") == "1" then
    local counter = 0
    local head, tail = string.match(wrk.body, '^(.*Say hello in five words)(.*)$')
    function request()
        counter = counter + 1
        -- run_tag (set in init) keeps a later wrk run (after a warm-up) from repeating prompts.
        return wrk.format(nil, nil, nil, head .. " #" .. run_tag .. "." .. (thread_no or 0) .. "." .. counter .. tail)
    end
end

-- What a finished answer must contain.
local done_marker = stream and "[DONE]" or '"choices"'

-- Per-thread counters (each thread has its own Lua state).
non2xx = 0
bad_body = 0
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
    end
end

-- setup() runs in the main Lua state, once per thread: keep the threads so done() can read
-- their counters.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_no", #threads)
end

function init(args)
    math.randomseed(os.time() * 1000 + (thread_no or 0))
    run_tag = os.time() .. "-" .. math.random(1, 1000000000)
end

if delay_ms > 0 then
    function delay()
        return math.random(0, 2 * delay_ms)
    end
end

function done(summary, latency, requests)
    local n2, bb, example = 0, 0, ""
    for _, t in ipairs(threads) do
        n2 = n2 + (t:get("non2xx") or 0)
        bb = bb + (t:get("bad_body") or 0)
        local fb = t:get("first_bad") or ""
        if example == "" and fb ~= "" then
            example = fb
        end
    end
    local e = summary.errors
    local sock = e.connect + e.read + e.write
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d rps=%.1f ok_rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "mean_us=%.1f socket_errors=%d timeouts=%d non2xx=%d bad_body=%d errors=%d\n",
        summary.requests, summary.duration, summary.requests / secs, (summary.requests - n2 - bb) / secs,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean, sock, e.timeout, n2, bb, sock + e.timeout + n2 + bb))
    if example ~= "" then
        io.write("BENCH_FIRST_ERROR " .. string.gsub(example, "[\r\n]+", " ") .. "\n")
    end
end
