// The Gemini surface (/v1beta/models/{model}:generateContent and friends) through the official
// @google/genai SDK: a gemini model served natively (the body passes through to the fake
// upstream's Gemini API) and openai / anthropic models translated both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { GoogleGenAI } from '@google/genai';

import { FAKE_KEYS, GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

function genai(apiKey = GATEWAY_KEY) {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: stack.origin, timeout: 30000 } });
}

/// A response header from the SDK's sdkHttpResponse (a Headers object or a plain record).
function header(resp, name) {
  const h = resp.sdkHttpResponse?.headers;
  if (!h) return undefined;
  return typeof h.get === 'function' ? h.get(name) : h[name];
}

const WEATHER_DECL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'OBJECT',
    properties: { city: { type: 'STRING', description: 'City name' } },
    required: ['city'],
  },
};

// Native: the bare name resolves to the gemini provider. Translated: OpenAI's and Anthropic's formats.
const MODELS = [
  { model: 'gemini-2.5-flash', provider: 'gemini', native: true },
  { model: 'openai/gpt-4o-mini', provider: 'openai', native: false },
  { model: 'anthropic/claude-haiku-4-5', provider: 'anthropic', native: false },
];

for (const { model, provider, native } of MODELS) {
  test(`generateContent to ${model} (${native ? 'native' : 'translated'})`, async () => {
    await stack.clearUpstream();
    const resp = await genai().models.generateContent({
      model,
      contents: 'hello there world',
      config: { systemInstruction: 'be brief', temperature: 0.3, maxOutputTokens: 256 },
    });
    assert.equal(resp.text, 'Echo: hello there world');
    assert.equal(resp.candidates[0].finishReason, 'STOP');
    assert.equal(resp.candidates[0].content.role, 'model');
    assert.ok(resp.usageMetadata.promptTokenCount > 0, JSON.stringify(resp.usageMetadata));
    assert.equal(resp.usageMetadata.candidatesTokenCount, 4);
    assert.equal(header(resp, 'x-aigw-provider'), provider);
    assert.ok(Number(header(resp, 'x-aigw-cost-usd')) > 0, 'priced model, cost must be > 0');

    const seen = await stack.upstreamRequests();
    assert.equal(seen.length, 1);
    if (native) {
      // Passthrough: Gemini's own body, the provider key instead of the gateway key.
      assert.match(seen[0].path, /\/v1beta\/models\/gemini-2\.5-flash:generateContent$/);
      assert.equal(seen[0].json.systemInstruction.parts[0].text, 'be brief');
      assert.equal(seen[0].json.generationConfig.maxOutputTokens, 256);
      assert.equal(seen[0].headers['x-goog-api-key'], FAKE_KEYS.gemini);
    } else {
      assert.ok(!seen[0].path.includes('gemini'), seen[0].path);
      assert.ok(!JSON.stringify(seen[0]).includes(GATEWAY_KEY), 'the gateway key must not reach the provider');
    }
  });

  test(`generateContentStream from ${model}: the text equals the non-stream answer`, async () => {
    const client = genai();
    const params = { model, contents: 'stream these words please' };
    const plain = await client.models.generateContent(params);
    let text = '';
    let chunks = 0;
    let last = null;
    for await (const chunk of await client.models.generateContentStream(params)) {
      text += chunk.text ?? '';
      chunks++;
      last = chunk;
    }
    assert.equal(text, plain.text);
    assert.ok(chunks > 1, `expected several chunks, got ${chunks}`);
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.ok(last.usageMetadata.totalTokenCount > 0, JSON.stringify(last.usageMetadata));
  });

  test(`a function call round trip with ${model}`, async () => {
    const client = genai();
    const config = { tools: [{ functionDeclarations: [WEATHER_DECL] }] };
    const contents = [{ role: 'user', parts: [{ text: 'What is the weather in Paris?' }] }];
    const first = await client.models.generateContent({ model, contents, config });
    const calls = first.functionCalls;
    assert.equal(calls?.length, 1, JSON.stringify(first.candidates));
    assert.equal(calls[0].name, 'get_weather');
    assert.equal(calls[0].args.city, 'Paris');

    contents.push(first.candidates[0].content);
    contents.push({
      role: 'user',
      parts: [{ functionResponse: { id: calls[0].id, name: calls[0].name, response: { output: 'sunny and mild' } } }],
    });
    const second = await client.models.generateContent({ model, contents, config });
    assert.equal(second.functionCalls, undefined);
    assert.match(second.text, /sunny and mild/);

    if (native) {
      // The model turn went back upstream exactly as the provider sent it.
      const seen = await stack.upstreamRequests();
      const sent = seen.at(-1).json.contents[1];
      assert.deepEqual(sent, JSON.parse(JSON.stringify(first.candidates[0].content)));
    }
  });

  test(`a streamed function call from ${model}`, async () => {
    const config = { tools: [{ functionDeclarations: [WEATHER_DECL] }] };
    const calls = [];
    for await (const chunk of await genai().models.generateContentStream({
      model,
      contents: 'weather in Paris, please',
      config,
    })) {
      calls.push(...(chunk.functionCalls ?? []));
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'get_weather');
    assert.deepEqual(calls[0].args, { city: 'Paris' });
  });

  test(`countTokens for ${model}`, async () => {
    const r = await genai().models.countTokens({ model, contents: 'count these few words' });
    assert.ok(r.totalTokens > 0, JSON.stringify(r));
  });
}

for (const { model, provider } of [
  { model: 'text-embedding-004', provider: 'gemini' },
  { model: 'openai/text-embedding-3-small', provider: 'openai' },
]) {
  test(`embedContent with ${model}`, async () => {
    const r = await genai().models.embedContent({
      model,
      contents: ['first text', 'second text'],
      config: { outputDimensionality: 8 },
    });
    assert.equal(r.embeddings.length, 2);
    assert.equal(r.embeddings[0].values.length, 8);
    assert.notDeepEqual(r.embeddings[0].values, r.embeddings[1].values);
    assert.equal(header(r, 'x-aigw-provider'), provider);
  });
}

