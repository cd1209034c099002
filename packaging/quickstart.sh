#!/usr/bin/env bash
# The README's first command: install dependencies, build, install aigw and aigwd to
# /usr/local, start the daemon and run a real session through it. With a provider key in
# the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...) the session
# uses that provider; without one it uses the built-in offline mock provider.
set -euo pipefail
cd "$(dirname "$0")/.."

bash packaging/install-deps.sh
echo "==> building (Release)" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIGW_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
echo "==> installing aigw and aigwd to /usr/local" >&2
cmake --install build --prefix /usr/local >/dev/null

model="${AIGW_MODEL:-}"
if [ -z "$model" ]; then
  if [ -n "${OPENAI_API_KEY:-}" ]; then model=openai/gpt-4o-mini
  elif [ -n "${ANTHROPIC_API_KEY:-}" ]; then model=anthropic/claude-haiku-4-5
  elif [ -n "${GEMINI_API_KEY:-}" ]; then model=gemini/gemini-2.5-flash
  elif [ -n "${GROQ_API_KEY:-}" ]; then model=groq/llama-3.3-70b-versatile
  else model=mock/echo
  fi
fi

echo "==> starting the daemon" >&2
aigw daemon start
aigw daemon status
echo >&2
echo "==> aigw run -m $model (streamed)" >&2
aigw run -m "$model" "In one sentence: what does an AI gateway do?"
echo >&2
echo "==> the same through the OpenAI API with curl (what SDKs and tools do)" >&2
port=$(aigw daemon status --json 2>/dev/null | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
key_file="${AIGW_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/aigw}/gateway.key"
key="${AIGW_API_KEY:-$(cat "$key_file")}"
curl -sS -D - -o /dev/null "http://127.0.0.1:${port:-4141}/v1/chat/completions" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}]}" | grep -i '^x-aigw\|^x-request-id\|^HTTP' >&2
echo >&2
echo "==> aigw models" >&2
aigw models
echo >&2
echo "==> aigw cost (today)" >&2
aigw cost
echo >&2
{
  echo "aigwd is running on 127.0.0.1:${port:-4141}. Next:"
  # One column for the descriptions, whatever the model's name is.
  printf '  %-28s  %s\n' "aigw chat -m $model" "talk to it (Ctrl-C stops an answer, /exit leaves)" \
    'echo "hi" | aigw run' "pipe prompts from scripts" \
    "aigw daemon stop" "stop the daemon"
  echo "  your SDK, unchanged:"
  echo "    OPENAI_BASE_URL=http://127.0.0.1:${port:-4141}/v1 OPENAI_API_KEY=\$(cat $key_file)"
} >&2
if [ -t 0 ] && [ -t 1 ] && [ -z "${CI:-}" ]; then
  exec aigw chat -m "$model"
fi
