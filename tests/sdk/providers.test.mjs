// The npm `openai` SDK through aigwd against every provider adapter (each one backed by the
// fake upstream in that provider's wire format): text, streaming with usage, tools (plain and
// streamed, and a tool-result round trip), image input, JSON-schema output. Each test also
// checks the request that reached the upstream against what the provider documents: auth
// header, model placement, system prompt placement, required fields, native image form.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FAKE_KEYS, WEATHER_TOOL, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

// A 1x1 PNG.
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const DATA_URL = `data:image/png;base64,${PNG_B64}`;
const AZURE_DEPLOYMENT = 'my-gpt4o-mini';
const BEDROCK_MODEL_ID = 'anthropic.claude-3-haiku-20240307-v1:0';

/// Every secret the daemon holds; a request to one provider must carry none of the others'.
const ALL_SECRETS = {
  openai: [FAKE_KEYS.openai],
  anthropic: [FAKE_KEYS.anthropic],
  gemini: [FAKE_KEYS.gemini],
  azure: [FAKE_KEYS.azure],
  cohere: [FAKE_KEYS.cohere],
  bedrock: [FAKE_KEYS.awsAccessKeyId],
};

const textOf = (content) =>
  typeof content === 'string' ? content : (content ?? []).map((p) => p.text ?? '').filter(Boolean).join(' ');

/// OpenAI-shaped message lists (OpenAI, Azure, Cohere v2).
function checkOpenAiMessages(body) {
  assert.ok(Array.isArray(body.messages), 'messages array');
  assert.equal(body.messages[0].role, 'system', 'system prompt as the first message');
  assert.equal(textOf(body.messages[0].content), 'be brief');
  assert.equal(textOf(body.messages.at(-1).content), 'hello there world');
}

function findOpenAiImagePart(body) {
  const user = body.messages.findLast((m) => m.role === 'user');
  assert.ok(Array.isArray(user?.content), `user content is an array of parts: ${JSON.stringify(user)}`);
  return user.content.find((p) => p.type === 'image_url');
}

