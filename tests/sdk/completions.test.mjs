// POST /v1/completions (the legacy completions API editors' autocomplete calls) through the
// official openai SDK: native to OpenAI, to DeepSeek's and Mistral's FIM endpoints,
// translated through chat elsewhere, `suffix` (FIM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const DEEPSEEK_KEY = 'sk-fake-deepseek-key';
const MISTRAL_KEY = 'fake-mistral-key';
const stack = useGatewayStack({
  env: {
    DEEPSEEK_API_KEY: DEEPSEEK_KEY,
    MISTRAL_API_KEY: MISTRAL_KEY,
    AIGW_DEEPSEEK_BASE_URL: '{fake}/v1',
    AIGW_MISTRAL_BASE_URL: '{fake}/v1',
  },
});

/// The final ledger row of a request (polled: a stream's row is written as it ends).
async function ledgerRow(requestId) {
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${stack.origin}/aigw/v1/logs/${requestId}`, { headers: { authorization: `Bearer ${GATEWAY_KEY}` } });
    if (r.ok) {
      const rows = (await r.json()).attempts;
      const last = rows.find((row) => row.final_attempt) ?? rows.at(-1);
      if (last) return last;
    }
    await sleep(50);
  }
  throw new Error(`no ledger row for ${requestId}`);
}

/// Runs `fn` on a clean upstream log; returns [result, upstream requests whose path matches].
async function withUpstream(pathRe, fn) {
  await stack.clearUpstream();
  const result = await fn();
  const reqs = (await stack.upstreamRequests()).filter((r) => pathRe.test(r.path));
  return [result, reqs];
}

test('native to openai: the body goes to /completions as sent, suffix included, the answer as returned', async () => {
  const client = stack.openai();
  const params = { model: 'openai/gpt-3.5-turbo-instruct', prompt: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))', max_tokens: 16, temperature: 0 };
  const [{ data: c, response }, reqs] = await withUpstream(/^\/v1\/completions$/, () => client.completions.create(params).withResponse());
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0].text, 'FIM[    |]');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.usage.prompt_tokens > 0 && c.usage.completion_tokens > 0, JSON.stringify(c.usage));
  assert.equal(reqs.length, 1);
  assert.deepEqual(reqs[0].json, { ...params, model: 'gpt-3.5-turbo-instruct' });
  assert.equal(response.headers.get('x-aigw-provider'), 'openai');
  assert.ok(Number(response.headers.get('x-aigw-cost-usd')) >= 0);
});

test('native stream: text_completion chunks, no usage chunk unless asked, [DONE]', async () => {
  const client = stack.openai();
  const stream = await client.completions.create({ model: 'openai/gpt-3.5-turbo-instruct', prompt: 'say three words', stream: true });
  let text = '';
  let usageChunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    if (chunk.choices.length === 0) usageChunks++;
    else text += chunk.choices[0].text;
  }
  assert.equal(text, 'Echo: say three words');
  assert.equal(usageChunks, 0, 'the usage chunk goes only to clients that asked for it');

  const withUsage = await client.completions.create({
    model: 'openai/gpt-3.5-turbo-instruct',
    prompt: 'count me',
    stream: true,
    stream_options: { include_usage: true },
  });
  let usage = null;
  for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
});

for (const model of ['anthropic/claude-haiku-4-5', 'gemini/gemini-2.5-flash', 'mock/echo']) {
  test(`translated through chat for ${model}: plain and streamed, suffix framed as fill-in-the-middle`, async () => {
    const client = stack.openai();
    const c = await client.completions.create({ model, prompt: 'complete this line', max_tokens: 32 });
    assert.equal(c.object, 'text_completion');
    assert.match(c.id, /^cmpl-/);
    assert.equal(c.model, model);
    assert.match(c.choices[0].text, /complete this line/);
    assert.ok(['stop', 'length'].includes(c.choices[0].finish_reason), c.choices[0].finish_reason);
    assert.ok(c.usage.prompt_tokens > 0, JSON.stringify(c.usage));

    const stream = await client.completions.create({ model, prompt: 'stream this line', stream: true });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      for (const ch of chunk.choices) {
        text += ch.text;
        finish = ch.finish_reason ?? finish;
      }
    }
    assert.match(text, /stream this line/);
    assert.equal(finish, 'stop');
  });
}

test('a translated FIM request frames prefix and suffix for the chat model', async () => {
  const client = stack.openai();
  const [c, reqs] = await withUpstream(/^\/v1\/messages$/, () =>
    client.completions.create({ model: 'anthropic/claude-haiku-4-5', prompt: 'const x = ', suffix: ';\nexport default x;', max_tokens: 16 }),
  );
  assert.equal(c.object, 'text_completion');
  assert.equal(reqs.length, 1);
  const up = reqs[0].json;
  assert.match(JSON.stringify(up.system), /between <prefix> and <suffix>/);
  assert.match(JSON.stringify(up.messages), /<prefix>const x = <\/prefix><suffix>;\\nexport default x;<\/suffix>/);
});

test('what a chat model cannot do is a 400 naming the parameter, never dropped', async () => {
  const client = stack.openai();
  await assert.rejects(
    client.completions.create({ model: 'anthropic/claude-haiku-4-5', prompt: 'x', echo: true }),
    (e) => e.status === 400 && e.param === 'echo' && /through chat/.test(e.message),
  );
  await assert.rejects(
    client.completions.create({ model: 'anthropic/claude-haiku-4-5', prompt: ['a', 'b'] }),
    (e) => e.status === 400 && e.param === 'prompt',
  );
  await assert.rejects(client.completions.create({ model: 'openai/gpt-3.5-turbo-instruct' }), (e) => e.status === 400 && e.param === 'prompt');
  // The native route serves what the chat form cannot.
  const native = await client.completions.create({ model: 'openai/gpt-3.5-turbo-instruct', prompt: ['a', 'b'] });
  assert.equal(native.object, 'text_completion');
});

// DeepSeek's FIM (beta): POST {origin}/beta/completions, beside its /v1 chat base; the body as
// sent but for the model; OpenAI's completions format back.
test('deepseek: FIM goes to /beta/completions with the body as sent, the answer as returned, usage in the ledger', async () => {
  const client = stack.openai();
  const params = { model: 'deepseek/deepseek-chat', prompt: 'def fib(a):\n    ', suffix: '    return fib(a-1) + fib(a-2)', max_tokens: 64, temperature: 0 };
  const [{ data: c, response }, reqs] = await withUpstream(/completions$/, () => client.completions.create(params).withResponse());
  assert.equal(reqs.length, 1, reqs.map((r) => r.path).join(' '));
  assert.equal(reqs[0].path, '/beta/completions');
  assert.equal(reqs[0].headers.authorization, `Bearer ${DEEPSEEK_KEY}`);
  assert.deepEqual(reqs[0].json, { ...params, model: 'deepseek-chat' });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0].text, 'FIM[    |    return fib(a-1) + fib(a-2)]');
  assert.equal(response.headers.get('x-aigw-provider'), 'deepseek');
  const row = await ledgerRow(response.headers.get('x-request-id'));
  assert.equal(row.surface, 'openai.completions');
  assert.equal(row.provider, 'deepseek');
  assert.equal(row.status, 200);
  assert.equal(row.input_tokens, c.usage.prompt_tokens);
  assert.equal(row.output_tokens, c.usage.completion_tokens);
  assert.ok(row.cost_usd > 0, JSON.stringify(row));
  assert.equal(Number(response.headers.get('x-aigw-cost-usd')), row.cost_usd);
});

test('deepseek: a streamed FIM asks for usage, relays text_completion chunks and records the tokens', async () => {
  const client = stack.openai();
  const [{ data: stream, response }, reqs] = await withUpstream(/completions$/, () =>
    client.completions
      .create({ model: 'deepseek/deepseek-chat', prompt: 'let total = ', suffix: ';\nconsole.log(total);', stream: true, stream_options: { include_usage: true } })
      .withResponse(),
  );
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'text_completion');
    for (const ch of chunk.choices) text += ch.text;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, 'FIM[let total = |;]');
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
  assert.equal(reqs[0].path, '/beta/completions');
  assert.equal(reqs[0].json.suffix, ';\nconsole.log(total);');
  assert.equal(reqs[0].json.stream_options.include_usage, true);
  const row = await ledgerRow(response.headers.get('x-request-id'));
  assert.equal(row.stream, true);
  assert.equal(row.input_tokens, usage.prompt_tokens);
  assert.equal(row.output_tokens, usage.completion_tokens);
});

test('deepseek-reasoner has no FIM: it answers through chat', async () => {
  const client = stack.openai();
  const [c, reqs] = await withUpstream(/completions$/, () =>
    client.completions.create({ model: 'deepseek/deepseek-reasoner', prompt: 'x = ', suffix: '\nprint(x)', max_tokens: 16 }),
  );
  assert.equal(c.object, 'text_completion');
  assert.deepEqual(reqs.map((r) => r.path), ['/v1/chat/completions']);
  assert.match(JSON.stringify(reqs[0].json.messages), /<prefix>x = <\/prefix><suffix>\\nprint\(x\)<\/suffix>/);
});

// Mistral's FIM: POST /v1/fim/completions for codestral-*, a schema of its own (extra fields are
// a 422 there), chat-shaped answers that the client gets as text_completion.
test('mistral codestral: FIM goes to /v1/fim/completions in its schema and answers as a text_completion', async () => {
  const client = stack.openai();
  const params = {
    model: 'mistral/codestral-latest',
    prompt: 'def add(a, b):\n    ',
    suffix: '\n\nprint(add(1, 2))',
    max_tokens: 32,
    temperature: 0.1,
    top_p: 0.9,
    stop: ['\n\n'],
    seed: 7,
    presence_penalty: 0,
    user: 'editor-42',
  };
  const [{ data: c, response }, reqs] = await withUpstream(/completions$/, () => client.completions.create(params).withResponse());
  assert.equal(reqs.length, 1, reqs.map((r) => r.path).join(' '));
  assert.equal(reqs[0].path, '/v1/fim/completions');
  assert.equal(reqs[0].headers.authorization, `Bearer ${MISTRAL_KEY}`);
  assert.deepEqual(reqs[0].json, {
    model: 'codestral-latest',
    prompt: params.prompt,
    suffix: params.suffix,
    max_tokens: 32,
    temperature: 0.1,
    top_p: 0.9,
    stop: ['\n\n'],
    random_seed: 7,
  });
  assert.equal(c.object, 'text_completion');
  assert.match(c.id, /^cmpl-/);
  assert.equal(c.model, 'mistral/codestral-latest');
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].text, 'FIM[    |]');
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(response.headers.get('x-aigw-provider'), 'mistral');
  const row = await ledgerRow(response.headers.get('x-request-id'));
  assert.equal(row.provider, 'mistral');
  assert.equal(row.served_model, 'mistral/codestral-latest');
  assert.ok(row.input_tokens > 0 && row.input_tokens === c.usage.prompt_tokens, JSON.stringify([row, c.usage]));
  assert.equal(row.output_tokens, c.usage.completion_tokens);
  assert.ok(row.cost_usd > 0, JSON.stringify(row));
});

test('mistral codestral: a streamed FIM becomes text_completion chunks; usage in the ledger', async () => {
  const client = stack.openai();
  const [{ data: stream, response }, reqs] = await withUpstream(/completions$/, () =>
    client.completions
      .create({ model: 'mistral/codestral-latest', prompt: 'const x = ', suffix: ';\nexport default x;', stream: true, stream_options: { include_usage: true } })
      .withResponse(),
  );
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'text_completion', JSON.stringify(chunk));
    assert.equal(chunk.model, 'mistral/codestral-latest');
    for (const ch of chunk.choices) {
      text += ch.text;
      finish = ch.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, 'FIM[const x = |;]');
  assert.equal(finish, 'stop');
  assert.ok(chunks >= 2, `${chunks} chunks`);
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
  assert.equal(reqs[0].path, '/v1/fim/completions');
  assert.equal(reqs[0].json.stream, true);
  assert.equal(reqs[0].json.stream_options, undefined, 'Mistral refuses stream_options');
  const row = await ledgerRow(response.headers.get('x-request-id'));
  assert.equal(row.stream, true);
  assert.equal(row.input_tokens, usage.prompt_tokens);
  assert.equal(row.output_tokens, usage.completion_tokens);
  assert.ok(row.cost_usd > 0, JSON.stringify(row));
});

test('mistral: a model other than codestral answers through chat', async () => {
  const client = stack.openai();
  const [c, reqs] = await withUpstream(/completions$/, () =>
    client.completions.create({ model: 'mistral/mistral-small-latest', prompt: 'const y = ', suffix: ';', max_tokens: 16 }),
  );
  assert.equal(c.object, 'text_completion');
  assert.deepEqual(reqs.map((r) => r.path), ['/v1/chat/completions']);
  assert.equal(reqs[0].headers.authorization, `Bearer ${MISTRAL_KEY}`);
  assert.equal(reqs[0].json.model, 'mistral-small-latest');
  assert.match(JSON.stringify(reqs[0].json.messages), /<prefix>const y = <\/prefix><suffix>;<\/suffix>/);
});

test("mistral FIM errors come in OpenAI's shape; what FIM cannot do is a 400 before any upstream call", async () => {
  const client = stack.openai();
  const [, reqs] = await withUpstream(/completions$/, () =>
    assert.rejects(
      client.completions.create({ model: 'mistral/codestral-latest', prompt: 'x', presence_penalty: 0.5 }),
      (e) => e.status === 400 && e.param === 'presence_penalty' && /Mistral's FIM/.test(e.message) && /completions = "chat"/.test(e.message),
    ),
  );
  assert.equal(reqs.length, 0);
  // An upstream 400 in Mistral's own shape reaches the client in OpenAI's.
  const r = await fetch(`${stack.baseURL}/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${GATEWAY_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mistral/codestral-fault-400', prompt: 'x', suffix: 'y' }),
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(typeof body.error?.message, 'string', JSON.stringify(body));
  assert.ok('type' in body.error && 'param' in body.error && 'code' in body.error, JSON.stringify(body));
  assert.equal(body.object, undefined, 'not Mistral\'s own error body');
});
