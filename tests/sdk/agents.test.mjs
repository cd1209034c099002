// Real clients of the Responses API, from npm and pinned, against aigwd and the fake upstream:
// Codex CLI (`codex exec` with a custom model provider at aigwd, wire_api = "responses")
// running one shell command through a tool call and answering, once natively (OpenAI) and
// once translated (Anthropic, Gemini); opencode (`opencode run` with its built-in OpenAI
// provider, which speaks the Responses API, given aigwd as baseURL) answering plainly and
// running one command through its `bash` tool, natively and translated; and the Vercel AI
// SDK's `openai(model)` (its default is the Responses API) with generateText and streamText
// and a tool it executes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

import { GATEWAY_KEY, jsonLines, opencodeEnv, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const CODEX = path.join(here, 'node_modules', '.bin', 'codex');
const OPENCODE = path.join(here, 'node_modules', '.bin', 'opencode');

/// Runs a program with stdin closed (`codex exec` reads a piped stdin to its end); killed after
/// 50 s (`code` is then null and `signal` SIGTERM).
function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 50000, ...opts }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, signal: error?.signal ?? null, stdout, stderr });
    });
    child.stdin.end();
  });
}

/// Runs `codex exec PROMPT` with its own CODEX_HOME whose config points at aigwd.
async function codexExec(model, prompt) {
  const home = mkdtempSync(path.join(stack.dir, 'codex-home-'));
  const work = path.join(home, 'work');
  mkdirSync(work);
  writeFileSync(
    path.join(home, 'config.toml'),
    [
      `model = "${model}"`,
      'model_provider = "aigw"',
      // OpenAI's hosted web search exists only on OpenAI models; aigw answers 400 for it
      // elsewhere rather than dropping it, so it is off here (as a user would set it).
      'web_search = "disabled"',
      'approval_policy = "never"',
      'sandbox_mode = "danger-full-access"',
      '',
      '[model_providers.aigw]',
      'name = "aigw"',
      `base_url = "${stack.baseURL}"`,
      'env_key = "AIGW_TEST_KEY"',
      'wire_api = "responses"',
      'request_max_retries = 0',
      'stream_max_retries = 0',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, CODEX_HOME: home, AIGW_TEST_KEY: GATEWAY_KEY, HOME: home, NO_COLOR: '1' };
  delete env.OPENAI_API_KEY;
  delete env.OPENAI_BASE_URL;
  return run(CODEX, ['exec', '--skip-git-repo-check', '--color', 'never', '-C', work, prompt], { env, cwd: work });
}

for (const { model, provider, toolResultIn } of [
  { model: 'openai/gpt-4o-mini', provider: 'openai', toolResultIn: /^\/v1\/responses$/ },
  { model: 'anthropic/claude-haiku-4-5', provider: 'anthropic', toolResultIn: /^\/v1\/messages$/ },
  { model: 'gemini/gemini-2.5-flash', provider: 'gemini', toolResultIn: /generatecontent/i },
]) {
  test(`Codex CLI through aigwd (${provider}): runs a shell command via a tool call and answers`, async () => {
    await stack.clearUpstream();
    const marker = `aigw-codex-${provider}-ok`;
    const r = await codexExec(model, `Please run \`echo ${marker}\` and tell me what it printed.`);
    const upstream = await stack.upstreamRequests();
    const context = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    // The command ran and its output went back to the model as the tool's result...
    // (the prompt has the marker followed by a backtick; the command's output, by a newline,
    // escaped as \n in the JSON body).
    const withResult = upstream.filter((u) => toolResultIn.test(u.path) && u.body.includes(`${marker}\\n`));
    assert.ok(withResult.length >= 1, `the tool result never reached ${provider}: ${context}`);
    // ...and the model's answer (the fake echoes the tool result) is Codex's last message.
    assert.match(r.stdout, new RegExp(marker), context);
  });
}

/// Runs `opencode run --format json PROMPT` with the model `openai/<model>`: opencode's built-in
/// OpenAI provider (the Responses API) with aigwd as its baseURL and the gateway key, from a
/// config file in a temp HOME with every XDG dir under it, so nothing of the user's is read or
/// written, run in an empty dir there. Nothing goes to the network but aigwd: no models.dev
/// fetch (opencode then uses the snapshot it ships), autoupdate, sharing, LSP or formatter
/// downloads, default or external plugins, and npm offline for the @opencode-ai/plugin
/// package opencode installs into its config dir in the background (the install fails at
/// once; run does not need it). Resolves with run()'s result plus `events`, the JSON lines
/// opencode printed.
async function opencodeRun(model, prompt, { compatible = false } = {}) {
  // Its built-in OpenAI provider (the Responses API), or an OpenAI-compatible one (chat
  // completions) named aigw, as a user adds any gateway.
  const id = compatible ? 'aigw' : 'openai';
  const home = mkdtempSync(path.join(stack.dir, 'opencode-home-'));
  const work = path.join(home, 'work');
  mkdirSync(work);
  const configFile = path.join(home, 'opencode.json');
  writeFileSync(
    configFile,
    JSON.stringify(
      {
        $schema: 'https://opencode.ai/config.json',
        autoupdate: false,
        share: 'disabled',
        lsp: false,
        formatter: false,
        enabled_providers: [id],
        model: `${id}/${model}`,
        // The session title is written by the small model: the same one, so that every
        // request of the run goes to the provider under test.
        small_model: `${id}/${model}`,
        permission: { bash: 'allow', edit: 'deny', webfetch: 'deny', external_directory: 'deny' },
        provider: {
          [id]: {
            ...(compatible ? { npm: '@ai-sdk/openai-compatible', name: 'aigw' } : {}),
            options: { baseURL: stack.baseURL, apiKey: GATEWAY_KEY },
            // aigw's model names are not in opencode's snapshot of models.dev.
            models: {
              [model]: { name: model, tool_call: true, reasoning: false, limit: { context: 128000, output: 4096 } },
            },
          },
        },
      },
      null,
      2,
    ),
  );
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(OPENCODE|OPENAI_|XDG_|npm_config_)/i.test(k)) delete env[k];
  }
  Object.assign(env, opencodeEnv(home, work), { OPENCODE_CONFIG: configFile });
  const r = await run(OPENCODE, ['run', '--pure', '--format', 'json', '--dir', work, '--model', `${id}/${model}`, prompt], {
    env,
    cwd: work,
  });
  r.events = jsonLines(r.stdout);
  return r;
}

