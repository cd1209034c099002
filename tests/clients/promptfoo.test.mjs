// promptfoo (pinned, from npm) evaluating through aigwd with its `openai:responses:` provider:
// one model served natively by OpenAI and one translated (Anthropic), assertions that pass
// and one that must fail, the exit code promptfoo gives CI, and the rows in aigw's ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATEWAY_KEY, useGatewayStack } from '../sdk/helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const PROMPTFOO = path.join(here, 'node_modules', '.bin', 'promptfoo');

function promptfooEval(config, name) {
  const file = path.join(stack.dir, `${name}.yaml`);
  const out = path.join(stack.dir, `${name}.json`);
  writeFileSync(file, config);
  const env = {
    ...process.env,
    PROMPTFOO_DISABLE_TELEMETRY: '1',
    PROMPTFOO_DISABLE_UPDATE: '1',
    PROMPTFOO_CONFIG_DIR: path.join(stack.dir, `promptfoo-${name}`),
    OPENAI_API_KEY: GATEWAY_KEY,
  };
  return new Promise((resolve) => {
    const child = execFile(PROMPTFOO, ['eval', '-c', file, '--no-cache', '--no-write', '-o', out],
      { env, cwd: stack.dir, timeout: 100000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        let results = null;
        try {
          results = JSON.parse(readFileSync(out, 'utf8')).results;
        } catch {
          // no output file
        }
        resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr, results });
      });
    child.stdin.end();
  });
}

const provider = (model) => `  - id: openai:responses:${model}
    config:
      apiBaseUrl: ${stack.baseURL}
      apiKey: ${GATEWAY_KEY}
`;

test('promptfoo eval with openai:responses providers (native and translated) passes through aigwd', async () => {
  await stack.clearUpstream();
  const r = await promptfooEval(`description: aigw responses
prompts:
  - "Say hello to {{name}}"
providers:
${provider('openai/gpt-4o-mini')}${provider('anthropic/claude-haiku-4-5')}tests:
  - vars: { name: Ada }
    assert:
      - type: icontains
        value: ada
  - vars: { name: Grace }
    assert:
      - type: icontains
        value: grace
`, 'pass');
  const context = `exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`;
  assert.equal(r.code, 0, context);
  assert.ok(r.results, context);
  assert.equal(r.results.stats.successes, 4, JSON.stringify(r.results.stats));
  assert.equal(r.results.stats.failures, 0);
  const paths = (await stack.upstreamRequests()).map((u) => u.path);
  assert.equal(paths.filter((p) => p === '/v1/responses').length, 2, paths.join(' '));
  assert.equal(paths.filter((p) => p === '/v1/messages').length, 2, paths.join(' '));
});

test('a failing assertion fails the promptfoo run (exit code 100) with the answer from aigwd', async () => {
  await stack.clearUpstream();
  const r = await promptfooEval(`prompts:
  - "Say hello to {{name}}"
providers:
${provider('anthropic/claude-haiku-4-5')}tests:
  - vars: { name: Ada }
    assert:
      - type: icontains
        value: definitely-not-in-the-answer
`, 'fail');
  assert.equal(r.code, 100, `promptfoo exits 100 when a test fails: ${r.stderr.slice(-1000)}`);
  assert.equal(r.results?.stats.failures, 1, JSON.stringify(r.results?.stats));
  // The answer came from the model through aigwd: the request reached Anthropic.
  const up = (await stack.upstreamRequests()).filter((u) => u.path === '/v1/messages');
  assert.ok(up.some((u) => u.body.includes('Say hello to Ada')), up.map((u) => u.body).join(' | '));
});
