// The Responses API (/v1/responses) through the official openai SDK: OpenAI and Azure served
// natively (the body and the stream relayed), Anthropic, Gemini and the mock translated
// through the canonical form, plain and streamed, with tools, and the request each upstream
// received.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FAKE_KEYS, gatewayHeaders, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

const MODELS = [
  { model: 'openai/gpt-4o-mini', provider: 'openai', path: /^\/v1\/responses$/ },
  // Azure deployments are not in the catalog: unpriced.
  { model: 'azure/my-gpt4o-mini', provider: 'azure', path: /^\/openai\/v1\/responses$/, unpriced: true },
  { model: 'anthropic/claude-haiku-4-5', provider: 'anthropic', path: /^\/v1\/messages$/ },
  { model: 'gemini/gemini-2.5-flash', provider: 'gemini', path: /generatecontent/i },
  { model: 'cohere/command-r-08-2024', provider: 'cohere', path: /^\/v2\/chat$/ },
  { model: 'bedrock/anthropic.claude-3-haiku-20240307-v1:0', provider: 'bedrock', path: /\/converse(-stream)?$/, unpriced: true },
];

function assertUsage(usage, where) {
  assert.ok(usage, `${where}: usage missing`);
  assert.ok(Number.isInteger(usage.input_tokens) && usage.input_tokens > 0, `${where}: input_tokens ${usage.input_tokens}`);
  assert.ok(Number.isInteger(usage.output_tokens) && usage.output_tokens > 0, `${where}: output_tokens ${usage.output_tokens}`);
  assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens, `${where}: total_tokens`);
}

for (const { model, provider, path, unpriced } of MODELS) {
  test(`responses.create to ${model}: text, usage, gateway headers, the upstream request`, async () => {
    await stack.clearUpstream();
    const client = stack.openai();
    const { data, response } = await client.responses
      .create({ model, instructions: 'be brief', input: 'hello there world' })
      .withResponse();
    assert.equal(data.object, 'response');
    assert.equal(data.status, 'completed');
    assert.match(data.id, /^resp_/);
    assert.ok(data.output_text.length > 0, JSON.stringify(data.output));
    assertUsage(data.usage, model);
    const h = gatewayHeaders(response.headers);
    assert.equal(h.provider, provider);
    // (the catalog prices every model here but this Bedrock snapshot: its cost is 0, not absent)
    assert.ok(unpriced ? h.cost === 0 : h.cost > 0, `x-aigw-cost-usd ${h.costRaw}`);

    const reqs = (await stack.upstreamRequests()).filter((r) => path.test(r.path));
    assert.equal(reqs.length, 1, JSON.stringify((await stack.upstreamRequests()).map((r) => r.path)));
    const up = reqs[0];
    if (provider === 'openai') {
      // Native: the client's body with only the model changed.
      assert.equal(up.headers.authorization, `Bearer ${FAKE_KEYS.openai}`);
      assert.equal(up.json.model, 'gpt-4o-mini');
      assert.equal(up.json.instructions, 'be brief');
      assert.equal(up.json.input, 'hello there world');
    } else if (provider === 'azure') {
      // Native on Azure's v1 API: api-key auth, the deployment as the model, no api-version.
      assert.equal(up.headers['api-key'], FAKE_KEYS.azure);
      assert.equal(up.headers.authorization, undefined);
      assert.equal(up.query, '');
      assert.deepEqual(up.json, { model: 'my-gpt4o-mini', instructions: 'be brief', input: 'hello there world' });
    } else if (provider === 'anthropic') {
      assert.equal(up.headers['x-api-key'], FAKE_KEYS.anthropic);
      assert.equal(up.json.model, 'claude-haiku-4-5');
      const system = typeof up.json.system === 'string' ? up.json.system : up.json.system?.map((b) => b.text).join('');
      assert.equal(system, 'be brief');
      assert.ok(Number.isInteger(up.json.max_tokens) && up.json.max_tokens > 0, 'max_tokens is required by Anthropic');
    }
  });

  test(`responses.stream from ${model}: the documented event sequence, deltas join to finalResponse()`, async () => {
    const client = stack.openai();
    const stream = client.responses.stream({ model, input: 'Say hello to the responses stream please' });
    const types = [];
    const seqs = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      seqs.push(ev.sequence_number);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    const final = await stream.finalResponse();
    assert.equal(types[0], 'response.created');
    assert.equal(types[1], 'response.in_progress');
    assert.equal(types.at(-1), 'response.completed', types.join(' '));
    for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done',
      'response.content_part.done', 'response.output_item.done']) {
      assert.ok(types.includes(t), `${t} missing from ${types.join(' ')}`);
    }
    assert.deepEqual(seqs, seqs.map((_, i) => i), 'sequence_number counts every event from 0');
    assert.ok(text.length > 0);
    assert.equal(final.output_text, text);
    assertUsage(final.usage, `${model} stream`);
  });

  test(`tools through /v1/responses to ${model}: a function_call item with JSON arguments`, async () => {
    const client = stack.openai();
    const r = await client.responses.create({ model, input: 'What is the weather in Paris?', tools: [WEATHER] });
    const call = r.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(r.output));
    assert.equal(call.name, 'get_weather');
    assert.ok(call.call_id, 'call_id missing');
    assert.equal(typeof JSON.parse(call.arguments), 'object');

    // The tool's result goes back as a function_call_output item; the model answers with it.
    const next = await client.responses.create({
      model,
      tools: [WEATHER],
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny and 21 degrees' },
      ],
    });
    assert.match(next.output_text, /sunny/, JSON.stringify(next.output));
  });
}

