// The Anthropic surface (POST /v1/messages) through the official @anthropic-ai/sdk.
// Every test is skipped, with the reason, while the daemon does not serve /v1/messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

import { FAKE_KEYS, GATEWAY_KEY, useGatewayStack, WEATHER_TOOL } from './helpers.mjs';

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

for (const model of ['anthropic/claude-sonnet-4-5', 'anthropic/claude-haiku-4-5', 'openai/gpt-4o-mini']) {
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

// ---- Native passthrough, text events, mock/echo, error shapes ----

const textOf = (content) =>
  typeof content === 'string' ? content : (content ?? []).map((p) => p.text ?? '').filter(Boolean).join(' ');

/// Runs `fn` on a clean upstream log; returns [result, requests whose path matches `pathRe`].
async function withUpstream(pathRe, fn) {
  await stack.clearUpstream();
  const result = await fn();
  const reqs = (await stack.upstreamRequests()).filter((r) => pathRe.test(r.path));
  return [result, reqs];
}

messagesTest('native passthrough to anthropic: the body arrives as sent, only model and auth change', async () => {
  const params = {
    model: 'anthropic/claude-haiku-4-5',
    max_tokens: 300,
    system: [{ type: 'text', text: 'be brief', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'pass me through' }] }],
    temperature: 0.3,
    top_k: 7,
    stop_sequences: ['STOP'],
    metadata: { user_id: 'user-123' },
  };
  const [msg, reqs] = await withUpstream(/^\/v1\/messages$/, () =>
    anthropic().messages.create(params, {
      headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31' },
    }),
  );
  assert.equal(msg.content[0].text, 'Echo: pass me through');
  assert.equal(reqs.length, 1);
  const up = reqs[0];
  assert.deepEqual(up.json, { ...params, model: 'claude-haiku-4-5' }, `upstream body: ${up.body}`);
  assert.equal(up.headers['x-api-key'], FAKE_KEYS.anthropic);
  assert.equal(up.headers.authorization, undefined);
  assert.ok(!JSON.stringify(up.headers).includes(GATEWAY_KEY), 'the gateway key never goes upstream');
  assert.equal(up.headers['anthropic-version'], '2023-06-01', "the client's anthropic-version is forwarded");
  assert.equal(up.headers['anthropic-beta'], 'prompt-caching-2024-07-31', 'anthropic-beta is forwarded');
});

for (const model of ['anthropic/claude-haiku-4-5', 'openai/gpt-4o-mini', 'mock/echo']) {
  messagesTest(`messages.stream() text events from ${model} add up to finalMessage()`, async () => {
    const stream = anthropic().messages.stream({
      model,
      max_tokens: 256,
      messages: [{ role: 'user', content: 'count the text events' }],
    });
    let text = '';
    let events = 0;
    const types = [];
    stream.on('text', (delta) => {
      text += delta;
      events++;
    });
    stream.on('streamEvent', (ev) => types.push(ev.type));
    const final = await stream.finalMessage();
    assert.ok(events >= 1, `${events} text events`);
    assert.equal(text, final.content[0].text);
    assert.match(text, /count the text events/);
    assert.equal(types[0], 'message_start', types.join(','));
    assert.equal(types.at(-1), 'message_stop', types.join(','));
    assert.ok(types.includes('content_block_start') && types.includes('content_block_stop') && types.includes('message_delta'), types.join(','));
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0, JSON.stringify(final.usage));
  });
}

messagesTest('translated to openai: the upstream gets an OpenAI chat request', async () => {
  const [msg, reqs] = await withUpstream(/^\/v1\/chat\/completions$/, () =>
    anthropic().messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 100,
      system: 'be brief',
      messages: [{ role: 'user', content: 'translate me' }],
    }),
  );
  assert.equal(msg.content[0].text, 'Echo: translate me');
  assert.equal(reqs.length, 1);
  const up = reqs[0].json;
  assert.equal(reqs[0].headers.authorization, `Bearer ${FAKE_KEYS.openai}`);
  assert.equal(up.model, 'gpt-4o-mini');
  assert.equal(up.messages[0].role, 'system');
  assert.equal(textOf(up.messages[0].content), 'be brief');
  assert.equal(textOf(up.messages.at(-1).content), 'translate me');
  assert.equal(up.max_completion_tokens ?? up.max_tokens, 100, JSON.stringify(up));
});

messagesTest('mock/echo through /v1/messages: create, stream and a tool call', async () => {
  const client = anthropic();
  const msg = await client.messages.create({
    model: 'mock/echo',
    max_tokens: 64,
    tools: [WEATHER_TOOL_ANTHROPIC],
    messages: [{ role: 'user', content: 'please call get_weather for Paris' }],
  });
  assert.equal(msg.stop_reason, 'tool_use', JSON.stringify(msg));
  const use = msg.content.find((b) => b.type === 'tool_use');
  assert.equal(use?.name, 'get_weather');
  assert.equal(typeof use.input, 'object');
  assert.ok(use.id);
  const streamed = await client.messages
    .stream({
      model: 'mock/echo',
      max_tokens: 64,
      tools: [WEATHER_TOOL_ANTHROPIC],
      messages: [{ role: 'user', content: 'please call get_weather for Paris' }],
    })
    .finalMessage();
  const suse = streamed.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(suse?.input, use.input, JSON.stringify(streamed.content));
  assert.equal(streamed.stop_reason, 'tool_use');
});

