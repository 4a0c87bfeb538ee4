import t from 'tap';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveApiSecrets } from '../../src/primary/api-secrets.js';
import { validateConfig } from '../../src/shared/config/load.js';

const serverWith = (server: Record<string, unknown> = {}) => validateConfig({ server: { dataDir: mkdtempSync(join(tmpdir(), 'vf-secrets-')), ...server } }, 'test', {}).server;

t.test('the JWT secret: env first, then the file; at least 32 bytes or VeloFlux refuses to start', async (t) => {
  const strong = 's'.repeat(32);
  t.equal((await resolveApiSecrets(serverWith(), { VELOFLUX_JWT_SECRET: strong })).jwtSecret, strong);
  await t.rejects(resolveApiSecrets(serverWith(), { VELOFLUX_JWT_SECRET: 's'.repeat(31) }), /31 bytes; at least 32 are needed \(generate one with `openssl rand -base64 48`\)/);
  const file = join(mkdtempSync(join(tmpdir(), 'vf-secret-file-')), 'jwt');
  writeFileSync(file, `${'f'.repeat(40)}\n`);
  t.equal((await resolveApiSecrets(serverWith({ api: { jwtSecretFile: file } }), {})).jwtSecret, 'f'.repeat(40), 'from the file, trimmed');
  writeFileSync(file, 'short');
  await t.rejects(resolveApiSecrets(serverWith({ api: { jwtSecretFile: file } }), {}), /is 5 bytes/);
});

t.test('without one: generated once per dataDir (0600) for a single instance, refused with Redis', async (t) => {
  const server = serverWith();
  const first = await resolveApiSecrets(server, {});
  t.ok(Buffer.byteLength(first.jwtSecret) >= 32);
  t.equal((await resolveApiSecrets(server, {})).jwtSecret, first.jwtSecret, 'the same after a restart');
  t.equal(readFileSync(join(server.dataDir, 'jwt-secret'), 'utf8').trim(), first.jwtSecret);
  t.equal(statSync(join(server.dataDir, 'jwt-secret')).mode & 0o777, 0o600);
  await t.rejects(resolveApiSecrets(serverWith({ redis: { url: 'redis://127.0.0.1:6379' } }), {}), /every instance must sign API tokens with the same key: set VELOFLUX_JWT_SECRET/);
});

t.test('the alert webhook token is optional, and at least 16 characters when set', async (t) => {
  const env = { VELOFLUX_JWT_SECRET: 'x'.repeat(32) };
  t.equal((await resolveApiSecrets(serverWith(), env)).alertWebhookToken, undefined, 'absent: the webhook is off');
  t.equal((await resolveApiSecrets(serverWith(), { ...env, VELOFLUX_ALERT_WEBHOOK_TOKEN: 'w'.repeat(16) })).alertWebhookToken, 'w'.repeat(16));
  await t.rejects(resolveApiSecrets(serverWith(), { ...env, VELOFLUX_ALERT_WEBHOOK_TOKEN: 'short' }), /at least 16 characters/);
});