/// A request only native passthrough carries as is: a custom tool, include values, a
/// reasoning summary, metadata. The fake answers with its own reasoning item
/// (encrypted_content "fake-encrypted:N"), which the translated path would never produce.
const NATIVE_ONLY = {
  input: 'hello from the azure sdk test',
  reasoning: { effort: 'low', summary: 'auto' },
  include: ['reasoning.encrypted_content'],
  tools: [{ type: 'custom', name: 'apply_patch', description: 'edit files' }],
  metadata: { case: 'azure-native' },
};

test('Azure gets the native Responses body (custom tool, include, reasoning), plain and streamed', async () => {
  const client = stack.openai();
  for (const stream of [false, true]) {
    await stack.clearUpstream();
    const body = { model: 'azure/my-gpt4o-mini', ...NATIVE_ONLY };
    const final = stream
      ? await client.responses.stream(body).finalResponse()
      : await client.responses.create(body);
    assert.equal(final.status, 'completed');
    const reasoning = final.output.find((o) => o.type === 'reasoning');
    assert.ok(reasoning, JSON.stringify(final.output));
    assert.match(reasoning.encrypted_content, /^fake-encrypted:/, 'the upstream\'s own item, relayed');
    assert.match(final.output_text, /hello from the azure sdk test/);

    const ups = await stack.upstreamRequests();
    assert.ok(!ups.some((r) => r.path.includes('/chat/completions')), 'not translated to chat');
    const up = ups.filter((r) => r.path === '/openai/v1/responses');
    assert.equal(up.length, 1, JSON.stringify(ups.map((r) => r.path)));
    assert.equal(up[0].headers['api-key'], FAKE_KEYS.azure);
    const expected = { ...body, model: 'my-gpt4o-mini' };
    if (stream) expected.stream = true;
    assert.deepEqual(up[0].json, expected);
  }
});

test('a built-in tool to a provider that cannot run it is a 400 naming the tool type and the provider', async () => {
  const client = stack.openai();
  await stack.clearUpstream();
  for (const type of ['web_search', 'web_search_preview', 'file_search', 'code_interpreter', 'image_generation']) {
    for (const stream of [false, true]) {
      await assert.rejects(
        client.responses.create({ model: 'anthropic/claude-haiku-4-5', input: 'look it up', tools: [{ type }], stream }),
        (e) => e.status === 400 && e.error?.param === 'tools' && e.message.includes(`tool type '${type}'`) &&
          e.message.includes("provider 'anthropic'"),
      );
    }
  }
  assert.equal((await stack.upstreamRequests()).length, 0, 'nothing went upstream with the tool dropped');
});

test('responses from the mock provider, streamed, without any key', async () => {
  const client = stack.openai();
  const stream = client.responses.stream({ model: 'mock/echo', input: 'ping pong' });
  const final = await stream.finalResponse();
  assert.match(final.output_text, /ping pong/);
});

for (const { model, provider, path } of MODELS) {
  test(`previous_response_id continues a stored conversation on ${model}; retrieve, input items, delete`, async () => {
    const client = stack.openai();
    const first = await client.responses.create({ model, input: 'My name is Ada and I like tea' });
    await stack.clearUpstream();
    const second = await client.responses.create({ model, input: 'What is my name', previous_response_id: first.id });
    assert.equal(second.status, 'completed');

    // The upstream got the whole conversation: the first question, its answer, the new one.
    const up = (await stack.upstreamRequests()).filter((r) => path.test(r.path));
    assert.equal(up.length, 1);
    const sent = JSON.stringify(up[0].json);
    assert.ok(sent.includes('My name is Ada and I like tea'), `first turn missing upstream: ${sent}`);
    assert.ok(sent.includes('What is my name'), sent);
    if (provider === 'openai' || provider === 'azure') {
      assert.equal(up[0].json.previous_response_id, undefined, 'a native provider gets the conversation, not our id');
    }

    const got = await client.responses.retrieve(second.id);
    assert.equal(got.id, second.id);
    assert.equal(got.output_text, second.output_text);
    const items = [];
    for await (const item of client.responses.inputItems.list(second.id)) items.push(item);
    assert.equal(items.length, 1, JSON.stringify(items));
    assert.ok(items[0].id, 'input items have ids');
    assert.match(JSON.stringify(items[0].content), /What is my name/);

    await client.responses.delete(second.id);
    await assert.rejects(client.responses.retrieve(second.id), (e) => e.status === 404);
  });
}

