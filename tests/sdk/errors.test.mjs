// Errors as the official openai SDK sees them: its typed error classes, statuses, codes and
// messages, broken streams, and the SDK's own retries against the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { contentOf, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

const HELLO = [{ role: 'user', content: 'hello' }];

/// Awaits `promise`, which must reject with an instance of `cls`; returns the error.
async function rejectsWith(promise, cls) {
  let err = null;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${cls.name}, but the call succeeded`);
  assert.ok(err instanceof cls, `expected ${cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  return err;
}

/// The OpenAI error body fields the SDK exposes on APIError.
function assertOpenAiErrorShape(err) {
  assert.ok(err.error && typeof err.error === 'object', `no error body: ${err.message}`);
  assert.equal(typeof err.error.message, 'string');
  assert.ok(err.error.message.length > 0);
  assert.equal(typeof err.error.type, 'string');
  assert.ok('param' in err.error, 'error.param missing');
  assert.ok('code' in err.error, 'error.code missing');
}

async function drain(stream) {
  let text = '';
  for await (const chunk of stream) text += chunk.choices?.[0]?.delta?.content ?? '';
  return text;
}

test('a wrong gateway key is an AuthenticationError (401)', async () => {
  const client = stack.openai({ apiKey: 'not-the-key' });
  const err = await rejectsWith(client.chat.completions.create({ model: 'mock/echo', messages: HELLO }), OpenAI.AuthenticationError);
  assert.equal(err.status, 401);
  assertOpenAiErrorShape(err);
  // The provider key must never show up in an error.
  assert.ok(!JSON.stringify(err.error).includes('sk-fake-upstream-key'));
});

test('models.list() with a wrong key is also a 401', async () => {
  const err = await rejectsWith(stack.openai({ apiKey: 'nope' }).models.list(), OpenAI.AuthenticationError);
  assert.equal(err.status, 401);
});

test('an unknown provider is a NotFoundError (404) with code model_not_found', async () => {
  const client = stack.openai();
  const err = await rejectsWith(
    client.chat.completions.create({ model: 'nosuchprovider/some-model', messages: HELLO }),
    OpenAI.NotFoundError,
  );
  assert.equal(err.status, 404);
  assert.equal(err.code, 'model_not_found');
  assertOpenAiErrorShape(err);
  assert.ok(err.headers.get('x-request-id'), 'x-request-id missing on an error');
});

test('a request without messages is a BadRequestError (400)', async () => {
  const client = stack.openai();
  const err = await rejectsWith(client.chat.completions.create({ model: 'mock/echo' }), OpenAI.BadRequestError);
  assert.equal(err.status, 400);
  assertOpenAiErrorShape(err);
  assert.match(err.error.message, /messages/i);
});

test('a body that is not JSON is a 400 in the OpenAI error shape', async () => {
  const r = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' },
    body: '{"model": "mock/echo", "messages": [',
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(typeof body.error?.message, 'string');
  assert.equal(typeof body.error?.type, 'string');
});

test('an upstream 429 is a RateLimitError (429) with the upstream message', async () => {
  const client = stack.openai({ maxRetries: 0 });
  const err = await rejectsWith(
    client.chat.completions.create({ model: 'openai/fault-429', messages: HELLO }),
    OpenAI.RateLimitError,
  );
  assert.equal(err.status, 429);
  assertOpenAiErrorShape(err);
  assert.match(err.error.message, /Rate limit reached for requests \(fake-upstream\)/);
});

test('an upstream 500 is an InternalServerError with the upstream message', async () => {
  const client = stack.openai({ maxRetries: 0 });
  const err = await rejectsWith(
    client.chat.completions.create({ model: 'openai/fault-500', messages: HELLO }),
    OpenAI.InternalServerError,
  );
  assert.equal(err.status, 500);
  assertOpenAiErrorShape(err);
  assert.match(err.error.message, /The server had an error while processing your request/);
});

test('a streamed upstream 500 (before any byte) fails the create() call itself', async () => {
  const client = stack.openai({ maxRetries: 0 });
  const err = await rejectsWith(
    // Its own model name: the non-stream 500s above may have opened openai/fault-500's circuit.
    (async () => drain(await client.chat.completions.create({ model: 'openai/stream-fault-500', messages: HELLO, stream: true })))(),
    OpenAI.APIError,
  );
  assert.equal(err.status, 500);
});

test('a stream whose upstream is cut mid-way makes the SDK throw while iterating', async () => {
  const client = stack.openai();
  const stream = await client.chat.completions.create({
    model: 'openai/fault-cut',
    messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }],
    stream: true,
  });
  let text = '';
  let err = null;
  try {
    for await (const chunk of stream) text += chunk.choices?.[0]?.delta?.content ?? '';
  } catch (e) {
    err = e;
  }
  assert.ok(err, `the stream ended normally after a cut upstream; text so far: ${JSON.stringify(text)}`);
  assert.ok(err instanceof OpenAI.OpenAIError, `unexpected error type ${err.constructor.name}: ${err.message}`);
  assert.ok(text.startsWith('Echo:'), `the frames before the cut are delivered, got ${JSON.stringify(text)}`);
});

