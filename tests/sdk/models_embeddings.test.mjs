// GET /v1/models and POST /v1/embeddings through the official openai SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

test('models.list() lists mock/echo and the openai models', async () => {
  const client = stack.openai();
  const { data: page, response } = await client.models.list().withResponse();
  assert.equal(response.status, 200);
  assert.ok(response.headers.get('x-request-id'), 'x-request-id missing');
  const ids = [];
  for await (const m of page) {
    assert.equal(m.object, 'model', JSON.stringify(m));
    assert.equal(typeof m.id, 'string');
    ids.push(m.id);
  }
  assert.ok(ids.includes('mock/echo'), `mock/echo not in ${ids.join(', ')}`);
  assert.ok(ids.includes('openai/gpt-4o-mini'), `openai/gpt-4o-mini not in ${ids.join(', ')}`);
  assert.ok(ids.filter((id) => id.startsWith('openai/')).length >= 2, 'expected several openai/ models');
  assert.equal(new Set(ids).size, ids.length, 'duplicate model ids');
});

test('models.retrieve() finds a listed model, a routable name the catalog does not list, and 404s the rest', async () => {
  const client = stack.openai();
  const listed = await client.models.retrieve('openai/gpt-4o-mini');
  assert.equal(listed.id, 'openai/gpt-4o-mini');
  assert.equal(listed.object, 'model');
  assert.equal(listed.owned_by, 'openai');
  const bare = await client.models.retrieve('gpt-17-preview'); // routed by its family
  assert.equal(bare.id, 'gpt-17-preview');
  assert.equal(bare.owned_by, 'openai');
  await assert.rejects(client.models.retrieve('nosuch-model-17'), (e) => e.status === 404 && e.code === 'model_not_found');
  const noKey = await fetch(`${stack.origin}/v1/models/openai/gpt-4o-mini`);
  assert.equal(noKey.status, 401);
});

test('GET / and HEAD / answer a short hello naming aigw; an unknown route is a 404 counted in status', async () => {
  const root = await fetch(`${stack.origin}/`);
  assert.equal(root.status, 200);
  const hello = await root.json();
  assert.equal(hello.name, 'aigw');
  assert.match(hello.version, /^\d+\.\d+/);
  const head = await fetch(`${stack.origin}/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');

  const status = async () =>
    (await (await fetch(`${stack.origin}/aigw/v1/status`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } })).json())
      .unknown_routes;
  const before = await status();
  const r = await fetch(`${stack.origin}/v1/nosuch/thing`, { method: 'POST', headers: { 'user-agent': 'probe-agent/1.0' } });
  assert.equal(r.status, 404);
  const body = await r.json();
  assert.match(body.error.message, /Unknown route POST \/v1\/nosuch\/thing/);
  const after = await status();
  assert.equal(after.count, before.count + 1);
  assert.deepEqual(after.last.at(-1), { method: 'POST', path: '/v1/nosuch/thing', user_agent: 'probe-agent/1.0' });
});

function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

test('embeddings.create() on mock (SDK default: base64, decoded by the SDK)', async () => {
  const client = stack.openai();
  const { data: res, response } = await client.embeddings
    .create({ model: 'mock/echo', input: ['the quick brown fox', 'jumps over the lazy dog'] })
    .withResponse();
  assert.equal(response.headers.get('x-aigw-provider'), 'mock');
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, 2);
  assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
  for (const d of res.data) {
    // The mock's vectors have 64 dimensions and unit length. A float list where base64 was
    // asked for decodes to the wrong length (the SDK reads the numbers as bytes).
    assert.equal(d.embedding.length, 64, `vector length ${d.embedding.length}`);
    assert.ok(d.embedding.every(Number.isFinite));
    assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-3, `norm ${norm(d.embedding)}`);
  }
  assert.notDeepEqual(res.data[0].embedding, res.data[1].embedding);
  assert.ok(res.usage.prompt_tokens > 0);

  // The same text gives the same vector when asked for floats explicitly.
  const floats = await client.embeddings.create({ model: 'mock/echo', input: 'the quick brown fox', encoding_format: 'float' });
  assert.equal(floats.data[0].embedding.length, 64);
  floats.data[0].embedding.forEach((x, i) =>
    assert.ok(Math.abs(x - res.data[0].embedding[i]) < 1e-6, `dim ${i}: ${x} vs ${res.data[0].embedding[i]}`));
});

test('embeddings.create() on openai/text-embedding-3-small via the fake upstream', async () => {
  const client = stack.openai();
  const { data: res, response } = await client.embeddings
    .create({ model: 'openai/text-embedding-3-small', input: 'hello embeddings' })
    .withResponse();
  assert.equal(response.headers.get('x-aigw-provider'), 'openai');
  const cost = Number(response.headers.get('x-aigw-cost-usd'));
  assert.ok(response.headers.get('x-aigw-cost-usd') !== null && Number.isFinite(cost) && cost >= 0,
    `x-aigw-cost-usd ${response.headers.get('x-aigw-cost-usd')}`);
  assert.equal(res.data.length, 1);
  // The fake upstream answers 8 dimensions unless asked for more.
  assert.equal(res.data[0].embedding.length, 8, `vector length ${res.data[0].embedding.length}`);
  assert.ok(res.data[0].embedding.every(Number.isFinite));
  assert.ok(res.usage.prompt_tokens > 0);

  const floats = await client.embeddings.create({
    model: 'openai/text-embedding-3-small', input: 'hello embeddings', encoding_format: 'float',
  });
  floats.data[0].embedding.forEach((x, i) =>
    assert.ok(Math.abs(x - res.data[0].embedding[i]) < 1e-6, `dim ${i}: ${x} vs ${res.data[0].embedding[i]}`));

  const seen = (await stack.fakeControl('GET', '/_control/requests')).filter((r) => r.path.endsWith('/embeddings'));
  const first = JSON.parse(seen.at(-2).body);
  assert.equal(first.model, 'text-embedding-3-small');
  assert.equal(first.encoding_format, 'base64', 'the SDK default (base64) reaches the upstream');
});

test('embeddings.create() passes dimensions through to the upstream', async () => {
  const client = stack.openai();
  const res = await client.embeddings.create({
    model: 'openai/text-embedding-3-small', input: ['a', 'b', 'c'], dimensions: 16,
  });
  assert.equal(res.data.length, 3);
  for (const d of res.data) assert.equal(d.embedding.length, 16);
});
