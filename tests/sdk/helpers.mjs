// Shared harness for the SDK end-to-end tests: starts the fake upstream and aigwd on free
// ports with their own temp dir, hands out SDK clients pointed at the daemon, and stops both
// at the end. The temp dir (daemon data dir + both processes' logs) is kept when a test failed.
//
// Binaries: $AIGWD_PATH and $FAKE_UPSTREAM_PATH, or $AIGW_BUILD_DIR/daemon/aigwd and
// $AIGW_BUILD_DIR/tests/fake-upstream (tests/sdk/run.sh sets AIGW_BUILD_DIR).

import { after, afterEach, before } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import OpenAI from 'openai';

export const GATEWAY_KEY = 'test-key';

/// The provider keys aigwd gets (all fake); tests check that each reaches only its provider.
export const FAKE_KEYS = {
  openai: 'sk-fake-upstream-key',
  anthropic: 'sk-ant-fake-upstream-key',
  gemini: 'fake-gemini-key',
  azure: 'fake-azure-key',
  cohere: 'fake-cohere-key',
  awsAccessKeyId: 'AKIDEXAMPLE',
  awsSecretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const STARTUP_TIMEOUT_MS = 20000;

function binaryPaths() {
  const buildDir = process.env.AIGW_BUILD_DIR;
  const aigwd = process.env.AIGWD_PATH || (buildDir && path.join(buildDir, 'daemon', 'aigwd'));
  const fake = process.env.FAKE_UPSTREAM_PATH || (buildDir && path.join(buildDir, 'tests', 'fake-upstream'));
  if (!aigwd || !fake) {
    throw new Error('set AIGW_BUILD_DIR (or AIGWD_PATH and FAKE_UPSTREAM_PATH); tests/sdk/run.sh BUILD_DIR does it');
  }
  for (const p of [aigwd, fake]) {
    if (!existsSync(p)) throw new Error(`binary not found: ${p}`);
  }
  return { aigwd, fake };
}

function waitForExit(proc, ms) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopProcess(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  if (!(await waitForExit(proc, 10000))) {
    proc.kill('SIGKILL');
    await waitForExit(proc, 2000);
  }
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/// Starts fake-upstream --port 0 and resolves with its port (from its "listening <port>" line).
function startFake(bin, logFile) {
  const log = createWriteStream(logFile);
  const proc = spawn(bin, ['--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.pipe(log);
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`fake-upstream did not print "listening <port>" in time; stdout: ${buf}`)), STARTUP_TIMEOUT_MS);
    const onData = (d) => {
      buf += d.toString();
      const m = buf.match(/^listening (\d+)$/m);
      if (m) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        proc.stdout.pipe(log);
        resolve({ proc, port: Number(m[1]) });
      }
    };
    proc.stdout.on('data', onData);
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`fake-upstream exited early (code ${code}, signal ${sig}); log:\n${tail(logFile)}`));
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/// GET /health over HTTPS trusting only `ca` (PEM text); resolves with the status.
function httpsHealth(port, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', servername: 'localhost', port, path: '/health', ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
  });
}

/// A self-signed certificate for localhost and 127.0.0.1 in `dir` (cert.pem; key.pem 0600).
function makeCertificate(dir) {
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  chmodSync(key, 0o600);
  return { cert, key };
}

