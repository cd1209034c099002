// `aigw codex`, `aigw opencode` and `aigw gemini` with the built aigw and the agents from npm (pinned): each
// launched through the gateway in a session of its own (no config file of the agent's
// written: Codex gets -c overrides, opencode OPENCODE_CONFIG_CONTENT with {env:AIGW_API_KEY}),
// runs one shell command through a tool call, and its session shows in `aigw cost --by
// session` and `aigw logs --session`. (`aigw claude` is in claude_code.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATEWAY_KEY, opencodeEnv, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, 'node_modules', '.bin');
const AIGW = path.join(process.env.AIGW_BUILD_DIR ?? '', 'cli', 'aigw');

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 50000, ...opts }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, signal: error?.signal ?? null, stdout, stderr });
    });
    child.stdin.end();
  });
}

/// A temp HOME with every XDG dir under it, nothing of the user's agent or aigw settings, the
/// daemon the test started found through AIGW_HOST, the agents from node_modules on PATH.
function launchEnv(prefix) {
  const home = mkdtempSync(path.join(stack.dir, `${prefix}-home-`));
  const work = path.join(home, 'work');
  mkdirSync(work);
  mkdirSync(path.join(home, '.codex'));
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(OPENCODE|OPENAI_|ANTHROPIC_|CODEX|AIGW_|XDG_|npm_config_)/i.test(k)) delete env[k];
  }
  Object.assign(env, opencodeEnv(home, work), {
    CODEX_HOME: path.join(home, '.codex'),
    AIGW_HOST: stack.origin,
    AIGW_API_KEY: GATEWAY_KEY,
    PATH: `${BIN}:${process.env.PATH}`,
  });
  return { env, work };
}

/// The one session of `agent` in `aigw cost --by session`, and its rows from `aigw logs`.
async function sessionOf(agent, env, except = []) {
  const cost = await run(AIGW, ['cost', '--by', 'session', '--json'], { env });
  assert.equal(cost.code, 0, cost.stderr);
  const groups = JSON.parse(cost.stdout).groups.filter(
    (g) => new RegExp(`^${agent}-\\d+-[0-9a-f]{6}$`).test(g.key) && !except.includes(g.key),
  );
  assert.equal(groups.length, 1, cost.stdout);
  const logs = await run(AIGW, ['logs', '--session', groups[0].key, '--json', '-n', '100'], { env });
  assert.equal(logs.code, 0, logs.stderr);
  return { group: groups[0], rows: JSON.parse(logs.stdout) };
}

for (const { agent, args, surface } of [
  {
    agent: 'codex',
    args: (prompt) => ['exec', '--skip-git-repo-check', '--color', 'never', '-s', 'danger-full-access', prompt],
    surface: 'openai.responses',
  },
  {
    agent: 'opencode',
    args: (prompt) => ['run', '--pure', '--format', 'json', prompt],
    surface: 'anthropic.messages',
  },
]) {
  test(`aigw ${agent} -m anthropic/claude-haiku-4-5: a shell command through a tool call, the session in cost and logs`, async () => {
    assert.ok(existsSync(AIGW), `${AIGW} is missing; build it with: ninja -C $AIGW_BUILD_DIR aigw`);
    await stack.clearUpstream();
    const marker = `aigw-launched-${agent}-ok`;
    const { env, work } = launchEnv(agent);
    const r = await run(
      AIGW,
      [agent, '-m', 'anthropic/claude-haiku-4-5', '--', ...args(`Please run \`echo ${marker}\` and tell me what it printed.`)],
      { env, cwd: work },
    );
    const upstream = await stack.upstreamRequests();
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout (tail):\n${r.stdout.slice(-3000)}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    // The command's output went to the model as a tool result, and its echo is the answer.
    assert.ok(upstream.some((u) => u.path === '/v1/messages' && u.body.includes(`${marker}\\n`)), context);
    assert.match(r.stdout, new RegExp(`Echo:.*${marker}`), context);
    const { group, rows } = await sessionOf(agent, env);
    assert.ok(group.requests >= 2 && group.cost_usd > 0, JSON.stringify(group));
    assert.equal(rows.length, group.requests);
    for (const row of rows) {
      assert.equal(row.served_model, 'anthropic/claude-haiku-4-5');
      assert.equal(row.surface, surface);
    }
  });
}

// Gemini CLI refuses a settings file under a directory others may write to (the temp dir),
// and `aigw gemini` writes its system settings into the data dir: that one lives under the
// real home (0700 for root in CI), removed afterwards.
for (const { model, upstreamPath } of [
  { model: 'gemini/gemini-2.5-flash', upstreamPath: /^\/v1beta\/models\/gemini-2\.5-flash:streamGenerateContent$/ },
  { model: 'openai/gpt-4o-mini', upstreamPath: /^\/v1\/chat\/completions$/ },
]) {
  test(`aigw gemini -m ${model}: Gemini CLI runs a shell command through the Gemini surface, in its session`, async (t) => {
    assert.ok(existsSync(AIGW), `${AIGW} is missing; build it with: ninja -C $AIGW_BUILD_DIR aigw`);
    await stack.clearUpstream();
    const marker = `aigw-launched-gemini-${model.split('/')[0]}-ok`;
    const { env, work } = launchEnv('gemini');
    const costBefore = await run(AIGW, ['cost', '--by', 'session', '--json'], { env });
    const earlierSessions = costBefore.code === 0 ? JSON.parse(costBefore.stdout).groups.map((g) => g.key) : [];
    const dataHome = mkdtempSync(path.join(os.homedir(), '.aigw-sdk-gemini-'));
    t.after(() => rmSync(dataHome, { recursive: true, force: true }));
    for (const k of Object.keys(env)) {
      if (/^(GEMINI_|GOOGLE_)/.test(k)) delete env[k];
    }
    Object.assign(env, {
      XDG_DATA_HOME: dataHome,
      GEMINI_CLI_TRUST_WORKSPACE: 'true', // headless in a folder it has never seen
      GEMINI_TELEMETRY_ENABLED: 'false',
    });
    const r = await run(
      AIGW,
      ['gemini', '-m', model, '--', '-p', `Please run \`echo ${marker}\` and tell me what it printed.`, '--yolo'],
      { env, cwd: work },
    );
    const upstream = await stack.upstreamRequests();
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout (tail):\n${r.stdout.slice(-3000)}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    // Gemini CLI spoke Gemini's API to aigwd, which called the model's provider (natively or
    // translated); the shell tool's output went back to the model and is its answer.
    const calls = upstream.filter((u) => upstreamPath.test(u.path));
    assert.ok(calls.length >= 2 && calls.length === upstream.length, context);
    assert.ok(calls.slice(1).some((u) => u.body.includes(`Output: ${marker}`)), context);
    assert.match(r.stdout, new RegExp(`Echo:.*${marker}`), context);
    const { group, rows } = await sessionOf('gemini', env, earlierSessions);
    assert.ok(group.requests >= 2 && group.cost_usd > 0, JSON.stringify(group));
    for (const row of rows) {
      assert.equal(row.served_model, model);
      assert.match(row.surface, /^gemini\./);
    }
  });
}