const PROVIDERS = [
  {
    name: 'openai',
    model: 'openai/gpt-4o-mini',
    priced: true,
    isChat: (r) => r.path === '/v1/chat/completions',
    checkRequest(r) {
      assert.equal(r.headers.authorization, `Bearer ${FAKE_KEYS.openai}`);
      assert.equal(r.json.model, 'gpt-4o-mini', 'model without the provider prefix');
      checkOpenAiMessages(r.json);
    },
    checkImage(r) {
      const part = findOpenAiImagePart(r.json);
      assert.equal(part?.image_url?.url, DATA_URL, JSON.stringify(part));
    },
    checkTools(r) {
      assert.equal(r.json.tools?.[0]?.function?.name, 'get_weather', JSON.stringify(r.json.tools));
    },
  },
  {
    name: 'anthropic',
    model: 'anthropic/claude-haiku-4-5',
    priced: true,
    isChat: (r) => r.path === '/v1/messages',
    checkRequest(r) {
      assert.equal(r.headers['x-api-key'], FAKE_KEYS.anthropic);
      assert.equal(r.headers.authorization, undefined, 'Anthropic auth is x-api-key only');
      assert.ok(r.headers['anthropic-version'], 'anthropic-version header');
      assert.equal(r.json.model, 'claude-haiku-4-5');
      assert.equal(typeof r.json.max_tokens, 'number', 'max_tokens is required by Anthropic');
      assert.ok(r.json.max_tokens > 0);
      assert.equal(textOf(r.json.system), 'be brief', `top-level system: ${JSON.stringify(r.json.system)}`);
      assert.ok(r.json.messages.every((m) => m.role === 'user' || m.role === 'assistant'), JSON.stringify(r.json.messages));
    },
    checkImage(r) {
      const user = r.json.messages.findLast((m) => m.role === 'user');
      const block = user.content.find((b) => b.type === 'image');
      assert.deepEqual(block?.source, { type: 'base64', media_type: 'image/png', data: PNG_B64 }, JSON.stringify(user.content));
    },
    checkTools(r) {
      assert.equal(r.json.tools?.[0]?.name, 'get_weather', JSON.stringify(r.json.tools));
      assert.deepEqual(r.json.tools[0].input_schema, WEATHER_TOOL.function.parameters);
    },
  },
  {
    name: 'gemini',
    model: 'gemini/gemini-2.5-flash',
    priced: true,
    isChat: (r) => /^\/v1beta\/models\/gemini-2\.5-flash:(generateContent|streamGenerateContent)$/.test(r.path),
    checkRequest(r) {
      assert.equal(r.headers['x-goog-api-key'], FAKE_KEYS.gemini);
      assert.ok(!/(^|&)key=/.test(r.query), 'key in the header, not in the URL');
      const sys = r.json.systemInstruction ?? r.json.system_instruction;
      assert.equal(textOf(sys?.parts), 'be brief', `systemInstruction: ${JSON.stringify(r.json)}`);
      assert.ok(r.json.contents.every((c) => c.role === 'user' || c.role === 'model'), JSON.stringify(r.json.contents));
      assert.equal(textOf(r.json.contents.at(-1).parts), 'hello there world');
    },
    checkImage(r) {
      const parts = r.json.contents.at(-1).parts;
      const part = parts.find((p) => p.inlineData || p.inline_data);
      const data = part?.inlineData ?? part?.inline_data;
      assert.equal(data?.mimeType ?? data?.mime_type, 'image/png', JSON.stringify(parts));
      assert.equal(data.data, PNG_B64);
    },
    checkTools(r) {
      const decls = r.json.tools?.[0]?.functionDeclarations ?? r.json.tools?.[0]?.function_declarations;
      assert.equal(decls?.[0]?.name, 'get_weather', JSON.stringify(r.json.tools));
    },
  },
  {
    name: 'azure',
    model: `azure/${AZURE_DEPLOYMENT}`,
    priced: false,
    isChat: (r) => r.path === `/openai/deployments/${AZURE_DEPLOYMENT}/chat/completions`,
    checkRequest(r) {
      assert.match(r.query, /(^|&)api-version=\d{4}-\d{2}-\d{2}/, `query: ${r.query}`);
      assert.equal(r.headers['api-key'], FAKE_KEYS.azure);
      assert.equal(r.headers.authorization, undefined, 'Azure key auth is the api-key header');
      checkOpenAiMessages(r.json);
    },
    checkImage(r) {
      const part = findOpenAiImagePart(r.json);
      assert.equal(part?.image_url?.url, DATA_URL, JSON.stringify(part));
    },
    checkTools(r) {
      assert.equal(r.json.tools?.[0]?.function?.name, 'get_weather', JSON.stringify(r.json.tools));
    },
  },
  {
    name: 'cohere',
    model: 'cohere/command-r-08-2024',
    priced: true,
    isChat: (r) => r.path === '/v2/chat',
    checkRequest(r) {
      assert.equal(r.headers.authorization, `Bearer ${FAKE_KEYS.cohere}`);
      assert.equal(r.json.model, 'command-r-08-2024');
      checkOpenAiMessages(r.json);
    },
    checkImage(r) {
      const part = findOpenAiImagePart(r.json);
      assert.equal(part?.image_url?.url, DATA_URL, JSON.stringify(part));
    },
    checkTools(r) {
      assert.equal(r.json.tools?.[0]?.type, 'function');
      assert.equal(r.json.tools?.[0]?.function?.name, 'get_weather', JSON.stringify(r.json.tools));
    },
  },
  {
    name: 'bedrock',
    model: `bedrock/${BEDROCK_MODEL_ID}`,
    priced: false,
    isChat: (r) => r.path === `/model/${BEDROCK_MODEL_ID}/converse` || r.path === `/model/${BEDROCK_MODEL_ID}/converse-stream`,
    checkRequest(r) {
      assert.ok(r.raw_path.includes('anthropic.claude-3-haiku-20240307-v1%3A0'), `model id percent-encoded in the path: ${r.raw_path}`);
      const auth = r.headers.authorization ?? '';
      assert.match(auth, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, ?SignedHeaders=[^,]*host[^,]*, ?Signature=[0-9a-f]{64}$/, auth);
      assert.match(auth, /SignedHeaders=[^,]*x-amz-date/, auth);
      assert.match(r.headers['x-amz-date'] ?? '', /^\d{8}T\d{6}Z$/);
      assert.ok(!JSON.stringify(r.headers).includes(FAKE_KEYS.awsSecretAccessKey), 'the secret key is never sent');
      assert.equal(r.json.model, undefined, 'the model id is in the path only');
      assert.deepEqual(r.json.system, [{ text: 'be brief' }]);
      assert.ok(r.json.messages.every((m) => m.role === 'user' || m.role === 'assistant'), JSON.stringify(r.json.messages));
      assert.deepEqual(r.json.messages.at(-1).content, [{ text: 'hello there world' }]);
    },
    checkImage(r) {
      const user = r.json.messages.findLast((m) => m.role === 'user');
      const block = user.content.find((b) => b.image);
      assert.deepEqual(block?.image, { format: 'png', source: { bytes: PNG_B64 } }, JSON.stringify(user.content));
    },
    checkTools(r) {
      const spec = r.json.toolConfig?.tools?.[0]?.toolSpec;
      assert.equal(spec?.name, 'get_weather', JSON.stringify(r.json.toolConfig));
      assert.deepEqual(spec.inputSchema?.json, WEATHER_TOOL.function.parameters);
    },
  },
];

