// Continue's CLI (`cn -p`, @continuedev/cli from npm, pinned) against aigwd with its OpenAI and
// its Anthropic provider (`apiBase` at aigwd, the gateway key as `apiKey`), each on a model of
// the other wire format, so the request is translated both ways: cn runs one shell command
// through a tool call and answers with its output. A temp HOME per run; stdin closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();
const here = path.dirname(fileURLToPath(import.meta.url));
const CN = path.join(here, 'node_modules', '.bin', 'cn');

function run(cmd, args, opts) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20, timeout: 50000, ...opts }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, signal: error?.signal ?? null, stdout, stderr });
    });
    child.stdin.end();
  });
}

for (const { provider, model, apiBase, upstreamPath } of [
  { provider: 'openai', model: 'anthropic/claude-haiku-4-5', apiBase: '/v1', upstreamPath: '/v1/messages' },
  { provider: 'anthropic', model: 'openai/gpt-4o-mini', apiBase: '/v1/', upstreamPath: '/v1/chat/completions' },
]) {
  test(`cn -p with Continue's ${provider} provider on ${model}: a shell command through a tool call`, async () => {
    await stack.clearUpstream();
    const home = mkdtempSync(path.join(stack.dir, `cn-${provider}-`));
    const work = path.join(home, 'work');
    mkdirSync(work);
    const config = path.join(home, 'config.yaml');
    writeFileSync(
      config,
      [
        'name: aigw-test',
        'version: 1.0.0',
        'schema: v1',
        'models:',
        '  - name: via-aigw',
        `    provider: ${provider}`,
        `    model: ${model}`,
        `    apiBase: ${stack.origin}${apiBase}`,
        `    apiKey: ${GATEWAY_KEY}`,
        '    roles: [chat]',
        '',
      ].join('\n'),
    );
    const env = { PATH: process.env.PATH, HOME: home, NO_COLOR: '1', CONTINUE_TELEMETRY_ENABLED: '0' };
    const marker = `cn-${provider}-ok`;
    const r = await run(CN, ['--config', config, '-p', `Please run \`echo ${marker}\` and tell me what it printed.`], {
      env,
      cwd: work,
    });
    const upstream = await stack.upstreamRequests();
    const context = `exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout.slice(-2000)}\nstderr:\n${r.stderr.slice(-2000)}\nupstream: ${upstream.map((u) => u.path).join(' ')}`;
    assert.equal(r.code, 0, context);
    const calls = upstream.filter((u) => u.path === upstreamPath);
    assert.ok(calls.length >= 2, context); // the tool call, then the answer
    // The command's output went back to the model as a tool result, and is the answer.
    assert.ok(calls.at(-1).body.includes(marker) && calls.at(-1).body.length > calls[0].body.length, context);
    // The fake echoes the last thing it was given: the tool's output, not the prompt.
    assert.match(r.stdout.trim(), new RegExp(`^Echo: ${marker}$`), context);
  });
}
