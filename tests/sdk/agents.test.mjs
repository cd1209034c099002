// Real clients of the Responses API, from npm and pinned, against aigwd and the fake upstream:
// Codex CLI (`codex exec` with a custom model provider at aigwd, wire_api = "responses")
// running one shell command through a tool call and answering, once natively (OpenAI) and
// once translated (Anthropic, Gemini); and the Vercel AI SDK's `openai(model)` (its default
// is the Responses API) with generateText and streamText and a tool it executes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const CODEX = path.join(here, 'node_modules', '.bin', 'codex');

/// Runs a program with stdin closed (`codex exec` reads a piped stdin to its end).
function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 50000, ...opts }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
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