test('thought parts and thinking usage come through a translated stream', async () => {
  const parts = [];
  let usage = null;
  for await (const chunk of await genai().models.generateContentStream({
    model: 'anthropic/claude-sonnet-4-5',
    contents: 'think about this',
    config: { thinkingConfig: { includeThoughts: true, thinkingBudget: 4096 } },
  })) {
    parts.push(...(chunk.candidates?.[0]?.content?.parts ?? []));
    usage = chunk.usageMetadata ?? usage;
  }
  const thoughts = parts.filter((p) => p.thought);
  assert.ok(thoughts.length > 0, JSON.stringify(parts));
  assert.match(thoughts.map((p) => p.text).join(''), /Let me think/);
  assert.equal(parts.filter((p) => !p.thought).map((p) => p.text).join(''), 'Echo: think about this');
  assert.ok(usage.totalTokenCount > 0);
});

test('streamGenerateContent without alt=sse answers one JSON array, native and translated', async () => {
  for (const model of ['gemini-2.5-flash', 'openai/gpt-4o-mini']) {
    const r = await fetch(`${stack.origin}/v1beta/models/${model}:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': GATEWAY_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'array please' }] }] }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    const events = JSON.parse(await r.text());
    assert.ok(Array.isArray(events) && events.length > 1, model);
    const text = events.map((e) => e.candidates?.[0]?.content?.parts?.map((p) => p.text ?? '').join('') ?? '').join('');
    assert.equal(text, 'Echo: array please', model);
    assert.equal(events.at(-1).candidates[0].finishReason, 'STOP');
  }
});

test('a cached answer replayed without alt=sse is still one JSON array, as application/json', async () => {
  const ask = () =>
    fetch(`${stack.origin}/v1beta/models/openai/gpt-4o-mini:streamGenerateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': GATEWAY_KEY, 'content-type': 'application/json', 'x-aigw-cache': 'on' },
      body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'cached array please' }] }] }),
    });
  const first = await ask();
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-aigw-cache'), 'MISS');
  await first.text();
  let hit;
  for (let i = 0; i < 50; i++) {  // the answer is stored once its stream completed
    hit = await ask();
    if (hit.headers.get('x-aigw-cache') === 'HIT') break;
    await hit.text();
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(hit.headers.get('x-aigw-cache'), 'HIT');
  assert.match(hit.headers.get('content-type'), /application\/json/);
  const events = JSON.parse(await hit.text());
  assert.ok(Array.isArray(events) && events.length >= 1);
  const text = events.map((e) => e.candidates?.[0]?.content?.parts?.map((p) => p.text ?? '').join('') ?? '').join('');
  assert.equal(text, 'Echo: cached array please');
});

test('?key= authenticates like x-goog-api-key; a wrong key is 401 UNAUTHENTICATED in Gemini shape', async () => {
  const body = JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] });
  const ok = await fetch(`${stack.origin}/v1beta/models/mock/echo:generateContent?key=${GATEWAY_KEY}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.match((await ok.json()).candidates[0].content.parts[0].text, /hi/);

  await assert.rejects(
    genai('wrong-key').models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' }),
    (e) => {
      assert.equal(e.status, 401);
      assert.match(e.message, /UNAUTHENTICATED/);
      return true;
    },
  );
});

test('errors come in Gemini shape: unknown model NOT_FOUND, Gemini-only tool INVALID_ARGUMENT', async () => {
  const post = (model, body) =>
    fetch(`${stack.origin}/v1beta/models/${model}:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': GATEWAY_KEY, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const missing = await post('nosuch/model-x', { contents: [{ parts: [{ text: 'hi' }] }] });
  assert.equal(missing.status, 404);
  const m = await missing.json();
  assert.equal(m.error.status, 'NOT_FOUND');
  assert.equal(m.error.code, 404);

  const search = await post('openai/gpt-4o-mini', {
    contents: [{ parts: [{ text: 'hi' }] }],
    tools: [{ googleSearch: {} }],
  });
  assert.equal(search.status, 400);
  const s = await search.json();
  assert.equal(s.error.status, 'INVALID_ARGUMENT');
  assert.match(s.error.message, /googleSearch/);
});

test('an upstream 429 on the native route keeps Google\'s RESOURCE_EXHAUSTED body', async () => {
  await stack.fakeControl('POST', '/_control/faults', {
    kind: '429', count: 10, path_contains: 'generateContent', model_contains: 'gemini-2.5-flash-lite',
  });
  try {
    const r = await fetch(`${stack.origin}/v1beta/models/gemini-2.5-flash-lite:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': GATEWAY_KEY, 'x-aigw-retries': '0', 'content-type': 'application/json' },
      body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
    });
    assert.equal(r.status, 429);
    const e = await r.json();
    assert.equal(e.error.status, 'RESOURCE_EXHAUSTED');
  } finally {
    await stack.fakeControl('DELETE', '/_control/faults');
  }
});

test('models.list() and models.get() in Gemini\'s shape', async () => {
  const client = genai();
  const names = [];
  for await (const m of await client.models.list()) names.push(m.name);
  assert.ok(names.includes('models/gemini-2.5-flash'), names.join(', '));
  assert.ok(names.includes('models/openai/gpt-4o-mini'), names.join(', '));
  const one = await client.models.get({ model: 'gemini-2.5-flash' });
  assert.equal(one.name, 'models/gemini-2.5-flash');
  assert.ok(one.inputTokenLimit > 0);
});