test('store: false keeps nothing; an unknown previous_response_id is a 400 naming the field', async () => {
  const client = stack.openai();
  const r = await client.responses.create({ model: 'mock/echo', input: 'forget me', store: false });
  await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
  await assert.rejects(
    client.responses.create({ model: 'mock/echo', input: 'again', previous_response_id: 'resp_unknown' }),
    (e) => e.status === 400 && e.error?.param === 'previous_response_id' && /resp_unknown/.test(e.message),
  );
  assert.ok(stack.alive());
});

test('a stored response is visible only to the key that made it', async () => {
  const admin = stack.openai();
  const created = await fetch(`${stack.origin}/aigw/v1/keys`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'responses-a' }),
  });
  assert.equal(created.status, 200, await created.clone().text());
  const secret = (await created.json()).key;
  const other = stack.openai({ apiKey: secret });
  const mine = await other.responses.create({ model: 'mock/echo', input: 'private words' });
  assert.equal((await admin.responses.retrieve(mine.id)).id, mine.id, 'the gateway key sees every response');
  const created2 = await fetch(`${stack.origin}/aigw/v1/keys`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-key', 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'responses-b' }),
  });
  const stranger = stack.openai({ apiKey: (await created2.json()).key });
  await assert.rejects(stranger.responses.retrieve(mine.id), (e) => e.status === 404);
  await assert.rejects(
    stranger.responses.create({ model: 'mock/echo', input: 'x', previous_response_id: mine.id }),
    (e) => e.status === 400,
  );
});

test('an OpenAI upstream error on /v1/responses reaches the client with its status, in OpenAI shape', async () => {
  await stack.fakeControl('POST', '/_control/faults', { kind: '429', count: 1, path_contains: '/responses' });
  const client = stack.openai();
  await assert.rejects(
    client.responses.create({ model: 'openai/gpt-4o-mini', input: 'hi' }, { headers: { 'x-aigw-retries': '0' } }),
    (e) => e.status === 429 && typeof e.message === 'string' && e.message.length > 0,
  );
  await stack.fakeControl('DELETE', '/_control/faults');
  const r = await client.responses.create({ model: 'openai/gpt-4o-mini', input: 'hi' });
  assert.equal(r.status, 'completed');
});

test('responses.compact: OpenAI passes through; Anthropic is summarised by the gateway and the next turn reads it', async () => {
  const client = stack.openai();
  const input = [
    { role: 'user', content: 'Remember the code word is heliotrope' },
    { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Noted.' }] },
  ];
  await stack.clearUpstream();
  const native = await client.responses.compact({ model: 'openai/gpt-4o-mini', input });
  assert.equal(native.object, 'response.compaction');
  assert.ok((await stack.upstreamRequests()).some((r) => r.path === '/v1/responses/compact'));

  const compacted = await client.responses.compact({ model: 'anthropic/claude-haiku-4-5', input });
  assert.equal(compacted.object, 'response.compaction');
  const item = compacted.output.at(-1);
  assert.equal(item.type, 'compaction');
  assert.match(item.encrypted_content, /^aigw:v1:/);
  assert.ok(compacted.output.some((o) => o.role === 'user'), 'the user messages are kept');
  assert.ok(compacted.usage.output_tokens > 0);

  // The compacted window goes back as input; the summary reaches the model as text.
  await stack.clearUpstream();
  await client.responses.create({ model: 'anthropic/claude-haiku-4-5', input: [...compacted.output, { role: 'user', content: 'go on' }] });
  const up = (await stack.upstreamRequests()).find((r) => r.path === '/v1/messages');
  assert.ok(up, 'the next turn reached Anthropic');
  assert.ok(!JSON.stringify(up.json).includes('aigw:v1:'), 'the opaque blob is unpacked, not sent');
});

test('responses.inputTokens.count: an estimate off OpenAI, a number either way', async () => {
  const client = stack.openai();
  const r = await client.responses.inputTokens.count({ model: 'anthropic/claude-haiku-4-5', input: 'count these words please' });
  assert.equal(r.object, 'response.input_tokens');
  assert.ok(Number.isInteger(r.input_tokens) && r.input_tokens > 0);
});