/// Runs `fn` on a clean upstream log, then returns [result, the provider's chat requests].
async function withUpstream(p, fn) {
  await stack.clearUpstream();
  const result = await fn();
  const reqs = (await stack.upstreamRequests()).filter((r) => p.isChat(r));
  assert.equal(reqs.length, 1, `exactly one ${p.name} chat request upstream (got ${reqs.length})`);
  return [result, reqs[0]];
}

function checkNoForeignSecrets(p, r) {
  const headers = JSON.stringify(r.headers);
  for (const [provider, secrets] of Object.entries(ALL_SECRETS)) {
    if (provider === p.name) continue;
    for (const s of secrets) assert.ok(!headers.includes(s), `${provider}'s key sent to ${p.name}`);
  }
}

/// Collects a chat stream: text, tool calls by index, finish reasons, the usage chunk.
async function collect(stream) {
  const out = { text: '', deltas: 0, finish: [], usage: null, usageChunk: null, tools: [], chunks: 0 };
  for await (const chunk of stream) {
    out.chunks++;
    if (chunk.usage) {
      out.usage = chunk.usage;
      out.usageChunk = chunk;
    }
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta ?? {};
      if (typeof d.content === 'string' && d.content !== '') {
        out.text += d.content;
        out.deltas++;
      }
      for (const tc of d.tool_calls ?? []) {
        const slot = (out.tools[tc.index] ??= { id: '', name: '', arguments: '' });
        if (tc.id) slot.id = tc.id;
        if (tc.function?.name) slot.name += tc.function.name;
        if (tc.function?.arguments) slot.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) out.finish.push(choice.finish_reason);
    }
  }
  return out;
}