for (const model of ['anthropic/claude-haiku-4-5', 'openai/gpt-4o-mini']) {
  messagesTest(`streamed tool use from ${model}: input_json deltas build the input`, async () => {
    const stream = anthropic().messages.stream({
      model,
      max_tokens: 256,
      tools: [WEATHER_TOOL_ANTHROPIC],
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    });
    let json = '';
    stream.on('inputJson', (partial) => {
      json += partial;
    });
    const final = await stream.finalMessage();
    const use = final.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(use?.input, { city: 'Paris' }, JSON.stringify(final.content));
    assert.deepEqual(JSON.parse(json), { city: 'Paris' });
    assert.equal(final.stop_reason, 'tool_use');
  });
}

messagesTest('errors carry the Anthropic error types', async () => {
  const attempt = async (client, model) => {
    try {
      await client.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'x' }] });
    } catch (e) {
      return e;
    }
    return null;
  };
  const auth = await attempt(anthropic({ apiKey: 'wrong' }), 'anthropic/claude-haiku-4-5');
  assert.ok(auth instanceof Anthropic.AuthenticationError, `${auth?.constructor?.name}: ${auth?.message}`);
  assert.equal(auth.error?.error?.type, 'authentication_error', JSON.stringify(auth.error));

  const unknown = await attempt(anthropic(), 'no-such-model-xyz');
  assert.ok(unknown instanceof Anthropic.NotFoundError, `${unknown?.constructor?.name}: ${unknown?.message}`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.error?.type, 'error', JSON.stringify(unknown.error));
  assert.equal(unknown.error?.error?.type, 'not_found_error', JSON.stringify(unknown.error));
  assert.equal(typeof unknown.error?.error?.message, 'string');
});

for (const model of ['gemini/gemini-2.5-flash', 'azure/my-dep', 'cohere/command-r-08-2024', 'bedrock/anthropic.claude-3-haiku-20240307-v1:0']) {
  messagesTest(`/v1/messages translated to ${model}: create, stream and a tool call`, async () => {
    const client = anthropic();
    const params = { model, max_tokens: 200, system: 'be brief', messages: [{ role: 'user', content: 'hello there world' }] };
    const msg = await client.messages.create(params);
    assert.equal(msg.type, 'message');
    assert.equal(msg.content[0].text, 'Echo: hello there world');
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.usage.input_tokens, 8, JSON.stringify(msg.usage));
    assert.equal(msg.usage.output_tokens, 4, JSON.stringify(msg.usage));
    const final = await client.messages.stream(params).finalMessage();
    assert.equal(final.content[0].text, 'Echo: hello there world');
    assert.equal(final.usage.output_tokens, 4, JSON.stringify(final.usage));
    const tool = await client.messages
      .stream({ ...params, tools: [WEATHER_TOOL_ANTHROPIC], messages: [{ role: 'user', content: 'What is the weather in Paris?' }] })
      .finalMessage();
    assert.equal(tool.stop_reason, 'tool_use', JSON.stringify(tool));
    assert.deepEqual(tool.content.find((b) => b.type === 'tool_use')?.input, { city: 'Paris' }, JSON.stringify(tool.content));
  });
}

messagesTest('a native stream that fails before its first content falls back to another provider, in Anthropic\'s shape', async () => {
  const client = anthropic({ defaultHeaders: { 'x-aigw-fallback': 'openai/gpt-4o-mini' } });
  const stream = client.messages.stream({
    model: 'anthropic/claude-haiku-4-5-fault-stream-error',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'hello' }],
  });
  const message = await stream.finalMessage();
  assert.equal(message.content[0].type, 'text');
  assert.equal(message.content[0].text, 'Echo: hello');
  assert.equal(message.stop_reason, 'end_turn');
});

messagesTest('a native stream cut after its first content makes the SDK throw', async () => {
  const client = anthropic({ defaultHeaders: { 'x-aigw-fallback': 'openai/gpt-4o-mini' } });
  const stream = client.messages.stream({
    model: 'anthropic/claude-haiku-4-5-long-fault-cut',
    max_tokens: 512,
    messages: [{ role: 'user', content: 'hello' }],
  });
  await assert.rejects(stream.finalMessage(), (e) => e instanceof Error);
});

// ---- What Claude Code relies on (issue 13) ----