/// Starts aigwd --port 0 and resolves once <data-dir>/aigwd.json names a port and /health
/// answers (over HTTPS trusting `tlsCa` when given).
async function startDaemon(bin, { dataDir, configHome, logFile, fakePort, extraEnv, tlsCa }) {
  const fake = `http://127.0.0.1:${fakePort}`;
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: configHome, // no user config leaks in
    XDG_DATA_HOME: path.join(configHome, '..', 'xdg-data'),
    AIGW_API_KEY: GATEWAY_KEY,
    OPENAI_API_KEY: FAKE_KEYS.openai,
    ANTHROPIC_API_KEY: FAKE_KEYS.anthropic,
    GEMINI_API_KEY: FAKE_KEYS.gemini,
    GROQ_API_KEY: 'gsk-fake-upstream-key',
    AZURE_OPENAI_API_KEY: FAKE_KEYS.azure,
    COHERE_API_KEY: FAKE_KEYS.cohere,
    AWS_ACCESS_KEY_ID: FAKE_KEYS.awsAccessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_KEYS.awsSecretAccessKey,
    AWS_REGION: 'us-east-1',
    AIGW_OPENAI_BASE_URL: `${fake}/v1`,
    AIGW_GROQ_BASE_URL: `${fake}/v1`,
    AIGW_ANTHROPIC_BASE_URL: `${fake}/v1`,
    AIGW_GEMINI_BASE_URL: `${fake}/v1beta`,
    AIGW_AZURE_BASE_URL: `${fake}/openai`,
    AIGW_COHERE_BASE_URL: `${fake}/v2`,
    AIGW_BEDROCK_BASE_URL: fake,
    ...Object.fromEntries(Object.entries(extraEnv ?? {}).map(([k, v]) => [k, v.replaceAll('{fake}', fake)])),
  };
  delete env.AIGW_HOST;
  // Real AWS settings of the user must not change how requests are signed.
  for (const k of ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_REGION', 'AZURE_OPENAI_ENDPOINT']) delete env[k];
  const log = createWriteStream(logFile);
  const proc = spawn(bin, ['--port', '0', '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.once('exit', (code, sig) => {
    exited = `code ${code}, signal ${sig}`;
  });

  const stateFile = path.join(dataDir, 'aigwd.json');
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let port = null;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`aigwd exited early (${exited}); log:\n${tail(logFile)}`);
    if (port === null && existsSync(stateFile)) {
      try {
        const st = JSON.parse(readFileSync(stateFile, 'utf8'));
        if (Number(st.port) > 0 && (st.pid === undefined || st.pid === proc.pid)) port = Number(st.port);
      } catch {
        // half written; poll again
      }
    }
    if (port !== null) {
      try {
        if (tlsCa) {
          if ((await httpsHealth(port, tlsCa)) === 200) return { proc, port };
        } else {
          const r = await fetch(`http://127.0.0.1:${port}/health`);
          if (r.ok) return { proc, port };
        }
      } catch {
        // not accepting yet
      }
    }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`aigwd did not become healthy in time (port ${port}); log:\n${tail(logFile)}`);
}

