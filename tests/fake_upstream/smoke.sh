#!/usr/bin/env bash
# Self-check of fake-upstream over real HTTP with curl and jq; run by hand:
#   tests/fake_upstream/smoke.sh [path/to/fake-upstream]
# Starts the fake on a free port, exercises every endpoint and a few faults, prints one line
# per check and exits non-zero when any check fails.
set -u

BIN=${1:-$(dirname "$0")/../../build/tests/fake-upstream}
[ -x "$BIN" ] || { echo "fake-upstream binary not found: $BIN (pass its path)" >&2; exit 2; }
command -v jq >/dev/null || { echo "smoke.sh needs jq" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
"$BIN" --port 0 >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 50); do grep -q '^listening ' "$TMP/out" && break; sleep 0.1; done
PORT=$(awk '/^listening /{print $2}' "$TMP/out")
[ -n "$PORT" ] || { echo "fake-upstream did not print 'listening <port>'" >&2; cat "$TMP/err" >&2; exit 1; }
U=http://127.0.0.1:$PORT
echo "fake-upstream on port $PORT"

FAILS=0
check() { # check NAME CONDITION-EXIT-STATUS
    if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; FAILS=$((FAILS + 1)); fi
}
# jqt NAME FILE FILTER: the jq filter must print true.
jqt() { [ "$(jq -r "$3" "$2" 2>/dev/null)" = "true" ]; check "$1" $?; }

