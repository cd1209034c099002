// Claude Code (@anthropic-ai/claude-code from npm, pinned) against aigwd and the fake upstream:
// `claude -p` runs one shell command through its Bash tool and answers, on its default model,
// a bare Anthropic name and the alias `sonnet` (native passthrough), and on translated models
// (OpenAI, Gemini and the offline mock); its own session id (X-Claude-Code-Session-Id) lands in the ledger. Then
// `aigw claude -m openai/gpt-4o-mini -- -p ...` with the built aigw: Claude Code launched
// through the gateway in an aigw session that `aigw cost --by session` reports.
//
// Each run has its own HOME and config dir (nothing of the user's is read or written), no
// telemetry, updates or other nonessential traffic, stdin closed and a 50 s limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATEWAY_KEY, jsonLines, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, 'node_modules', '.bin');
const CLAUDE = path.join(BIN, 'claude');
const AIGW = path.join(process.env.AIGW_BUILD_DIR ?? '', 'cli', 'aigw');

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 32 << 20, timeout: 50000, ...opts }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, signal: error?.signal ?? null, stdout, stderr });
    });
    child.stdin.end();
  });
}

/// An environment for Claude Code with nothing of the user's: a temp HOME and config dir, no
/// Anthropic or aigw variables inherited, telemetry, updates and nonessential traffic off.
function isolatedEnv() {
  const home = mkdtempSync(path.join(stack.dir, 'claude-home-'));
  const work = path.join(home, 'work');
  mkdirSync(work);
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(ANTHROPIC_|CLAUDE|AIGW_|XDG_|OPENAI_|GEMINI_)/i.test(k)) delete env[k];
  }
  Object.assign(env, {
    HOME: home,
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_BUG_COMMAND: '1',
    CLAUDE_CODE_DISABLE_TERMINAL_TITLE: '1',
    NO_COLOR: '1',
    PWD: work,
  });
  return { env, work };
}

/// Claude Code's print mode with one tool, Bash, allowed without asking, JSON events on stdout.
function printArgs(prompt, model) {
  return [
    '-p',
    prompt,
    ...(model ? ['--model', model] : []),
    '--tools',
    'Bash',
    '--allowedTools',
    'Bash',
    '--output-format',
    'stream-json',
    '--verbose',
    '--no-session-persistence',
    '--strict-mcp-config',
  ];
}

/// The JSON events of a stream-json run, and what they tell: the Bash calls, the tool results
/// Claude Code sent back, the final result event and the session id.
function outcome(stdout) {
  const events = jsonLines(stdout);
  const blocks = (type) =>
    events
      .filter((e) => e.type === type)
      .flatMap((e) => (Array.isArray(e.message?.content) ? e.message.content : []));
  return {
    events,
    bashCalls: blocks('assistant').filter((b) => b.type === 'tool_use' && b.name === 'Bash'),
    toolResults: blocks('user').filter((b) => b.type === 'tool_result'),
    result: events.find((e) => e.type === 'result'),
    sessionId: events.find((e) => e.type === 'system' && e.session_id)?.session_id,
  };
}

function resultText(r) {
  const c = r.content;
  return typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text ?? '').join('') : '';
}

/// Whether an upstream request carries a tool result (Anthropic's tool_result block, an
/// OpenAI `tool` message, a Gemini functionResponse part) that contains `marker`.
function hasToolResult(u, marker) {
  const messages = Array.isArray(u.json?.messages) ? u.json.messages : [];
  const contents = Array.isArray(u.json?.contents) ? u.json.contents : [];
  const inGemini = contents.some((c) =>
    (c.parts ?? []).some((p) => p.functionResponse && JSON.stringify(p.functionResponse).includes(marker)),
  );
  return inGemini || messages.some(
    (m) =>
      (m.role === 'tool' && JSON.stringify(m.content ?? '').includes(marker)) ||
      (Array.isArray(m.content) &&
        m.content.some((b) => b.type === 'tool_result' && JSON.stringify(b.content ?? '').includes(marker))),
  );
}

async function adminGet(p) {
  const r = await fetch(`${stack.origin}${p}`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } });
  const text = await r.text();
  assert.equal(r.status, 200, `${p}: ${text}`);
  return JSON.parse(text);
}