/// The text opencode answered (its `text` events), the tools it ran and the token counts of
/// each model call (`step_finish` events).
function opencodeOutputs(events) {
  const text = events.filter((e) => e.type === 'text').map((e) => e.part?.text ?? '').join('');
  const tools = events.filter((e) => e.type === 'tool_use').map((e) => e.part);
  const steps = events.filter((e) => e.type === 'step_finish').map((e) => e.part?.tokens);
  return { text, tools, steps };
}

/// Every model call reported the usage aigwd relayed (the fake counts words, so never 0).
function assertUsage(steps, context) {
  assert.ok(steps.length >= 1, context);
  for (const t of steps) assert.ok(t?.input > 0 && t?.output > 0, `tokens ${JSON.stringify(t)}: ${context}`);
}

for (const { model, provider, upstreamPath, compatible = false } of [
  { model: 'openai/gpt-4o-mini', provider: 'openai', upstreamPath: /^\/v1\/responses$/ },
  { model: 'anthropic/claude-haiku-4-5', provider: 'anthropic', upstreamPath: /^\/v1\/messages$/ },
  // opencode's OpenAI-compatible provider speaks chat completions; translated to Anthropic.
  {
    model: 'anthropic/claude-haiku-4-5',
    provider: 'anthropic, compatible',
    upstreamPath: /^\/v1\/messages$/,
    compatible: true,
  },
]) {
  const surface = compatible ? 'openai.chat' : 'openai.responses';
  test(`opencode through aigwd (${provider}): a plain answer`, async () => {
    await stack.clearUpstream();
    const marker = `aigw-opencode-${provider.replace(', ', '-')}-hello`;
    const r = await opencodeRun(model, `Say ${marker} back to me.`, { compatible });
    const upstream = await stack.upstreamRequests();
    const { text, steps } = opencodeOutputs(r.events);
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    // The fake echoes the prompt: the answer made the whole way back through aigwd.
    assert.match(text, new RegExp(`Echo:.*${marker}`), context);
    assert.ok(upstream.length >= 1 && upstream.every((u) => upstreamPath.test(u.path)), context);
    assertUsage(steps, context);
  });

  test(`opencode through aigwd (${provider}): runs a command via its bash tool and answers`, async () => {
    await stack.clearUpstream();
    const marker = `aigw-opencode-${provider.replace(', ', '-')}-ok`;
    const r = await opencodeRun(model, `Please run \`echo ${marker}\` and tell me what it printed.`, { compatible });
    const upstream = await stack.upstreamRequests();
    const { text, tools, steps } = opencodeOutputs(r.events);
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr (tail):\n${r.stderr.slice(-3000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    // opencode ran the command the model asked for with its bash tool...
    const bash = tools.find((t) => t.tool === 'bash');
    assert.ok(bash, `no bash tool call: ${context}`);
    assert.equal(bash.state?.status, 'completed', context);
    assert.equal(bash.state?.input?.command, `echo ${marker}`, context);
    assert.match(bash.state?.output ?? '', new RegExp(`^${marker}\\n`), context);
    // ...its output went back to the provider as the tool's result (escaped \n in the JSON)...
    const withResult = upstream.filter((u) => upstreamPath.test(u.path) && u.body.includes(`${marker}\\n`));
    assert.ok(withResult.length >= 1, `the tool result never reached ${provider}: ${context}`);
    // ...and the model's answer (the fake echoes the tool result) is what opencode printed.
    assert.match(text, new RegExp(`Echo:.*${marker}`), context);
    assert.equal(steps.length, 2, `one call that asks for the tool, one that answers: ${context}`);
    assertUsage(steps, context);
    // Both calls came in on the surface this provider speaks.
    const logs = await fetch(`${stack.origin}/aigw/v1/logs?limit=2`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } });
    const rows = (await logs.json()).rows;
    assert.deepEqual(rows.map((row) => row.surface), [surface, surface], context);
  });
}