OA=(-H 'Authorization: Bearer test' -H 'Content-Type: application/json')
AN=(-H 'x-api-key: test' -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json')
GE=(-H 'x-goog-api-key: test' -H 'Content-Type: application/json')

# ---- OpenAI
curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" \
  -d '{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}'
jqt "openai chat: echo, model, usage" "$TMP/r" '.object=="chat.completion" and .model=="gpt-4o" and
  .choices[0].message.content=="Echo: hello there world" and .choices[0].finish_reason=="stop" and
  .usage.prompt_tokens==8 and .usage.completion_tokens==4 and .usage.total_tokens==12 and
  .usage.prompt_tokens_details.cached_tokens==0 and .usage.completion_tokens_details.reasoning_tokens==0'

curl -s -N "${OA[@]}" $U/v1/chat/completions -o "$TMP/s" \
  -d '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there world"}]}'
tail -n 2 "$TMP/s" | head -1 | grep -q '^data: \[DONE\]$'; check "openai stream ends with [DONE]" $?
sed -n 's/^data: //p' "$TMP/s" | grep -v DONE | jq -s . >"$TMP/sj"
jqt "openai stream: role chunk, words, finish, usage chunk" "$TMP/sj" '.[0].choices[0].delta.role=="assistant" and
  ([.[].choices[0].delta.content // empty] | join(""))=="Echo: hello there world" and
  (.[-2].choices[0].finish_reason=="stop") and (.[-1].choices==[]) and .[-1].usage.completion_tokens==4 and
  (.[0].usage==null) and (.[0].object=="chat.completion.chunk")'

curl -s -N "${OA[@]}" $U/v1/chat/completions -o "$TMP/s" \
  -d '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'
! grep -q '"usage"' "$TMP/s"; check "openai stream without include_usage has no usage" $?

TOOLS='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location"]}}}]'
curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" \
  -d '{"model":"gpt-4o","tools":'"$TOOLS"',"messages":[{"role":"user","content":"What is the weather in Paris?"}]}'
jqt "openai tool call" "$TMP/r" '.choices[0].finish_reason=="tool_calls" and .choices[0].message.content==null and
  .choices[0].message.tool_calls[0].type=="function" and .choices[0].message.tool_calls[0].function.name=="get_weather" and
  (.choices[0].message.tool_calls[0].function.arguments|fromjson|.location)=="Paris"'

curl -s -N "${OA[@]}" $U/v1/chat/completions -o "$TMP/s" \
  -d '{"model":"gpt-4o","stream":true,"tools":'"$TOOLS"',"messages":[{"role":"user","content":"weather?"}]}'
sed -n 's/^data: //p' "$TMP/s" | grep -v DONE | jq -s . >"$TMP/sj"
jqt "openai streamed tool call deltas" "$TMP/sj" '(.[0].choices[0].delta.tool_calls[0].id|startswith("call_")) and
  .[0].choices[0].delta.tool_calls[0].function.name=="get_weather" and
  ([.[].choices[0].delta.tool_calls[0].function.arguments // empty]|length)>=3 and
  ([.[].choices[0].delta.tool_calls[0].function.arguments // empty]|join("")|fromjson|.location)=="Paris" and
  .[-1].choices[0].finish_reason=="tool_calls"'

curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" \
  -d '{"model":"gpt-4o","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer"}},"required":["city","n"]}}},"messages":[{"role":"user","content":"give json"}]}'
jqt "openai json_schema answer is a JSON object" "$TMP/r" '(.choices[0].message.content|fromjson|.n)==1'

curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" \
  -d '{"model":"gpt-4o-long","max_tokens":10,"messages":[{"role":"user","content":"go"}]}'
jqt "openai max_tokens truncates with finish_reason length" "$TMP/r" '.choices[0].finish_reason=="length" and .usage.completion_tokens==10'

curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" \
  -d '{"model":"gpt-4o-long","messages":[{"role":"user","content":"go"}]}'
jqt "openai long model answers 200 words" "$TMP/r" '(.choices[0].message.content|split(" ")|length)==200 and .usage.completion_tokens==200'

curl -s "${OA[@]}" $U/v1/models -o "$TMP/r"
jqt "openai models list" "$TMP/r" '.object=="list" and (.data|length)>0 and .data[0].object=="model"'

curl -s "${OA[@]}" $U/v1/embeddings -o "$TMP/r" -d '{"model":"text-embedding-3-small","input":["a b","c"]}'
jqt "openai embeddings (float)" "$TMP/r" '(.data|length)==2 and (.data[0].embedding|length)==8 and .usage.prompt_tokens==3'
curl -s "${OA[@]}" $U/v1/embeddings -o "$TMP/r" -d '{"model":"m","input":"a","encoding_format":"base64","dimensions":4}'
jqt "openai embeddings (base64, 4 dims = 16 bytes)" "$TMP/r" '(.data[0].embedding|@base64d|length)>0 and (.data[0].embedding|length)==24'

code=$(curl -s -o "$TMP/r" -w '%{http_code}' $U/v1/chat/completions -d '{"model":"gpt-4o","messages":[]}')
[ "$code" = 401 ]; check "openai no key -> 401" $?
jqt "openai 401 body shape" "$TMP/r" '.error.type=="invalid_request_error" and .error.code=="invalid_api_key" and .error.param==null'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${OA[@]}" $U/v1/chat/completions -d '{"messages":[]}')
[ "$code" = 400 ]; check "openai missing model -> 400" $?

# ---- Anthropic
curl -s "${AN[@]}" $U/v1/messages -o "$TMP/r" \
  -d '{"model":"claude-sonnet-4-5","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"hello there"}]}'
jqt "anthropic message" "$TMP/r" '.type=="message" and (.id|startswith("msg_")) and .content[0].type=="text" and
  .content[0].text=="Echo: hello there" and .stop_reason=="end_turn" and .stop_sequence==null and
  .usage.input_tokens==7 and .usage.output_tokens==3 and .usage.cache_read_input_tokens==0'

curl -s -N "${AN[@]}" $U/v1/messages -o "$TMP/s" \
  -d '{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello there"}]}'
[ "$(grep '^event: ' "$TMP/s" | cut -d' ' -f2 | uniq | tr '\n' ' ')" = "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop " ]
check "anthropic stream event sequence" $?
sed -n 's/^data: //p' "$TMP/s" | jq -s . >"$TMP/sj"
jqt "anthropic stream text and usage" "$TMP/sj" '([.[]|select(.type=="content_block_delta")|.delta.text]|join(""))=="Echo: hello there" and
  (.[]|select(.type=="message_delta")|.usage.output_tokens)==3 and (.[0].message.usage.input_tokens)==5'

curl -s -N "${AN[@]}" $U/v1/messages -o "$TMP/s" \
  -d '{"model":"claude-sonnet-4-5","max_tokens":2000,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}],"messages":[{"role":"user","content":"weather in Paris"}]}'
sed -n 's/^data: //p' "$TMP/s" | jq -s . >"$TMP/sj"
jqt "anthropic stream: thinking block then tool_use" "$TMP/sj" '([.[]|select(.type=="content_block_start")|.content_block.type])==["thinking","tool_use"] and
  ([.[]|select(.delta.type=="signature_delta")]|length)==1 and
  ([.[]|select(.delta.type=="input_json_delta")|.delta.partial_json]|join("")|fromjson|.location)=="Paris" and
  (.[]|select(.type=="message_delta")|.delta.stop_reason)=="tool_use"'

code=$(curl -s -o "$TMP/r" -w '%{http_code}' -H 'x-api-key: k' $U/v1/messages -d '{"model":"c","max_tokens":5,"messages":[]}')
[ "$code" = 400 ]; check "anthropic missing anthropic-version -> 400" $?
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${AN[@]}" $U/v1/messages -d '{"model":"c","messages":[{"role":"user","content":"x"}]}')
[ "$code" = 400 ]; check "anthropic missing max_tokens -> 400" $?
jqt "anthropic error shape" "$TMP/r" '.type=="error" and .error.type=="invalid_request_error"'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' -H 'anthropic-version: 2023-06-01' $U/v1/messages -d '{}')
[ "$code" = 401 ]; check "anthropic no key -> 401" $?
curl -s "${AN[@]}" $U/v1/models -o "$TMP/r"
jqt "anthropic models list" "$TMP/r" '.data[0].type=="model" and .has_more==false'

# ---- Gemini
G=$U/v1beta/models/gemini-2.5-flash
curl -s "${GE[@]}" "$G:generateContent" -o "$TMP/r" \
  -d '{"contents":[{"role":"user","parts":[{"text":"hello there"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":512}}}'
jqt "gemini generateContent" "$TMP/r" '.candidates[0].content.role=="model" and .candidates[0].content.parts[0].text=="Echo: hello there" and
  .candidates[0].finishReason=="STOP" and .usageMetadata.promptTokenCount==5 and .usageMetadata.candidatesTokenCount==3 and
  .usageMetadata.thoughtsTokenCount>0 and .modelVersion=="gemini-2.5-flash" and (.responseId|length)>0'

curl -s -N "${GE[@]}" "$G:streamGenerateContent?alt=sse" -o "$TMP/s" -d '{"contents":[{"parts":[{"text":"hello there"}]}]}'
grep -q $'\r$' "$TMP/s" && ! grep -q 'DONE' "$TMP/s"; check "gemini stream uses CRLF framing and no [DONE]" $?
tr -d '\r' <"$TMP/s" | sed -n 's/^data: //p' | jq -s . >"$TMP/sj"
jqt "gemini stream text, last chunk has finishReason + usage" "$TMP/sj" '([.[].candidates[0].content.parts[0].text]|join(""))=="Echo: hello there" and
  .[-1].candidates[0].finishReason=="STOP" and .[-1].usageMetadata.candidatesTokenCount==3 and (.[0].candidates[0].finishReason==null)'

curl -s "$G:generateContent?key=test" -o "$TMP/r" -H 'Content-Type: application/json' \
  -d '{"contents":[{"parts":[{"text":"weather in Paris?"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"location":{"type":"STRING"}},"required":["location"]}}]}]}'
jqt "gemini functionCall (key in query)" "$TMP/r" '.candidates[0].content.parts[0].functionCall.name=="get_weather" and .candidates[0].content.parts[0].functionCall.args.location=="Paris"'

curl -s "${GE[@]}" "$U/v1beta/models/gemini-embedding-001:embedContent" -o "$TMP/r" -d '{"content":{"parts":[{"text":"hi"}]}}'
jqt "gemini embedContent" "$TMP/r" '(.embedding.values|length)==8'
curl -s "${GE[@]}" "$U/v1beta/models/gemini-embedding-001:batchEmbedContents" -o "$TMP/r" \
  -d '{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}},{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b"}]},"outputDimensionality":3}]}'
jqt "gemini batchEmbedContents" "$TMP/r" '(.embeddings|length)==2 and (.embeddings[1].values|length)==3'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "$G:generateContent" -d '{"contents":[{"parts":[{"text":"x"}]}]}')
[ "$code" = 403 ] && jq -e '.error.status=="PERMISSION_DENIED" and .error.code==403' "$TMP/r" >/dev/null; check "gemini no key -> 403 PERMISSION_DENIED" $?

# ---- Faults by model name
code=$(curl -s -D "$TMP/h" -o "$TMP/r" -w '%{http_code}' "${OA[@]}" $U/v1/chat/completions -d '{"model":"gpt-4o-fault-429","messages":[{"role":"user","content":"x"}]}')
[ "$code" = 429 ] && grep -qi '^Retry-After: 1' "$TMP/h"; check "fault-429 -> 429 + Retry-After: 1" $?
jqt "fault-429 OpenAI body" "$TMP/r" '.error.code=="rate_limit_exceeded"'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${AN[@]}" $U/v1/messages -d '{"model":"claude-fault-529","max_tokens":5,"messages":[{"role":"user","content":"x"}]}')
[ "$code" = 529 ] && jq -e '.error.type=="overloaded_error"' "$TMP/r" >/dev/null; check "fault-529 -> anthropic overloaded_error" $?
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${GE[@]}" "$U/v1beta/models/gemini-fault-503:generateContent" -d '{"contents":[{"parts":[{"text":"x"}]}]}')
[ "$code" = 503 ] && jq -e '.error.status=="UNAVAILABLE"' "$TMP/r" >/dev/null; check "fault-503 -> gemini UNAVAILABLE" $?

curl -s -N "${OA[@]}" $U/v1/chat/completions -o "$TMP/s" -d '{"model":"gpt-fault-cut","stream":true,"messages":[{"role":"user","content":"one two three four five six"}]}'
rc=$?
[ "$rc" -ne 0 ] && [ "$(grep -c '^data: ' "$TMP/s")" = 4 ] && ! grep -q DONE "$TMP/s"; check "fault-cut stream: 4 chunks, no [DONE], curl error ($rc)" $?
curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" -d '{"model":"gpt-fault-cut","messages":[{"role":"user","content":"x"}]}'
rc=$?; [ "$rc" = 18 ]; check "fault-cut non-stream: short body (curl 18, got $rc)" $?

curl -s "${OA[@]}" $U/v1/chat/completions -o "$TMP/r" -d '{"model":"gpt-fault-malformed","messages":[{"role":"user","content":"x"}]}'
[ "$(cat "$TMP/r")" = '{"choices": [' ]; check "fault-malformed non-stream body" $?
curl -s -N "${AN[@]}" $U/v1/messages -o "$TMP/s" -d '{"model":"claude-fault-stream-error","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
head -1 "$TMP/s" | grep -q '^event: error$'; check "fault-stream-error: anthropic first event is error" $?

start=$(date +%s%N)
curl -s "${OA[@]}" $U/v1/chat/completions -o /dev/null -d '{"model":"gpt-fault-slow","messages":[{"role":"user","content":"x"}]}'
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -ge 1400 ] && [ "$ms" -lt 3000 ]; check "fault-slow waits ~1500 ms ($ms ms)" $?
curl -s -m 1 "${OA[@]}" $U/v1/chat/completions -o /dev/null -d '{"model":"gpt-fault-hang","messages":[{"role":"user","content":"x"}]}'
[ $? = 28 ]; check "fault-hang: client times out" $?

# ---- Control API
curl -s -X DELETE $U/_control/requests >/dev/null
curl -s $U/_control/faults -o "$TMP/r" -d '{"path_contains":"/chat/completions","model_contains":"gpt","kind":"503","count":2,"retry_after":7}'
jqt "control: fault accepted" "$TMP/r" '.ok==true and .faults[0].remaining==2'
codes=""
for _ in 1 2 3; do
  codes="$codes $(curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' "${OA[@]}" $U/v1/chat/completions -d '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}')"
done
[ "$codes" = " 503 503 200" ]; check "control: counted fault hits exactly 2 requests ($codes)" $?
curl -s $U/_control/faults -d '{"kind":"429","count":1}' >/dev/null
curl -s -X DELETE $U/_control/faults >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "${OA[@]}" $U/v1/chat/completions -d '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}')
[ "$code" = 200 ]; check "control: DELETE clears faults" $?
code=$(curl -s -o /dev/null -w '%{http_code}' $U/_control/faults -d '{"kind":"nope"}')
[ "$code" = 400 ]; check "control: unknown kind -> 400" $?
curl -s "$U/_control/requests" -o "$TMP/r"
jqt "control: requests recorded with lower-case headers and raw query" "$TMP/r" 'length==4 and .[0].method=="POST" and
  .[0].path=="/v1/chat/completions" and .[0].headers.authorization=="Bearer test" and (.[0].body|fromjson|.model)=="gpt-4o"'
curl -s "${GE[@]}" "$G:streamGenerateContent?alt=sse" -o /dev/null -d '{"contents":[{"parts":[{"text":"x"}]}]}'
curl -s "$U/_control/requests" | jq '.[-1]' >"$TMP/r"
jqt "control: query recorded" "$TMP/r" '.query=="alt=sse" and .path=="/v1beta/models/gemini-2.5-flash:streamGenerateContent"'
curl -s "$U/_control/stats" -o "$TMP/r"
jqt "control: stats" "$TMP/r" '.requests==5'

# ---- Shutdown
kill -TERM "$PID"
wait "$PID"; rc=$?
[ "$rc" = 0 ]; check "SIGTERM -> exit 0" $?

echo
if [ "$FAILS" -eq 0 ]; then echo "all checks passed"; else echo "$FAILS check(s) failed"; fi
[ "$FAILS" -eq 0 ]