for (const { label, model, upstreamPath, realCommand } of [
  { label: 'its default model (native)', model: null, upstreamPath: /^\/v1\/messages/, realCommand: true },
  { label: 'claude-sonnet-4-5 (native)', model: 'claude-sonnet-4-5', upstreamPath: /^\/v1\/messages/, realCommand: true },
  { label: 'the alias sonnet (native)', model: 'sonnet', upstreamPath: /^\/v1\/messages/, realCommand: true },
  { label: 'openai/gpt-4o-mini (translated)', model: 'openai/gpt-4o-mini', upstreamPath: /^\/v1\/chat\/completions$/, realCommand: true },
  { label: 'gemini/gemini-2.5-flash (translated)', model: 'gemini/gemini-2.5-flash', upstreamPath: /generatecontent/i, realCommand: true },
  // The offline mock calls a tool its prompt names, with arguments of its own making.
  { label: 'mock/echo (translated, offline)', model: 'mock/echo', upstreamPath: null, realCommand: false },
]) {
  test(`Claude Code through aigwd on ${label}: a Bash tool round trip, its session in the ledger`, async () => {
    await stack.clearUpstream();
    const marker = `aigw-claude-${(model ?? 'default').replace(/[^a-z0-9]/gi, '-')}-ok`;
    const { env, work } = isolatedEnv();
    Object.assign(env, { ANTHROPIC_BASE_URL: stack.origin, ANTHROPIC_API_KEY: GATEWAY_KEY });
    const r = await run(CLAUDE, printArgs(`Please run \`echo ${marker}\` with the Bash tool and tell me what it printed.`, model), {
      env,
      cwd: work,
    });
    const upstream = await stack.upstreamRequests();
    const o = outcome(r.stdout);
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout (tail):\n${r.stdout.slice(-4000)}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => `${u.path} ${u.json?.model ?? ''}`).join(' | ')}`;
    assert.equal(r.code, 0, context);
    assert.equal(o.result?.subtype, 'success', context);
    assert.equal(o.result?.is_error, false, context);
    // The model asked for Bash, Claude Code ran it and sent the result back, and answered.
    assert.ok(o.bashCalls.length >= 1, `no Bash call: ${context}`);
    assert.ok(o.toolResults.length >= 1, `no tool result: ${context}`);
    if (realCommand) {
      assert.equal(o.bashCalls[0].input?.command, `echo ${marker}`, context);
      assert.match(resultText(o.toolResults[0]), new RegExp(marker), context);
      // The tool's output reached the provider...
      const withResult = upstream.filter((u) => upstreamPath.test(u.path) && hasToolResult(u, marker));
      assert.ok(withResult.length >= 1, `the tool result never reached the provider: ${context}`);
      // ...and the answer (the fake echoes the tool result) is Claude Code's.
      assert.match(o.result.result ?? '', new RegExp(marker), context);
    }
    // Claude Code's own session id (X-Claude-Code-Session-Id) is each request's session.
    assert.ok(o.sessionId, context);
    const logs = await adminGet(`/aigw/v1/logs?session=${encodeURIComponent(o.sessionId)}&limit=100`);
    assert.ok(logs.rows.length >= 2, `ledger rows of session ${o.sessionId}: ${JSON.stringify(logs.rows.length)}: ${context}`);
    for (const row of logs.rows) {
      assert.equal(row.session, o.sessionId);
      assert.equal(row.surface, 'anthropic.messages');
    }
    if (model && model !== 'sonnet') {
      // (Claude Code sends its alias as the model it stands for.)
      assert.ok(logs.rows.some((row) => row.requested_model === model), JSON.stringify(logs.rows.map((x) => x.requested_model)));
    }
  });
}

test('aigw claude -m openai/gpt-4o-mini -- -p: Claude Code launched through the gateway, its session in aigw cost --by session', async () => {
  assert.ok(existsSync(AIGW), `${AIGW} is missing; build it with: ninja -C $AIGW_BUILD_DIR aigw`);
  await stack.clearUpstream();
  const marker = 'aigw-launched-claude-ok';
  const { env, work } = isolatedEnv();
  // The CLI finds the daemon the test started through AIGW_HOST; the gateway key is AIGW_API_KEY.
  Object.assign(env, { AIGW_HOST: stack.origin, AIGW_API_KEY: GATEWAY_KEY, PATH: `${BIN}:${env.PATH}` });
  const r = await run(
    AIGW,
    ['claude', '-m', 'openai/gpt-4o-mini', '--', ...printArgs(`Please run \`echo ${marker}\` with the Bash tool and tell me what it printed.`, null)],
    { env, cwd: work },
  );
  const upstream = await stack.upstreamRequests();
  const o = outcome(r.stdout);
  const context = `exit ${r.code} ${r.signal ?? ''}\nstdout (tail):\n${r.stdout.slice(-4000)}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => `${u.path} ${u.json?.model ?? ''}`).join(' | ')}`;
  assert.equal(r.code, 0, context);
  assert.equal(o.result?.subtype, 'success', context);
  assert.equal(o.bashCalls[0]?.input?.command, `echo ${marker}`, context);
  assert.match(o.result.result ?? '', new RegExp(marker), context);
  // Every model call went to OpenAI (-m sets each of Claude Code's model tiers).
  assert.ok(upstream.length >= 2, context);
  assert.ok(upstream.every((u) => u.path === '/v1/chat/completions' && u.json?.model === 'gpt-4o-mini'), context);

  // The session aigw started is in the cost report, and its requests in the logs.
  const cost = await run(AIGW, ['cost', '--by', 'session', '--json'], { env });
  assert.equal(cost.code, 0, cost.stderr);
  const sessions = JSON.parse(cost.stdout).groups.filter((g) => /^claude-\d+-[0-9a-f]{6}$/.test(g.key));
  assert.equal(sessions.length, 1, cost.stdout);
  const session = sessions[0];
  assert.ok(session.requests >= 2 && session.cost_usd > 0, JSON.stringify(session));
  const logs = await run(AIGW, ['logs', '--session', session.key, '--json', '-n', '100'], { env });
  assert.equal(logs.code, 0, logs.stderr);
  const rows = JSON.parse(logs.stdout);
  assert.equal(rows.length, session.requests);
  assert.ok(rows.every((row) => row.session === session.key && row.served_model === 'openai/gpt-4o-mini'), logs.stdout);
});
