// POST /v1/completions (the legacy completions API editors' autocomplete calls) through the
// official openai SDK: native to OpenAI, translated through chat elsewhere, `suffix` (FIM).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

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