for (const p of PROVIDERS) {
  test(`${p.name}: text answer, usage, gateway headers, native upstream request`, async () => {
    const [{ data, response }, up] = await withUpstream(p, () =>
      stack
        .openai()
        .chat.completions.create({
          model: p.model,
          messages: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'hello there world' },
          ],
        })
        .withResponse(),
    );
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.equal(data.choices[0].message.content, 'Echo: hello there world');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.usage.prompt_tokens, 8, JSON.stringify(data.usage));
    assert.equal(data.usage.completion_tokens, 4, JSON.stringify(data.usage));
    assert.equal(data.usage.total_tokens, 12, JSON.stringify(data.usage));
    assert.equal(response.headers.get('x-aigw-provider'), p.name);
    assert.ok(response.headers.get('x-request-id'));
    if (p.priced) {
      assert.ok(Number(response.headers.get('x-aigw-cost-usd')) > 0, `priced model: x-aigw-cost-usd=${response.headers.get('x-aigw-cost-usd')}`);
    }
    p.checkRequest(up);
    checkNoForeignSecrets(p, up);
  });

  test(`${p.name}: streamed answer with include_usage`, async () => {
    const [got, up] = await withUpstream(p, async () =>
      collect(
        await stack.openai().chat.completions.create({
          model: p.model,
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: 'stream these words please' }],
        }),
      ),
    );
    assert.equal(got.text, 'Echo: stream these words please');
    assert.ok(got.deltas >= 2, `${got.deltas} content deltas`);
    assert.deepEqual(got.finish, ['stop']);
    assert.ok(got.usage, 'a usage chunk');
    assert.deepEqual(got.usageChunk.choices, [], 'the usage chunk has no choices');
    assert.equal(got.usage.prompt_tokens, 7, JSON.stringify(got.usage));
    assert.equal(got.usage.completion_tokens, 5, JSON.stringify(got.usage));
    assert.equal(got.usage.total_tokens, 12, JSON.stringify(got.usage));
    if (p.name === 'gemini') {
      assert.match(up.path, /:streamGenerateContent$/);
      assert.match(up.query, /(^|&)alt=sse/);
    } else if (p.name === 'bedrock') {
      assert.match(up.path, /\/converse-stream$/);
    } else {
      assert.equal(up.json.stream, true, 'stream:true in the upstream body');
    }
  });

  test(`${p.name}: tool call, plain and streamed, then a tool result round trip`, async () => {
    const params = {
      model: p.model,
      tools: [WEATHER_TOOL],
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    };
    const [plain, up] = await withUpstream(p, () => stack.openai().chat.completions.create(params));
    p.checkTools(up);
    const msg = plain.choices[0].message;
    assert.equal(plain.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls?.length, 1, JSON.stringify(msg));
    const call = msg.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id, 'tool call id');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

    const streamed = await collect(await stack.openai().chat.completions.create({ ...params, stream: true }));
    assert.deepEqual(streamed.finish, ['tool_calls']);
    assert.equal(streamed.tools.length, 1, JSON.stringify(streamed.tools));
    assert.ok(streamed.tools[0].id, 'streamed tool call id');
    assert.equal(streamed.tools[0].name, 'get_weather');
    assert.deepEqual(JSON.parse(streamed.tools[0].arguments), { city: 'Paris' });

    // Second turn: the tool's result goes back in the provider's form; the fake echoes it.
    const [second, up2] = await withUpstream(p, () =>
      stack.openai().chat.completions.create({
        ...params,
        messages: [
          ...params.messages,
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'sunny and 21 degrees' },
        ],
      }),
    );
    assert.equal(second.choices[0].finish_reason, 'stop', JSON.stringify(second.choices[0]));
    assert.match(second.choices[0].message.content ?? '', /^Echo: .*sunny and 21 degrees/, `upstream body: ${up2.body}`);
  });

  test(`${p.name}: image input reaches the upstream in the provider's native form`, async () => {
    const [data, up] = await withUpstream(p, () =>
      stack.openai().chat.completions.create({
        model: p.model,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'describe this picture' },
              { type: 'image_url', image_url: { url: DATA_URL } },
            ],
          },
        ],
      }),
    );
    assert.equal(data.choices[0].message.content, 'Echo: describe this picture');
    p.checkImage(up);
  });

  test(`${p.name}: json_schema response_format gives parseable JSON`, async () => {
    const data = await stack.openai().chat.completions.create({
      model: p.model,
      messages: [{ role: 'user', content: 'reply in json please' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'reply',
          strict: true,
          schema: {
            type: 'object',
            properties: { answer: { type: 'string' } },
            required: ['answer'],
            additionalProperties: false,
          },
        },
      },
    });
    const content = data.choices[0].message.content;
    let parsed;
    assert.doesNotThrow(() => (parsed = JSON.parse(content)), `content is JSON: ${content}`);
    assert.equal(parsed.answer, 'Echo: reply in json please');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.choices[0].message.tool_calls ?? undefined, undefined, 'no tool call surfaces in JSON mode');
  });
}

// ---- Upstream faults through the new adapters (the fault is named in the model string) ----

const FAULT_MODELS = {
  openai: (f) => `openai/gpt-4o-mini-fault-${f}`,
  anthropic: (f) => `anthropic/claude-haiku-4-5-fault-${f}`,
  gemini: (f) => `gemini/gemini-2.5-flash-fault-${f}`,
  azure: (f) => `azure/dep-fault-${f}`,
  cohere: (f) => `cohere/command-r-fault-${f}`,
  bedrock: (f) => `bedrock/anthropic.claude-fault-${f}-v1:0`,
};

async function errorOf(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  return null;
}

