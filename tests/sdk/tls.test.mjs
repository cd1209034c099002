// A team gateway over HTTPS ([server] tls_cert/tls_key): the official OpenAI and Anthropic
// SDKs reach aigwd through TLS the way users set up a private CA for Node clients
// (NODE_EXTRA_CA_CERTS), and a client that does not trust the certificate is refused.
// Node reads NODE_EXTRA_CA_CERTS only at start, so each client runs in a child node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const stack = useGatewayStack({ tls: true });

/// Runs `code` (an ES module printing one JSON line) in a child node whose fetch trusts the
/// gateway's certificate only when `trust`; returns { status, out, err, json }.
function client(code, { trust = true } = {}) {
  const env = { ...process.env, BASE: stack.origin, KEY: GATEWAY_KEY };
  delete env.NODE_EXTRA_CA_CERTS;
  if (trust) env.NODE_EXTRA_CA_CERTS = stack.caFile;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: here, // the SDKs resolve from tests/sdk/node_modules
    env,
    encoding: 'utf8',
    timeout: 30000,
  });
  let json = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    // no JSON: the test says what was printed
  }
  return { status: r.status, out: r.stdout, err: r.stderr, json };
}

test('the OpenAI SDK chats over HTTPS, plain and streamed, and gets the cost header', () => {
  const r = client(`
    import OpenAI from 'openai';
    const openai = new OpenAI({ apiKey: process.env.KEY, baseURL: process.env.BASE + '/v1', maxRetries: 0 });
    const { data, response } = await openai.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'over tls' }] })
      .withResponse();
    let streamed = '';
    const stream = await openai.chat.completions.create({
      model: 'mock/echo', stream: true, messages: [{ role: 'user', content: 'streamed over tls' }] });
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
    console.log(JSON.stringify({ content: data.choices[0].message.content, cost: response.headers.get('x-aigw-cost-usd'),
      streamed }));
  `);
  assert.equal(r.status, 0, `child failed: ${r.err}`);
  assert.ok(r.json, `no JSON from the child: ${r.out}`);
  assert.ok(r.json.content.length > 0);
  assert.match(r.json.cost, /^\d+\.\d+$/);
  assert.match(r.json.streamed, /streamed over tls/);
});

test('the Anthropic SDK sends Messages over HTTPS', () => {
  const r = client(`
    import Anthropic from '@anthropic-ai/sdk';
    const anthropic = new Anthropic({ apiKey: process.env.KEY, baseURL: process.env.BASE, maxRetries: 0 });
    const msg = await anthropic.messages.create({
      model: 'mock/echo', max_tokens: 64, messages: [{ role: 'user', content: 'anthropic over tls' }] });
    console.log(JSON.stringify({ type: msg.type, text: msg.content[0].text }));
  `);
  assert.equal(r.status, 0, `child failed: ${r.err}`);
  assert.equal(r.json?.type, 'message', r.out);
  assert.match(r.json.text, /anthropic over tls/);
});

test('a client that does not trust the certificate is refused, and plain HTTP gets a 400 naming https://', async () => {
  const r = client(`
    import OpenAI from 'openai';
    const openai = new OpenAI({ apiKey: process.env.KEY, baseURL: process.env.BASE + '/v1', maxRetries: 0 });
    try {
      await openai.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'x' }] });
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      let why = '';
      for (let c = e.cause; c; c = c.cause) why += ' ' + (c.code ?? '') + ' ' + (c.message ?? '');
      console.log(JSON.stringify({ ok: false, name: e.constructor.name, cause: why }));
    }
  `, { trust: false });
  assert.equal(r.status, 0, `child failed: ${r.err}`);
  assert.equal(r.json?.ok, false, r.out);
  assert.equal(r.json.name, 'APIConnectionError');
  assert.match(r.json.cause, /SELF_SIGNED|CERT|certificate/i);

  const plain = await fetch(`http://127.0.0.1:${stack.port}/health`);
  assert.equal(plain.status, 400);
  assert.match(await plain.text(), /https:\/\//);
  assert.ok(stack.alive());
});
