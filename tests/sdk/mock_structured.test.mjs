// What structured-output clients rely on, against the offline mock provider (no upstream):
// the Vercel AI SDK's generateObject / streamObject with a zod schema (over chat completions
// and over the Responses API), the openai SDK with a json_schema response_format and a forced
// tool, the Anthropic SDK with a forced tool, promptfoo's llm-rubric judge prompt, and
// non-ASCII text that survives streaming.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, streamObject } from 'ai';
import { z } from 'zod';

import { GATEWAY_KEY, useGatewayStack } from './helpers.mjs';

const stack = useGatewayStack();

/// Most of what zod turns into JSON Schema keywords: formats, bounds, enums, literals,
/// unions, nullable and optional fields, nested objects and arrays with a minimum length.
const Recipe = z.object({
  title: z.string().min(3).max(200),
  cuisine: z.enum(['italian', 'japanese', 'mexican']),
  servings: z.number().int().min(2).max(12),
  rating: z.number().positive().max(5),
  author: z.object({ name: z.string(), email: z.string().email() }),
  id: z.string().uuid(),
  published: z.string().datetime(),
  code: z.string().regex(/^[A-Z]{3}$/),
  kind: z.literal('recipe'),
  difficulty: z.union([z.literal('easy'), z.literal('hard')]),
  notes: z.string().nullable(),
  tags: z.array(z.string()).min(2),
  steps: z.array(z.object({ order: z.number().int().nonnegative(), text: z.string() })).min(1),
  vegetarian: z.boolean(),
  source: z.string().url().optional(),
});

function aiOpenAI() {
  return createOpenAI({ baseURL: stack.baseURL, apiKey: GATEWAY_KEY });
}

for (const [api, model] of [
  ['chat completions', (openai) => openai.chat('mock/echo')],
  ['the Responses API', (openai) => openai('mock/echo')],
]) {
  test(`Vercel AI SDK generateObject with a zod schema against mock/echo over ${api}`, async () => {
    const r = await generateObject({ model: model(aiOpenAI()), schema: Recipe, prompt: 'A recipe for ramen' });
    // generateObject has already validated the object with zod; check it is what was asked.
    assert.deepEqual(Recipe.parse(r.object), r.object);
    assert.equal(r.object.kind, 'recipe');
    assert.match(r.object.title, /ramen/);
    assert.ok(r.usage.inputTokens > 0, JSON.stringify(r.usage));
    // Deterministic: the same request, the same object.
    const again = await generateObject({ model: model(aiOpenAI()), schema: Recipe, prompt: 'A recipe for ramen' });
    assert.deepEqual(again.object, r.object);
  });

  test(`Vercel AI SDK streamObject with a zod schema against mock/echo over ${api}`, async () => {
    const r = streamObject({ model: model(aiOpenAI()), schema: Recipe, prompt: 'Une recette de crêpes, s’il vous plaît' });
    let partials = 0;
    for await (const _ of r.partialObjectStream) partials++;
    const object = await r.object;
    assert.deepEqual(Recipe.parse(object), object);
    assert.equal(object.title, 'Mock answer from mock/echo: Une recette de crêpes, s’il vous plaît');
    assert.ok(partials > 1, `${partials} partial objects`);
  });
}