/// Registers before/after hooks in the calling test file and returns the stack, filled in by
/// the before hook: { baseURL, origin, port, fakeURL, dir, openai(opts), fakeControl(method, path, body) }.
/// `onReady(stack)` runs inside that hook once both processes are up: Node 20 runs a file's
/// top-level before() hooks concurrently, so a second before() could not rely on the stack.
/// `env` adds daemon environment variables (more provider keys and base URLs); `{fake}` in a
/// value is the fake upstream's origin. `tls: true` serves HTTPS with a self-signed
/// certificate for localhost ([server] tls_cert/tls_key): then origin is https://localhost:PORT
/// and `caFile` the certificate a client must trust.
export function useGatewayStack({ onReady, env, tls = false } = {}) {
  const stack = {};
  let failed = false;
  let fake = null;
  let daemon = null;

  before(async () => {
    const bins = binaryPaths();
    stack.dir = mkdtempSync(path.join(tmpdir(), 'aigw-sdk-'));
    const dataDir = path.join(stack.dir, 'data');
    const configHome = path.join(stack.dir, 'config');
    mkdirSync(dataDir);
    mkdirSync(configHome);
    try {
      let tlsCa;
      if (tls) {
        const c = makeCertificate(path.join(stack.dir, 'tls'));
        mkdirSync(path.join(configHome, 'aigw'));
        writeFileSync(path.join(configHome, 'aigw', 'config.toml'),
          `[server]\ntls_cert = "${c.cert}"\ntls_key = "${c.key}"\n`);
        stack.caFile = c.cert;
        tlsCa = readFileSync(c.cert, 'utf8');
      }
      fake = await startFake(bins.fake, path.join(stack.dir, 'fake-upstream.log'));
      stack.fakeURL = `http://127.0.0.1:${fake.port}`;
      daemon = await startDaemon(bins.aigwd, {
        dataDir,
        configHome,
        logFile: path.join(stack.dir, 'aigwd.log'),
        fakePort: fake.port,
        extraEnv: env,
        tlsCa,
      });
    } catch (e) {
      failed = true;
      throw e;
    }
    stack.port = daemon.port;
    stack.origin = tls ? `https://localhost:${daemon.port}` : `http://127.0.0.1:${daemon.port}`;
    stack.baseURL = `${stack.origin}/v1`;
    stack.daemonProc = daemon.proc;
    if (onReady) await onReady(stack);
  });

  afterEach((t) => {
    if (t.passed !== true) failed = true;
  });

  after(async () => {
    await stopProcess(daemon?.proc);
    await stopProcess(fake?.proc);
    if (!stack.dir) return;
    if (failed || process.env.AIGW_KEEP_TMP) {
      console.error(`aigw-sdk: a test failed, kept ${stack.dir} (aigwd.log, fake-upstream.log, data/)`);
    } else {
      rmSync(stack.dir, { recursive: true, force: true });
    }
  });

  /// An OpenAI SDK client on the daemon. maxRetries defaults to 0 so errors surface at once.
  stack.openai = (opts = {}) =>
    new OpenAI({ apiKey: GATEWAY_KEY, baseURL: stack.baseURL, maxRetries: 0, timeout: 30000, ...opts });

  /// Calls the fake upstream's control API (/_control/...), returns the parsed JSON body.
  stack.fakeControl = async (method, p, body) => {
    const r = await fetch(`${stack.fakeURL}${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`fake-upstream ${method} ${p} -> ${r.status}: ${text}`);
    return JSON.parse(text);
  };

  /// The provider requests the fake upstream received (oldest first), each with `json` = the
  /// parsed body (null when it is not JSON). `clearUpstream()` empties the log.
  stack.upstreamRequests = async () =>
    (await stack.fakeControl('GET', '/_control/requests')).map((r) => {
      let parsed = null;
      try {
        parsed = JSON.parse(r.body);
      } catch {
        // not JSON
      }
      return { ...r, json: parsed };
    });
  stack.clearUpstream = () => stack.fakeControl('DELETE', '/_control/requests');

  /// Whether the daemon process is still running.
  stack.alive = () => daemon?.proc.exitCode === null && daemon?.proc.signalCode === null;

  return stack;
}

/// The text of a non-stream chat completion's first choice.
export function contentOf(completion) {
  return completion.choices?.[0]?.message?.content;
}

/// Asserts the x-aigw-* / x-request-id headers of a response; returns the parsed cost.
export function gatewayHeaders(headers) {
  const get = (n) => headers.get(n);
  return {
    requestId: get('x-request-id'),
    provider: get('x-aigw-provider'),
    model: get('x-aigw-model'),
    costRaw: get('x-aigw-cost-usd'),
    cost: get('x-aigw-cost-usd') === null ? NaN : Number(get('x-aigw-cost-usd')),
    cache: get('x-aigw-cache'),
    attempts: get('x-aigw-attempts'),
  };
}

/// A tool definition that the fake upstream will call when the prompt mentions the weather.
export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['city'],
    },
  },
};

/// The JSON events an agent prints one a line (Claude Code's `--output-format stream-json`,
/// opencode's `--format json`); other lines and lines that are not whole JSON are skipped.
export function jsonLines(stdout) {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return null;
      }
    })
    .filter(Boolean);
}

/// The environment that keeps an opencode run to itself: HOME and every XDG dir under `home`,
/// no auto-update, models.dev fetch, sharing, LSP download, default plugins, Claude Code
/// import or external skills, npm offline, no colour, and `work` as its project (opencode
/// takes its project directory from $PWD, not from the process's cwd). Merge it into a copy
/// of process.env from which OPENCODE*, XDG_* and npm_config_* were removed.
export function opencodeEnv(home, work) {
  return {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_STATE_HOME: path.join(home, '.local', 'state'),
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_MODELS_FETCH: '1',
    OPENCODE_DISABLE_SHARE: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
    OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
    OPENCODE_DISABLE_CLAUDE_CODE: '1',
    OPENCODE_DISABLE_EXTERNAL_SKILLS: '1',
    npm_config_offline: 'true',
    PWD: work,
    NO_COLOR: '1',
  };
}