const weatherTool = tool({
  description: 'Current weather for a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny and 21 degrees in ${city}`,
});

for (const model of ['openai/gpt-4o-mini', 'anthropic/claude-haiku-4-5']) {
  test(`Vercel AI SDK openai(${model}) generateText with a tool it executes`, async () => {
    const openai = createOpenAI({ baseURL: stack.baseURL, apiKey: GATEWAY_KEY });
    await stack.clearUpstream();
    const r = await generateText({
      model: openai(model),
      prompt: 'What is the weather in Paris?',
      tools: { get_weather: weatherTool },
      stopWhen: stepCountIs(3),
    });
    assert.ok(r.steps.length >= 2, JSON.stringify(r.steps.map((s) => s.finishReason)));
    assert.equal(r.steps[0].toolCalls[0]?.toolName, 'get_weather');
    assert.match(r.text, /sunny/);
    assert.ok(r.totalUsage.inputTokens > 0 && r.totalUsage.outputTokens > 0, JSON.stringify(r.totalUsage));
    // The SDK spoke the Responses API to aigwd (its default for openai(model)).
    const paths = (await stack.upstreamRequests()).map((u) => u.path);
    assert.ok(paths.length >= 2, paths.join(' '));
  });

  test(`Vercel AI SDK openai(${model}) streamText with a tool`, async () => {
    const openai = createOpenAI({ baseURL: stack.baseURL, apiKey: GATEWAY_KEY });
    const r = streamText({
      model: openai(model),
      prompt: 'What is the weather in Paris?',
      tools: { get_weather: weatherTool },
      stopWhen: stepCountIs(3),
    });
    let text = '';
    for await (const piece of r.textStream) text += piece;
    assert.match(text, /sunny/);
    const steps = await r.steps;
    assert.equal(steps[0].toolCalls[0]?.toolName, 'get_weather');
  });
}
