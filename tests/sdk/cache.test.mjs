// The response cache through the official SDKs: a cached answer, plain or replayed as a
// stream, must parse exactly like a live one. The daemon runs without a config (cache off
// by default), so each request opts in with `x-aigw-cache: on`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

import { contentOf, GATEWAY_KEY, gatewayHeaders, useGatewayStack, WEATHER_TOOL } from './helpers.mjs';

const stack = useGatewayStack();
const CACHE_ON = { headers: { 'x-aigw-cache': 'on' } };

/// Chat requests the fake upstream has received so far.
async function upstreamChats() {
  return (await stack.upstreamRequests()).filter((r) => r.path.includes('/chat/completions')).length;
}

/// Reads an SDK stream: text, tool calls merged by index, finish reason, usage, chunk count.
async function collect(stream) {
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  const calls = [];
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta ?? {};
      if (typeof d.content === 'string') text += d.content;
      for (const tc of d.tool_calls ?? []) {
        const acc = (calls[tc.index] ??= { id: '', name: '', arguments: '' });
        if (tc.id) acc.id = tc.id;
        if (tc.function?.name) acc.name += tc.function.name;
        if (tc.function?.arguments) acc.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, finish, usage, chunks, calls };
}

test('a non-stream cache hit parses like the original answer, costs 0 and says HIT', async () => {
  const client = stack.openai();
  const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'cache this for the sdk' }] };
  const before = await upstreamChats();
  const first = await client.chat.completions.create(body, CACHE_ON).withResponse();
  const second = await client.chat.completions.create(body, CACHE_ON).withResponse();
  assert.equal(gatewayHeaders(first.response.headers).cache, 'MISS');
  const h = gatewayHeaders(second.response.headers);
  assert.equal(h.cache, 'HIT');
  assert.equal(h.cost, 0);
  assert.match(second.response.headers.get('x-aigw-cache-age'), /^\d+$/);
  assert.deepEqual(second.data, first.data);
  assert.equal(contentOf(second.data), 'Echo: cache this for the sdk');
  assert.equal(await upstreamChats(), before + 1, 'the hit did not reach the upstream');
});

test('a cached answer replayed as a stream parses with the openai SDK, usage chunk included', async () => {
  const client = stack.openai();
  const body = {
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'stream me from the cache' }],
    stream: true,
    stream_options: { include_usage: true },
  };
  const before = await upstreamChats();
  const live = await collect(await client.chat.completions.create(body, CACHE_ON));
  const { data: stream, response } = await client.chat.completions.create(body, CACHE_ON).withResponse();
  assert.equal(response.headers.get('x-aigw-cache'), 'HIT');
  const replay = await collect(stream);
  assert.equal(replay.text, live.text);
  assert.equal(replay.text, 'Echo: stream me from the cache');
  assert.equal(replay.finish, 'stop');
  assert.deepEqual(replay.usage, live.usage);
  assert.ok(replay.chunks >= 3, `only ${replay.chunks} chunks`);
  assert.equal(await upstreamChats(), before + 1);

  // The SDK's stream() helper assembles the replay into a final completion.
  const helper = client.chat.completions.stream(body, CACHE_ON);
  const final = await helper.finalChatCompletion();
  assert.equal(final.choices[0].message.content, live.text);
  assert.equal(final.choices[0].finish_reason, 'stop');

  // A non-stream request for the same question is served from the streamed answer.
  const { stream: _s, stream_options: _o, ...plain } = body;
  const whole = await client.chat.completions.create(plain, CACHE_ON).withResponse();
  assert.equal(whole.response.headers.get('x-aigw-cache'), 'HIT');
  assert.equal(contentOf(whole.data), live.text);
  assert.equal(await upstreamChats(), before + 1);
});

test('a streamed tool call replays with its index, id, name and arguments', async () => {
  const client = stack.openai();
  const body = {
    model: 'openai/gpt-4o-mini',
    messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    tools: [WEATHER_TOOL],
    stream: true,
  };
  const live = await collect(await client.chat.completions.create(body, CACHE_ON));
  const { data: stream, response } = await client.chat.completions.create(body, CACHE_ON).withResponse();
  assert.equal(response.headers.get('x-aigw-cache'), 'HIT');
  const replay = await collect(stream);
  assert.equal(replay.finish, 'tool_calls');
  assert.equal(replay.calls.length, 1);
  assert.deepEqual(replay.calls, live.calls);
  assert.equal(replay.calls[0].name, 'get_weather');
  assert.deepEqual(JSON.parse(replay.calls[0].arguments), { city: 'Paris' });
});

