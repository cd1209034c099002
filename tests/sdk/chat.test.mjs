// Chat completions through the official openai SDK: plain, streamed, and with tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { contentOf, gatewayHeaders, useGatewayStack, WEATHER_TOOL } from './helpers.mjs';

const stack = useGatewayStack();

const PROMPT = 'Say hello to the gateway tests please';

function assertUsage(usage, where) {
  assert.ok(usage, `${where}: usage missing`);
  assert.ok(Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens > 0, `${where}: prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(Number.isInteger(usage.completion_tokens) && usage.completion_tokens > 0,
    `${where}: completion_tokens ${usage.completion_tokens}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${where}: total_tokens`);
}

function assertGatewayHeaders(headers, provider, modelName) {
  const h = gatewayHeaders(headers);
  assert.ok(h.requestId && h.requestId.length > 0, 'x-request-id missing');
  // One header, one id: a repeated header reaches the SDK joined as "id, id".
  assert.match(h.requestId, /^[A-Za-z0-9_.:-]+$/, `x-request-id is ${JSON.stringify(h.requestId)}`);
  assert.equal(h.provider, provider, 'x-aigw-provider');
  assert.ok(h.model && (h.model === modelName || h.model.endsWith(`/${modelName}`)),
    `x-aigw-model is ${h.model}, expected ${modelName}`);
  assert.ok(h.costRaw !== null, 'x-aigw-cost-usd missing');
  assert.ok(Number.isFinite(h.cost) && h.cost >= 0, `x-aigw-cost-usd not a number >= 0: ${h.costRaw}`);
  return h;
}

/// Collects a streamed completion: text, chunks, tool calls accumulated by index.
async function collect(stream) {
  const chunks = [];
  let text = '';
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta ?? {};
      if (typeof d.content === 'string') text += d.content;
      for (const tc of d.tool_calls ?? []) {
        assert.ok(Number.isInteger(tc.index), `tool_call delta without index: ${JSON.stringify(tc)}`);
        const acc = (calls[tc.index] ??= { id: '', name: '', arguments: '' });
        if (tc.id) acc.id = tc.id;
        if (tc.function?.name) acc.name += tc.function.name;
        if (tc.function?.arguments) acc.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { chunks, text, calls, finish };
}

test('non-stream chat to mock/echo echoes the prompt with usage and gateway headers', async () => {
  const client = stack.openai();
  const { data, response } = await client.chat.completions
    .create({ model: 'mock/echo', messages: [{ role: 'user', content: PROMPT }] })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.equal(contentOf(data), `Mock answer from mock/echo: ${PROMPT}`);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assertUsage(data.usage, 'mock/echo');
  assertGatewayHeaders(response.headers, 'mock', 'echo');
});

test('non-stream chat to openai/gpt-4o-mini goes through the fake upstream and is priced', async () => {
  const client = stack.openai();
  const { data, response } = await client.chat.completions
    .create({
      model: 'openai/gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: PROMPT },
      ],
    })
    .withResponse();
  assert.equal(contentOf(data), `Echo: ${PROMPT}`);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assertUsage(data.usage, 'openai/gpt-4o-mini');
  const h = assertGatewayHeaders(response.headers, 'openai', 'gpt-4o-mini');
  assert.ok(h.cost > 0, `gpt-4o-mini is priced, cost must be > 0, got ${h.costRaw}`);

  // The upstream saw the provider's model name and key, not the gateway's.
  const seen = (await stack.fakeControl('GET', '/_control/requests')).filter((r) => r.path.endsWith('/chat/completions'));
  const last = JSON.parse(seen.at(-1).body);
  assert.equal(last.model, 'gpt-4o-mini');
  assert.equal(seen.at(-1).headers.authorization, 'Bearer sk-fake-upstream-key');
});

test('asResponse() gives the raw response with the gateway headers and an OpenAI body', async () => {
  const client = stack.openai();
  const raw = await client.chat.completions
    .create({ model: 'mock/echo', messages: [{ role: 'user', content: 'raw please' }] })
    .asResponse();
  assert.equal(raw.status, 200);
  assert.match(raw.headers.get('content-type') ?? '', /application\/json/);
  assertGatewayHeaders(raw.headers, 'mock', 'echo');
  const body = await raw.json();
  assert.equal(body.choices[0].message.content, 'Mock answer from mock/echo: raw please');
});

for (const model of ['mock/echo', 'openai/gpt-4o-mini']) {
  test(`stream from ${model}: deltas join to the non-stream content; no usage unless asked`, async () => {
    const client = stack.openai();
    const messages = [{ role: 'user', content: `${PROMPT} in pieces` }];
    const plain = await client.chat.completions.create({ model, messages });

    const { data: stream, response } = await client.chat.completions
      .create({ model, messages, stream: true })
      .withResponse();
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.ok(response.headers.get('x-request-id'), 'stream: x-request-id missing');
    assert.ok(response.headers.get('x-aigw-provider'), 'stream: x-aigw-provider missing');
    const got = await collect(stream);
    assert.ok(got.chunks.length >= 3, `only ${got.chunks.length} chunks`);
    assert.equal(got.text, contentOf(plain));
    assert.equal(got.finish, 'stop');
    for (const c of got.chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.ok(c.id, 'chunk without id');
      assert.ok(c.usage === undefined || c.usage === null, `usage sent without include_usage: ${JSON.stringify(c)}`);
    }
    // All chunks of one stream share one id.
    assert.equal(new Set(got.chunks.map((c) => c.id)).size, 1);
  });

  test(`stream from ${model} with include_usage: the last chunk carries usage`, async () => {
    const client = stack.openai();
    const messages = [{ role: 'user', content: `${PROMPT} with usage` }];
    const got = await collect(
      await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } }),
    );
    const last = got.chunks.at(-1);
    assertUsage(last.usage, `${model} last chunk`);
    assert.deepEqual(last.choices, [], 'the usage chunk has an empty choices array');
    for (const c of got.chunks.slice(0, -1)) {
      assert.ok(c.usage === undefined || c.usage === null, `usage before the last chunk: ${JSON.stringify(c)}`);
    }
    const plain = await client.chat.completions.create({ model, messages });
    assert.equal(got.text, contentOf(plain));
    assert.equal(last.usage.completion_tokens, plain.usage.completion_tokens);
    assert.equal(last.usage.prompt_tokens, plain.usage.prompt_tokens);
  });
}

test('tools: a weather prompt to openai/gpt-4o-mini returns a tool call', async () => {
  const client = stack.openai();
  const res = await client.chat.completions.create({
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'What is the weather in Paris today?' }],
    tools: [WEATHER_TOOL],
  });
  const choice = res.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls?.length, 1, JSON.stringify(choice.message));
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(call.id, 'tool call id missing');
  assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.ok(args.city.length > 0);
  // The tool definition reached the upstream intact.
  const seen = (await stack.fakeControl('GET', '/_control/requests')).filter((r) => r.path.endsWith('/chat/completions'));
  assert.deepEqual(JSON.parse(seen.at(-1).body).tools, [WEATHER_TOOL]);
});

test('tools streamed: argument deltas accumulate to the same JSON as the non-stream call', async () => {
  const client = stack.openai();
  const req = {
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'Weather in Oslo, please' }],
    tools: [WEATHER_TOOL],
  };
  const plain = await client.chat.completions.create(req);
  const plainArgs = JSON.parse(plain.choices[0].message.tool_calls[0].function.arguments);

  const got = await collect(await client.chat.completions.create({ ...req, stream: true }));
  assert.equal(got.finish, 'tool_calls');
  assert.equal(got.calls.length, 1, JSON.stringify(got.calls));
  assert.equal(got.calls[0].name, 'get_weather');
  assert.ok(got.calls[0].id, 'streamed tool call id missing');
  assert.deepEqual(JSON.parse(got.calls[0].arguments), plainArgs);
});

test('tools on mock/echo: streamed via the SDK stream helper, finalChatCompletion() has the call', async () => {
  const client = stack.openai();
  const prompt = 'please call get_weather for Rome';
  const runner = client.chat.completions.stream({
    model: 'mock/echo',
    messages: [{ role: 'user', content: prompt }],
    tools: [WEATHER_TOOL],
  });
  let argDeltas = 0;
  runner.on('tool_calls.function.arguments.delta', () => argDeltas++);
  const final = await runner.finalChatCompletion();
  const call = final.choices[0].message.tool_calls?.[0];
  assert.ok(call, JSON.stringify(final.choices[0]));
  assert.equal(call.function.name, 'get_weather');
  // The arguments fit the tool's schema: the prompt in its first free-form string, enums' first value.
  assert.deepEqual(JSON.parse(call.function.arguments), { city: prompt, unit: 'celsius' });
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.ok(argDeltas > 1, `arguments came in ${argDeltas} deltas`);
});

test('the SDK stream helper assembles plain text from openai/gpt-4o-mini', async () => {
  const client = stack.openai();
  const runner = client.chat.completions.stream({
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'one two three four five' }],
    stream_options: { include_usage: true },
  });
  const final = await runner.finalChatCompletion();
  assert.equal(contentOf(final), 'Echo: one two three four five');
  assert.equal(await runner.finalContent(), 'Echo: one two three four five');
  assertUsage(final.usage, 'stream helper');
});