const WEATHER_PARAMS = {
  type: 'object',
  properties: {
    city: { type: 'string', description: 'City name' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const WeatherArgs = z.object({
  city: z.string(),
  unit: z.enum(['celsius', 'fahrenheit']),
  days: z.number().int().min(1).max(7),
}).strict();
const TOOLS = [
  {
    type: 'function',
    function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } },
  },
  { type: 'function', function: { name: 'get_weather', parameters: WEATHER_PARAMS, strict: true } },
];

test('openai SDK: a json_schema response_format on mock/echo answers JSON that fits the schema, streamed too', async () => {
  const client = stack.openai();
  const schema = {
    type: 'object',
    properties: {
      city: { type: 'string' },
      population: { type: 'integer', minimum: 1 },
      districts: { type: 'array', items: { type: 'string' }, minItems: 3 },
      capital: { type: ['boolean', 'null'] },
    },
    required: ['city', 'population', 'districts', 'capital'],
    additionalProperties: false,
  };
  const City = z.object({
    city: z.string(),
    population: z.number().int().min(1),
    districts: z.array(z.string()).min(3),
    capital: z.boolean().nullable(),
  }).strict();
  const req = {
    model: 'mock/echo',
    messages: [{ role: 'user', content: 'Tell me about Zürich 🇨🇭 and 東京' }],
    response_format: { type: 'json_schema', json_schema: { name: 'city', schema, strict: true } },
  };
  const res = await client.chat.completions.create(req);
  const whole = res.choices[0].message.content;
  const parsed = City.parse(JSON.parse(whole));
  assert.equal(parsed.city, 'Mock answer from mock/echo: Tell me about Zürich 🇨🇭 and 東京');

  let streamed = '';
  for await (const chunk of await client.chat.completions.create({ ...req, stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(streamed, whole);
  assert.ok(!streamed.includes('\uFFFD'), streamed);
});

test('openai SDK: a forced tool_choice on mock/echo calls that tool with arguments that fit its schema', async () => {
  const client = stack.openai();
  const forced = await client.chat.completions.create({
    model: 'mock/echo',
    messages: [{ role: 'user', content: 'Should I take an umbrella in Bergen?' }],
    tools: TOOLS,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  assert.equal(forced.choices[0].finish_reason, 'tool_calls');
  const call = forced.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  const args = WeatherArgs.parse(JSON.parse(call.function.arguments));
  assert.equal(args.city, 'Should I take an umbrella in Bergen?');

  // "required" with no tool named in the prompt: the first tool.
  const required = await client.chat.completions.create({
    model: 'mock/echo',
    messages: [{ role: 'user', content: 'anything at all' }],
    tools: TOOLS,
    tool_choice: 'required',
  });
  assert.equal(required.choices[0].message.tool_calls[0].function.name, 'lookup');
  assert.deepEqual(JSON.parse(required.choices[0].message.tool_calls[0].function.arguments), { q: 'anything at all' });

  // "none": text, even when the prompt names a tool.
  const none = await client.chat.completions.create({
    model: 'mock/echo',
    messages: [{ role: 'user', content: 'use get_weather' }],
    tools: TOOLS,
    tool_choice: 'none',
  });
  assert.equal(none.choices[0].message.content, 'Mock answer from mock/echo: use get_weather');
});

test('Anthropic SDK: a forced tool on mock/echo through /v1/messages gets input that fits input_schema', async () => {
  const client = new Anthropic({ apiKey: GATEWAY_KEY, baseURL: stack.origin, maxRetries: 0, timeout: 30000 });
  const msg = await client.messages.create({
    model: 'mock/echo',
    max_tokens: 256,
    tools: TOOLS.map((t) => ({ name: t.function.name, input_schema: t.function.parameters })),
    tool_choice: { type: 'tool', name: 'get_weather' },
    messages: [{ role: 'user', content: 'Weather in Kraków?' }],
  });
  assert.equal(msg.stop_reason, 'tool_use', JSON.stringify(msg));
  const use = msg.content.find((b) => b.type === 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.equal(WeatherArgs.parse(use.input).city, 'Weather in Kraków?');
});

test("promptfoo's llm-rubric judge prompt on mock/judge gets a {reason, pass, score} verdict", async () => {
  // promptfoo 0.120's DEFAULT_GRADING_PROMPT (src/prompts/grading.ts), filled in as its grader does.
  const system = `You are grading output according to a user-specified rubric. If the statement in the rubric is true, then the output passes the test. You respond with a JSON object with this structure: {reason: string, pass: boolean, score: number}

Examples:

<Output>Hello world</Output>
<Rubric>Content contains a greeting</Rubric>
{"reason": "the content contains the word 'Hello'", "pass": true, "score": 1.0}

<Output>Avast ye swabs, repel the invaders!</Output>
<Rubric>Does not speak like a pirate</Rubric>
{"reason": "'avast ye' is a common pirate term", "pass": false, "score": 0.0}`;
  const grade = async (output) => {
    const res = await stack.openai().chat.completions.create({
      model: 'mock/judge',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: `<Output>\n${output}\n</Output>\n<Rubric>\nAnswers politely\n</Rubric>` },
      ],
    });
    return JSON.parse(res.choices[0].message.content);
  };
  const ok = await grade('Mock answer from mock/a: thank you');
  assert.equal(ok.pass, true);
  assert.equal(ok.score, 1);
  assert.equal(typeof ok.reason, 'string');
  const bad = await grade('Mock answer from mock/a: FAIL');
  assert.equal(bad.pass, false);
  assert.equal(bad.score, 0);
});
