// The Anthropic surface (POST /v1/messages) through the official @anthropic-ai/sdk.
// Every test is skipped, with the reason, while the daemon does not serve /v1/messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

import { GATEWAY_KEY, useGatewayStack, WEATHER_TOOL } from './helpers.mjs';

let notServed = null; // the skip reason when /v1/messages is missing
const stack = useGatewayStack({ onReady: probeMessages });

async function probeMessages() {
  const r = await fetch(`${stack.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': GATEWAY_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock/echo', max_tokens: 16, messages: [{ role: 'user', content: 'probe' }] }),
  });
  const text = await r.text();
  if (r.status === 404 && /unknown route/i.test(text)) {
    notServed = `aigwd does not serve POST /v1/messages yet (404 "Unknown route")`;
  }
}

function anthropic(opts = {}) {
  return new Anthropic({ apiKey: GATEWAY_KEY, baseURL: stack.origin, maxRetries: 0, timeout: 30000, ...opts });
}

/// test() that skips with the reason while the surface is missing.
function messagesTest(name, fn) {
  test(name, async (t) => {
    if (notServed) {
      t.skip(notServed);
      return;
    }
    await fn(t);
  });
}

const WEATHER_TOOL_ANTHROPIC = {
  name: WEATHER_TOOL.function.name,
  description: WEATHER_TOOL.function.description,
  input_schema: WEATHER_TOOL.function.parameters,
};

messagesTest('messages.create() to mock/echo answers in Anthropic shape with gateway headers', async () => {
  const { data: msg, response } = await anthropic()
    .messages.create({ model: 'mock/echo', max_tokens: 256, messages: [{ role: 'user', content: 'hi anthropic' }] })
    .withResponse();
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, 'Mock answer from mock/echo: hi anthropic');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
  assert.equal(response.headers.get('x-aigw-provider'), 'mock');
  assert.ok(response.headers.get('x-request-id'));
  assert.ok(Number(response.headers.get('x-aigw-cost-usd')) >= 0);
});

for (const model of ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o-mini']) {
  messagesTest(`messages.create() to ${model} via the fake upstream`, async () => {
    const { data: msg, response } = await anthropic()
      .messages.create({ model, max_tokens: 256, system: 'be brief', messages: [{ role: 'user', content: 'hello there world' }] })
      .withResponse();
    assert.equal(msg.content[0].text, 'Echo: hello there world');
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.usage.output_tokens, 4);
    assert.equal(msg.usage.input_tokens, 8);
    assert.equal(response.headers.get('x-aigw-provider'), model.split('/')[0]);
    assert.ok(Number(response.headers.get('x-aigw-cost-usd')) > 0, 'priced model, cost must be > 0');
  });

  messagesTest(`messages.stream() from ${model}: the text equals the non-stream answer`, async () => {
    const client = anthropic();
    const params = { model, max_tokens: 256, messages: [{ role: 'user', content: 'stream these words please' }] };
    const plain = await client.messages.create(params);
    const stream = client.messages.stream(params);
    let deltas = 0;
    stream.on('text', () => deltas++);
    const final = await stream.finalMessage();
    assert.equal(final.content[0].text, plain.content[0].text);
    assert.ok(deltas >= 2, `${deltas} text deltas`);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, plain.usage.output_tokens);
  });

  messagesTest(`tools through ${model}: a weather prompt returns a tool_use block`, async () => {
    const client = anthropic();
    const params = {
      model, max_tokens: 256, tools: [WEATHER_TOOL_ANTHROPIC],
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    };
    const msg = await client.messages.create(params);
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    assert.ok(use, JSON.stringify(msg.content));
    assert.equal(use.name, 'get_weather');
    assert.equal(typeof use.input.city, 'string');
    const streamed = await client.messages.stream(params).finalMessage();
    const suse = streamed.content.find((b) => b.type === 'tool_use');
    assert.ok(suse, JSON.stringify(streamed.content));
    assert.deepEqual(suse.input, use.input);
  });
}

messagesTest('a wrong x-api-key is an AuthenticationError (401) in Anthropic shape', async () => {
  let err = null;
  try {
    await anthropic({ apiKey: 'wrong' }).messages.create({ model: 'mock/echo', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Anthropic.AuthenticationError, `${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 401);
  assert.equal(err.error?.type, 'error');
  assert.equal(typeof err.error?.error?.message, 'string');
});

messagesTest('an unknown provider is a NotFoundError (404) in Anthropic shape', async () => {
  let err = null;
  try {
    await anthropic().messages.create({ model: 'nosuchprovider/x', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Anthropic.NotFoundError, `${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.error?.type, 'error');
});

messagesTest('an upstream 429 is a RateLimitError through the Anthropic surface', async () => {
  let err = null;
  try {
    await anthropic().messages.create({ model: 'anthropic/fault-429', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
  assert.match(err.error?.error?.message ?? '', /rate limit/i);
});
