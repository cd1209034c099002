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

# ---- Azure OpenAI
AZ=(-H 'api-key: test' -H 'Content-Type: application/json')
AZU="$U/openai/deployments/my-dep"
curl -s "${AZ[@]}" "$AZU/chat/completions?api-version=2024-10-21" -o "$TMP/r" \
  -d '{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}'
jqt "azure chat: echo, deployment as model, content filter results" "$TMP/r" '.model=="my-dep" and
  .choices[0].message.content=="Echo: hello there world" and .usage.prompt_tokens==8 and
  .choices[0].content_filter_results.hate.filtered==false and .prompt_filter_results[0].prompt_index==0'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${AZ[@]}" "$AZU/chat/completions" -d '{"messages":[{"role":"user","content":"x"}]}')
[ "$code" = 404 ] && jq -e '.error.code=="404"' "$TMP/r" >/dev/null; check "azure: no api-version -> 404 Resource not found" $?
code=$(curl -s -o "$TMP/r" -w '%{http_code}' -H 'Authorization: Bearer test' "$AZU/chat/completions?api-version=2024-10-21" -d '{"messages":[{"role":"user","content":"x"}]}')
[ "$code" = 401 ] && jq -e '.error.code=="401"' "$TMP/r" >/dev/null; check "azure: no api-key header -> 401 Azure shape" $?
curl -s "${AZ[@]}" "$AZU/chat/completions?api-version=2024-10-21" -o "$TMP/r" \
  -d '{"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}'
first=$(grep -m1 '^data: ' "$TMP/r" | cut -c7-)
echo "$first" | jq -e '.choices==[] and .prompt_filter_results[0].prompt_index==0' >/dev/null && tail -c 20 "$TMP/r" | grep -q '\[DONE\]'
check "azure stream: opens with a choice-less filter chunk, ends with [DONE]" $?
curl -s "${AZ[@]}" "$AZU/embeddings?api-version=2024-10-21" -o "$TMP/r" -d '{"input":"one two"}'
jqt "azure embeddings" "$TMP/r" '(.data[0].embedding|length)==8 and .usage.prompt_tokens==2'
code=$(curl -s -o "$TMP/r" -w '%{http_code}' "${AZ[@]}" "$U/openai/deployments/dep-fault-429/chat/completions?api-version=2024-10-21" -d '{"messages":[{"role":"user","content":"x"}]}')
[ "$code" = 429 ] && jq -e '.error.code=="429"' "$TMP/r" >/dev/null; check "azure: fault-429 in the deployment name" $?

# ---- Cohere v2
CO=(-H 'Authorization: Bearer test' -H 'Content-Type: application/json')
curl -s "${CO[@]}" $U/v2/chat -o "$TMP/r" \
  -d '{"model":"command-r-08-2024","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}'
jqt "cohere chat: echo, COMPLETE, billed_units" "$TMP/r" '.message.role=="assistant" and
  .message.content[0].text=="Echo: hello there world" and .finish_reason=="COMPLETE" and
  .usage.billed_units.input_tokens==8 and .usage.billed_units.output_tokens==4 and .usage.tokens.input_tokens==13'
curl -s "${CO[@]}" $U/v2/chat -o "$TMP/r" -d '{"model":"command-r","messages":[{"role":"user","content":"weather in Paris?"}],
  "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}'
jqt "cohere tools: TOOL_CALL with tool_plan" "$TMP/r" '.finish_reason=="TOOL_CALL" and (.message.tool_plan|length)>0 and
  .message.tool_calls[0].function.name=="get_weather" and (.message.tool_calls[0].function.arguments|fromjson|.city)=="Paris"'
curl -s "${CO[@]}" $U/v2/chat -o "$TMP/r" -d '{"model":"command-r","stream":true,"messages":[{"role":"user","content":"a b"}]}'
events=$(grep '^event: ' "$TMP/r" | cut -c8- | tr '\n' ' ')
[ "$events" = "message-start content-start content-delta content-delta content-delta content-end message-end " ]
check "cohere stream: event order ($events)" $?
grep '^data: ' "$TMP/r" | tail -1 | cut -c7- | jq -e '.type=="message-end" and .delta.finish_reason=="COMPLETE" and .delta.usage.billed_units.output_tokens==3' >/dev/null
check "cohere stream: message-end has finish_reason and usage" $?
curl -s "${CO[@]}" $U/v2/embed -o "$TMP/r" -d '{"model":"embed-v4.0","texts":["a b","c"],"input_type":"search_document","embedding_types":["float"]}'
jqt "cohere embed" "$TMP/r" '(.embeddings.float|length)==2 and .meta.billed_units.input_tokens==3 and .response_type=="embeddings_by_type"'
code=$(curl -s -o /dev/null -w '%{http_code}' "${CO[@]}" $U/v2/embed -d '{"model":"embed-v4.0","texts":["a"]}')
[ "$code" = 400 ]; check "cohere embed: no input_type -> 400" $?
code=$(curl -s -o "$TMP/r" -w '%{http_code}' $U/v2/chat -d '{"model":"command-r","messages":[{"role":"user","content":"x"}]}')
[ "$code" = 401 ] && jq -e '.message|length>0' "$TMP/r" >/dev/null; check "cohere: no key -> 401 {id,message}" $?