test('the Anthropic SDK reads a cached answer, plain and streamed, from a translated model', async () => {
  const client = new Anthropic({ apiKey: GATEWAY_KEY, baseURL: stack.origin, maxRetries: 0, timeout: 30000 });
  const body = { model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'anthropic from cache' }] };
  const before = await upstreamChats();
  const first = await client.messages.create(body, CACHE_ON);
  const { data: second, response } = await client.messages.create(body, CACHE_ON).withResponse();
  assert.equal(response.headers.get('x-aigw-cache'), 'HIT');
  assert.equal(second.content[0].text, first.content[0].text);
  assert.equal(second.content[0].text, 'Echo: anthropic from cache');
  const streamed = await client.messages.stream(body, CACHE_ON).finalMessage();
  assert.equal(streamed.content[0].text, first.content[0].text);
  assert.equal(streamed.stop_reason, first.stop_reason);
  assert.equal(await upstreamChats(), before + 1);
});

/// Responses requests the fake upstream has received (native /responses or translated /messages).
async function upstreamResponses() {
  return (await stack.upstreamRequests()).filter((r) => /\/responses$|\/v1\/messages$/.test(r.path)).length;
}

for (const model of ['openai/gpt-4o-mini', 'azure/my-gpt4o-mini', 'anthropic/claude-haiku-4-5']) {
  test(`/v1/responses on ${model}: a hit is a new stored response, plain and replayed as the event stream`, async () => {
    const client = stack.openai();
    const body = { model, instructions: 'be brief', input: `responses cache for ${model}` };
    const before = await upstreamResponses();
    const first = await client.responses.create(body, CACHE_ON).withResponse();
    assert.equal(gatewayHeaders(first.response.headers).cache, 'MISS');
    const second = await client.responses.create(body, CACHE_ON).withResponse();
    const h = gatewayHeaders(second.response.headers);
    assert.equal(h.cache, 'HIT');
    assert.equal(h.cost, 0);
    assert.notEqual(second.data.id, first.data.id, 'a hit is a response of its own');
    assert.equal(second.data.output_text, first.data.output_text);
    assert.match(second.data.output_text, /responses cache for/);
    assert.deepEqual(second.data.usage, first.data.usage);
    assert.equal(await upstreamResponses(), before + 1, 'the hit did not reach the upstream');

    // Streamed: the documented events, sequence numbers from 0, parsed by the SDK.
    const { data: stream, response } = await client.responses.create({ ...body, stream: true }, CACHE_ON).withResponse();
    assert.equal(response.headers.get('x-aigw-cache'), 'HIT');
    const types = [];
    const seqs = [];
    let text = '';
    let completed = null;
    for await (const ev of stream) {
      types.push(ev.type);
      seqs.push(ev.sequence_number);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    assert.equal(types[0], 'response.created');
    for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done',
      'response.output_item.done']) {
      assert.ok(types.includes(t), `${t} missing from ${types.join(' ')}`);
    }
    assert.equal(text, first.data.output_text);
    assert.ok(completed && completed.id !== first.data.id && completed.id !== second.data.id);
    const helper = await client.responses.stream(body, CACHE_ON).finalResponse();
    assert.equal(helper.output_text, first.data.output_text);
    assert.equal(await upstreamResponses(), before + 1);

    // The hit was stored: retrieve it, and previous_response_id continues from it.
    assert.equal((await client.responses.retrieve(second.data.id)).output_text, first.data.output_text);
    const next = await client.responses.create({ model, input: 'and after the cache?', previous_response_id: second.data.id });
    assert.equal(next.status, 'completed');
    assert.equal(await upstreamResponses(), before + 2);
  });
}

test('/v1/responses: a different input, or x-aigw-cache off, is never answered from the cache', async () => {
  const client = stack.openai();
  const body = { model: 'openai/gpt-4o-mini', input: 'responses cache miss check' };
  await client.responses.create(body, CACHE_ON);
  const other = await client.responses.create({ ...body, input: 'responses cache miss check, reworded' }, CACHE_ON).withResponse();
  assert.equal(other.response.headers.get('x-aigw-cache'), 'MISS');
  const off = await client.responses.create(body, { headers: { 'x-aigw-cache': 'off' } }).withResponse();
  assert.equal(off.response.headers.get('x-aigw-cache'), 'MISS');
  // metadata and store say how to deliver, not what to answer: still a hit.
  const hit = await client.responses.create({ ...body, metadata: { run: '2' }, store: false }, CACHE_ON).withResponse();
  assert.equal(hit.response.headers.get('x-aigw-cache'), 'HIT');
  assert.deepEqual(hit.data.metadata, { run: '2' });
  assert.equal(hit.data.store, false);
});