test('a non-stream answer cut mid-body is a 5xx APIError, not a hang', async () => {
  const client = stack.openai({ maxRetries: 0 });
  const err = await rejectsWith(
    client.chat.completions.create({ model: 'openai/fault-cut', messages: HELLO }),
    OpenAI.APIError,
  );
  assert.ok(err.status >= 500 && err.status < 600, `status ${err.status}`);
  assertOpenAiErrorShape(err);
});

test('an error event in the upstream stream makes the SDK throw with the upstream message', async () => {
  // Before any content the stream is still held back, so the error comes as the HTTP answer.
  const client = stack.openai({ maxRetries: 0 });
  let err = null;
  try {
    await drain(await client.chat.completions.create({ model: 'openai/fault-stream-error', messages: HELLO, stream: true }));
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'the stream ended normally despite the upstream error event');
  assert.ok(err instanceof OpenAI.APIError, `${err.constructor.name}: ${err.message}`);
  assert.match(err.message, /The server had an error while processing your request/);
});

test('a malformed upstream stream frame makes the SDK throw, not end quietly', async () => {
  const client = stack.openai({ maxRetries: 0 });
  await assert.rejects(
    (async () => drain(await client.chat.completions.create({ model: 'openai/fault-malformed', messages: HELLO, stream: true })))(),
    (e) => e instanceof Error,
  );
});

test('a stream that fails before its first content falls back, and the SDK sees one normal stream', async () => {
  const client = stack.openai({ defaultHeaders: { 'x-aigw-fallback': 'anthropic/claude-haiku-4-5' } });
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'openai/gpt-4o-fault-stream-error', messages: HELLO, stream: true })
    .withResponse();
  assert.equal(response.headers.get('x-aigw-model'), 'anthropic/claude-haiku-4-5');
  assert.match(response.headers.get('x-aigw-fallback-reason'), /fallback/);
  assert.equal(await drain(stream), 'Echo: hello');
});

test('a stream cut after its first content makes the SDK throw instead of returning half an answer', async () => {
  const client = stack.openai({ defaultHeaders: { 'x-aigw-fallback': 'anthropic/claude-haiku-4-5' } });
  const stream = await client.chat.completions.create({ model: 'openai/gpt-4o-long-fault-cut', messages: HELLO, stream: true });
  await assert.rejects(drain(stream), (e) => e instanceof OpenAI.APIError && /incomplete/.test(e.message));
});

test('the SDK timeout fires on a slow upstream, and the daemon is fine afterwards', async () => {
  const client = stack.openai({ timeout: 300, maxRetries: 0 });
  await rejectsWith(
    client.chat.completions.create({ model: 'openai/fault-slow', messages: HELLO }),
    OpenAI.APIConnectionTimeoutError,
  );
  const ok = await stack.openai().chat.completions.create({ model: 'mock/echo', messages: HELLO });
  assert.equal(contentOf(ok), 'Mock answer from mock/echo: hello');
});

test('the daemon still serves normal requests after all the faults', async () => {
  assert.ok(stack.alive(), 'aigwd is no longer running');
  const client = stack.openai();
  const res = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] });
  assert.equal(contentOf(res), 'Echo: still there?');
  const streamed = await drain(await client.chat.completions.create({
    model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }], stream: true,
  }));
  assert.equal(streamed, 'Echo: still there?');
  const health = await fetch(`${stack.origin}/health`);
  assert.equal(health.status, 200);
});

test('the SDK retries a counted upstream 500 (maxRetries: 2) and succeeds', async (t) => {
  await stack.fakeControl('DELETE', '/_control/faults');
  await stack.fakeControl('DELETE', '/_control/requests');
  await stack.fakeControl('POST', '/_control/faults', {
    kind: '500', count: 1, path_contains: 'chat/completions', model_contains: 'gpt-4o-mini',
  });
  // Count what the SDK itself sends to the daemon.
  const statuses = [];
  const countingFetch = async (url, init) => {
    const r = await fetch(url, init);
    statuses.push(r.status);
    return r;
  };
  const client = stack.openai({ maxRetries: 2, fetch: countingFetch });
  const { data, response } = await client.chat.completions
    .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'retry me' }] })
    .withResponse();
  assert.equal(contentOf(data), 'Echo: retry me');

  const upstream = (await stack.fakeControl('GET', '/_control/requests')).filter((r) => r.path.endsWith('/chat/completions'));
  assert.equal(upstream.length, 2, 'the upstream saw the failed attempt and the retry');
  const rules = (await stack.fakeControl('GET', '/_control/faults')).faults;
  assert.equal(rules.length, 0, `the counted fault was not used up: ${JSON.stringify(rules)}`);
  t.diagnostic(`statuses the SDK saw: ${statuses.join(', ')}`);
  if (statuses.length === 2) {
    // The SDK retried: it saw the 500 first (so the daemon did not tell it not to retry).
    assert.deepEqual(statuses, [500, 200]);
  } else {
    // The daemon retried by itself; then it must say so.
    assert.deepEqual(statuses, [200]);
    assert.ok(Number(response.headers.get('x-aigw-attempts')) >= 2, 'daemon retried without x-aigw-attempts');
  }
});