for (const p of PROVIDERS) {
  test(`${p.name}: upstream 429 / 500 / cut stream / stream error surface as typed SDK errors`, async () => {
    const client = stack.openai();
    const ask = (model, extra = {}) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'fault please' }], ...extra });

    const rl = await errorOf(ask(FAULT_MODELS[p.name]('429')));
    assert.equal(rl?.status, 429, `${rl?.constructor?.name}: ${rl?.message}`);
    assert.equal(typeof rl.error?.message, 'string', JSON.stringify(rl.error));

    const ise = await errorOf(ask(FAULT_MODELS[p.name]('500')));
    assert.ok(ise?.status >= 500 && ise?.status < 600, `${ise?.constructor?.name}: ${ise?.message}`);

    const auth = await errorOf(ask(FAULT_MODELS[p.name]('401')));
    assert.ok(auth?.status >= 400 && auth?.status < 600 && auth.status !== 404, `upstream 401: ${auth?.status} ${auth?.message}`);

    // A stream cut before its end must not look like a complete answer.
    const cut = await errorOf(
      (async () => {
        const got = await collect(await ask(FAULT_MODELS[p.name]('cut'), { stream: true }));
        if (got.finish.length === 0) throw new Error(`stream ended without finish_reason: ${JSON.stringify(got)}`);
        return got;
      })(),
    );
    assert.ok(cut, 'a cut upstream stream must end in an error, not a normal end');

    const se = await errorOf(
      (async () => {
        const got = await collect(await ask(FAULT_MODELS[p.name]('stream-error'), { stream: true }));
        if (got.finish.length === 0) throw new Error(`stream ended without finish_reason: ${JSON.stringify(got)}`);
        return got;
      })(),
    );
    assert.ok(se, 'an error event in the upstream stream must surface as an error');

    assert.ok(stack.alive(), 'aigwd still running');
  });
}

// ---- Embeddings through the new adapters (the SDK asks for base64 by default) ----

const EMBEDDING_CASES = [
  { name: 'azure', model: 'azure/my-embedding-dep', input: ['one two', 'three'], path: /^\/openai\/deployments\/my-embedding-dep\/embeddings$/ },
  { name: 'cohere', model: 'cohere/embed-v4.0', input: ['one two', 'three'], path: /^\/v2\/embed$/ },
  { name: 'bedrock', model: 'bedrock/amazon.titan-embed-text-v2:0', input: 'one two three', path: /^\/model\/amazon\.titan-embed-text-v2:0\/invoke$/ },
];

for (const c of EMBEDDING_CASES) {
  test(`${c.name}: embeddings.create() gets vectors and usage`, async () => {
    await stack.clearUpstream();
    const res = await stack.openai().embeddings.create({ model: c.model, input: c.input });
    const n = Array.isArray(c.input) ? c.input.length : 1;
    assert.equal(res.data.length, n, JSON.stringify(res).slice(0, 300));
    for (const [i, d] of res.data.entries()) {
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 8, `vector ${i}: ${JSON.stringify(d.embedding).slice(0, 100)}`);
      const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-3, `unit vector (norm ${norm})`);
    }
    assert.equal(res.usage.prompt_tokens, 3, JSON.stringify(res.usage));
    const reqs = (await stack.upstreamRequests()).filter((r) => c.path.test(r.path));
    assert.equal(reqs.length, 1, 'one upstream embeddings request');
  });
}

// ---- Two tool calls in one assistant turn, two tool results (Bedrock needs them in one user turn) ----

for (const p of PROVIDERS) {
  test(`${p.name}: a history with two parallel tool calls and their results is accepted`, async () => {
    const calls = [
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
    ];
    const data = await stack.openai().chat.completions.create({
      model: p.model,
      tools: [WEATHER_TOOL],
      messages: [
        { role: 'user', content: 'What is the weather in Paris and Rome?' },
        { role: 'assistant', content: null, tool_calls: calls },
        { role: 'tool', tool_call_id: 'call_a', content: 'Paris sunny' },
        { role: 'tool', tool_call_id: 'call_b', content: 'Rome rainy' },
      ],
    });
    assert.equal(data.choices[0].finish_reason, 'stop', JSON.stringify(data.choices[0]));
    assert.match(data.choices[0].message.content ?? '', /^Echo: .*Rome rainy/);
  });
}