messagesTest('a mid-conversation system message reaches a translated model as a system message, and anthropic as sent', async () => {
  const messages = [
    { role: 'user', content: 'first turn' },
    { role: 'assistant', content: 'ok' },
    { role: 'system', content: 'mid-conversation rule' },
    { role: 'user', content: 'second turn' },
  ];
  const [msg, reqs] = await withUpstream(/^\/v1\/chat\/completions$/, () =>
    anthropic().messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 64, messages }),
  );
  assert.equal(msg.content[0].text, 'Echo: second turn');
  const sys = reqs[0].json.messages.filter((m) => m.role === 'system').map((m) => textOf(m.content));
  assert.deepEqual(sys, ['mid-conversation rule']);

  const [native, nreqs] = await withUpstream(/^\/v1\/messages$/, () =>
    anthropic().messages.create(
      { model: 'anthropic/claude-haiku-4-5', max_tokens: 64, messages },
      { headers: { 'anthropic-beta': 'mid-conversation-system-2026-04-07' } },
    ),
  );
  assert.equal(native.type, 'message');
  assert.deepEqual(nreqs[0].json.messages, messages);
  assert.equal(nreqs[0].headers['anthropic-beta'], 'mid-conversation-system-2026-04-07');

  const mock = await anthropic().messages.create({ model: 'mock/echo', max_tokens: 64, messages });
  assert.match(mock.content[0].text, /second turn/);
});

messagesTest("an unknown role is a 400 in Anthropic's own wording", async () => {
  await assert.rejects(
    anthropic().messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 8, messages: [{ role: 'tool', content: 'x' }] }),
    (e) =>
      e.status === 400 &&
      /^messages: Unexpected role "tool"/.test(e.error?.error?.message) &&
      e.error?.error?.type === 'invalid_request_error',
  );
});

messagesTest('the model is resolved before the body is checked: an unknown model is a 404 whatever else is wrong', async () => {
  await assert.rejects(
    anthropic().messages.create({ model: 'nosuch-model-17', max_tokens: 8, messages: [{ role: 'tool', content: 'x' }] }),
    (e) => e.status === 404 && e.error?.error?.type === 'not_found_error',
  );
});

messagesTest("bare names the catalog does not know go to their family's provider, [1m] suffix and ?beta=true included", async () => {
  // As Claude Code calls it: the beta surface (?beta=true) with a beta header.
  const [msg, reqs] = await withUpstream(/^\/v1\/messages$/, async () => {
    const r = await fetch(`${stack.origin}/v1/messages?beta=true`, {
      method: 'POST',
      headers: {
        'x-api-key': GATEWAY_KEY,
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'context-1m-2025-08-07',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ model: 'claude-opus-9-9[1m]', max_tokens: 32, messages: [{ role: 'user', content: 'family routing' }] }),
    });
    assert.equal(r.status, 200);
    return r.json();
  });
  assert.equal(msg.content[0].text, 'Echo: family routing');
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0].json.model, 'claude-opus-9-9');
  assert.equal(reqs[0].query, 'beta=true', 'the beta surface goes upstream as the client called it');
  assert.match(reqs[0].headers['anthropic-beta'], /context-1m-2025-08-07/);

  const [gpt, greqs] = await withUpstream(/^\/v1\/chat\/completions$/, () =>
    anthropic().messages.create({ model: 'gpt-17-preview', max_tokens: 32, messages: [{ role: 'user', content: 'to openai' }] }),
  );
  assert.equal(gpt.content[0].text, 'Echo: to openai');
  assert.equal(greqs[0].json.model, 'gpt-17-preview');
});

messagesTest('a translated stream reports input tokens in message_start and the real counts in message_delta', async () => {
  const stream = anthropic().messages.stream({
    model: 'openai/gpt-4o-mini',
    max_tokens: 64,
    system: 'a system prompt that has to count as well',
    messages: [{ role: 'user', content: 'count my input tokens please' }],
  });
  let start = null;
  let delta = null;
  stream.on('streamEvent', (ev) => {
    if (ev.type === 'message_start') start = ev.message.usage;
    if (ev.type === 'message_delta') delta = ev.usage;
  });
  await stream.finalMessage();
  assert.ok(start.input_tokens > 0, JSON.stringify(start));
  assert.ok(delta.input_tokens > 0 && delta.output_tokens > 0, JSON.stringify(delta));
});

messagesTest('count_tokens counts tools and system for a translated model', async () => {
  const base = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] };
  const plain = await anthropic().messages.countTokens(base);
  const withSystem = await anthropic().messages.countTokens({ ...base, system: 'x'.repeat(400) });
  const withTools = await anthropic().messages.countTokens({ ...base, tools: [WEATHER_TOOL_ANTHROPIC] });
  assert.ok(plain.input_tokens > 0);
  assert.ok(withSystem.input_tokens >= plain.input_tokens + 90, JSON.stringify([plain, withSystem]));
  assert.ok(withTools.input_tokens > plain.input_tokens, JSON.stringify([plain, withTools]));
});