# ---- Bedrock Converse
BR=(-H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00'
    -H 'x-amz-date: 20250101T000000Z' -H 'Content-Type: application/json')
BM="$U/model/anthropic.claude-3-haiku-20240307-v1%3A0"
curl -s "${BR[@]}" "$BM/converse" -o "$TMP/r" \
  -d '{"system":[{"text":"be brief"}],"messages":[{"role":"user","content":[{"text":"hello there world"}]}]}'
jqt "bedrock converse: echo, end_turn, usage" "$TMP/r" '.output.message.role=="assistant" and
  .output.message.content[0].text=="Echo: hello there world" and .stopReason=="end_turn" and
  .usage.inputTokens==8 and .usage.outputTokens==4 and .usage.totalTokens==12'
code=$(curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' "$BM/converse" -d '{"messages":[{"role":"user","content":[{"text":"x"}]}]}')
[ "$code" = 403 ] && grep -qi '^x-amzn-ErrorType: MissingAuthenticationTokenException' "$TMP/h"; check "bedrock: no SigV4 -> 403 MissingAuthenticationToken" $?
code=$(curl -s -o /dev/null -w '%{http_code}' "${BR[@]}" "$BM/converse" -d '{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"user","content":[{"text":"y"}]}]}')
[ "$code" = 400 ]; check "bedrock: roles must alternate -> 400 ValidationException" $?
curl -s -D "$TMP/h" "${BR[@]}" "$BM/converse-stream" -o "$TMP/r" -d '{"messages":[{"role":"user","content":[{"text":"a b"}]}]}'
grep -qi '^content-type: application/vnd.amazon.eventstream' "$TMP/h" && grep -aq messageStart "$TMP/r" && grep -aq metadata "$TMP/r"
check "bedrock converse-stream: eventstream content type and events" $?
if command -v python3 >/dev/null; then
  python3 - "$TMP/r" <<'PY'
import sys, zlib, struct, json
data = open(sys.argv[1], 'rb').read(); i = 0; names = []
while i < len(data):
    total, hlen, pcrc = struct.unpack('>III', data[i:i+12])
    assert zlib.crc32(data[i:i+8]) == pcrc, 'prelude crc'
    assert zlib.crc32(data[i:i+total-4]) == struct.unpack('>I', data[i+total-4:i+total])[0], 'message crc'
    h = data[i+12:i+12+hlen]; j = 0; hdr = {}
    while j < len(h):
        n = h[j]; name = h[j+1:j+1+n].decode(); assert h[j+1+n] == 7
        vl = struct.unpack('>H', h[j+2+n:j+4+n])[0]; hdr[name] = h[j+4+n:j+4+n+vl].decode(); j += 4 + n + vl
    payload = json.loads(data[i+12+hlen:i+total-4]); names.append(hdr[':event-type'])
    i += total
assert names == ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta',
                 'contentBlockStop', 'messageStop', 'metadata'], names
assert payload['usage']['outputTokens'] == 3, payload
PY
  check "bedrock converse-stream: CRCs, headers and event order" $?
fi
code=$(curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' "${BR[@]}" "$U/model/fault-429/converse" -d '{"messages":[{"role":"user","content":[{"text":"x"}]}]}')
[ "$code" = 429 ] && grep -qi '^x-amzn-ErrorType: ThrottlingException' "$TMP/h"; check "bedrock: fault-429 -> ThrottlingException" $?
curl -s "${BR[@]}" "$U/model/amazon.titan-embed-text-v2%3A0/invoke" -o "$TMP/r" -d '{"inputText":"one two three"}'
jqt "bedrock invoke: Titan embedding" "$TMP/r" '(.embedding|length)==8 and .inputTextTokenCount==3'

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
