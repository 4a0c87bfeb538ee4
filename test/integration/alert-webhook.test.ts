/**
 * The alert path of docker/ end to end with the real binaries: a real Prometheus evaluates a test
 * rule that fires at once and sends it to a real Alertmanager, configured from
 * docker/alertmanager/alertmanager.yml (only the webhook's address, token file and group_wait
 * changed for the test), which delivers it to VeloFlux's POST /api/alerts/webhook with the bearer
 * token; VeloFlux records it (GET /api/alerts) and pushes it on the health stream to platform
 * users (the stream's `auth`; anonymous readers get no alerts). A wrong token is refused.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
import { closedPort } from '../helpers/upstream.js';
import { startVeloflux, TEST_API_ADMIN } from '../helpers/veloflux.js';

const which = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
const PROMETHEUS = which('prometheus');
const ALERTMANAGER = which('prometheus-alertmanager');
const WEBHOOK_TOKEN = 'alert-webhook-token-for-tests-0123';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function start(binary: string, args: string[], t: Tap.Test): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', process.env.VF_DEBUG_ALERTS ? 'inherit' : 'ignore'] });
  t.teardown(() => void child.kill('SIGTERM'));
  return child;
}

t.test('a Prometheus alert reaches VeloFlux through Alertmanager and is recorded', async (t) => {
  if (PROMETHEUS === '' || ALERTMANAGER === '') {
    t.fail('prometheus and prometheus-alertmanager are needed (Debian packages; .ci/run installs them)');
    return;
  }
  const vf = await startVeloflux({ pools: [], routes: [] }, { workers: 2, env: { VELOFLUX_ALERT_WEBHOOK_TOKEN: WEBHOOK_TOKEN } });
  t.teardown(() => vf.stop());
  const dir = mkdtempSync(join(tmpdir(), 'veloflux-alerts-'));

  // Alertmanager: the repository's config, pointed at this VeloFlux.
  const amConfig = parse(readFileSync(join(ROOT, 'docker/alertmanager/alertmanager.yml'), 'utf8')) as any;
  const webhook = amConfig.receivers[0].webhook_configs[0];
  t.equal(webhook.url, 'http://veloflux:9090/api/alerts/webhook', 'the docker config sends alerts to the main API');
  webhook.url = `${vf.apiUrl}/api/alerts/webhook`;
  webhook.http_config.authorization.credentials_file = join(dir, 'webhook-token');
  writeFileSync(join(dir, 'webhook-token'), WEBHOOK_TOKEN);
  amConfig.route.group_wait = '1s';
  writeFileSync(join(dir, 'alertmanager.yml'), stringify(amConfig));
  const amPort = await closedPort();
  start(ALERTMANAGER, [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'am-data')}`, `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address='], t);

  // Prometheus: one rule that fires at once.
  writeFileSync(
    join(dir, 'rules.yml'),
    stringify({ groups: [{ name: 'test', rules: [{ alert: 'VelofluxWebhookTest', expr: 'vector(1)', labels: { severity: 'warning', pool: 'web' }, annotations: { summary: 'a test alert' } }] }] }),
  );
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({ global: { evaluation_interval: '1s' }, rule_files: [join(dir, 'rules.yml')], alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] } }),
  );
  const promPort = await closedPort();
  // Prometheus drops the first notification if Alertmanager is not discovered yet and by default
  // resends only after a minute: resend every second here.
  start(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'prom-data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--rules.alert.resend-delay=1s'], t);

  // The health stream is connected before the alert exists, so seeing it there proves the push.
  const login = (await (await fetch(`${vf.apiUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_API_ADMIN) })).json()) as { accessToken: string };
  const health = new WebSocket(`${vf.apiUrl.replace('http', 'ws')}/api/ws/health`);
  t.teardown(() => health.terminate());
  health.once('open', () => health.send(JSON.stringify({ type: 'auth', token: login.accessToken })));
  const pushed = new Promise<unknown>((resolve) => {
    health.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { data?: { alerts?: { labels: Record<string, string> }[] } };
      const alert = message.data?.alerts?.find((a) => a.labels.alertname === 'VelofluxWebhookTest');
      if (alert !== undefined) resolve(alert);
    });
  });

  const started = Date.now();
  let recorded: { status: string; labels: Record<string, string>; annotations: Record<string, string> } | undefined;
  while (recorded === undefined && Date.now() - started < 45_000) {
    const res = await fetch(`${vf.apiUrl}/api/alerts`, { headers: { authorization: `Bearer ${login.accessToken}` } });
    const body = (await res.json()) as { alerts: (typeof recorded)[] };
    recorded = body.alerts.find((a) => a?.labels.alertname === 'VelofluxWebhookTest');
    if (recorded === undefined) await new Promise((r) => setTimeout(r, 500));
  }
  t.ok(recorded, `VeloFlux recorded the alert ${((Date.now() - started) / 1000).toFixed(1)} s after start`);
  t.match(recorded, { status: 'firing', labels: { alertname: 'VelofluxWebhookTest', severity: 'warning', pool: 'web' }, annotations: { summary: 'a test alert' } });
  t.match(await Promise.race([pushed, new Promise((r) => setTimeout(() => r(undefined), 5000))]), { labels: { alertname: 'VelofluxWebhookTest' } }, 'and pushed it on the health stream');

  const forged = await fetch(`${vf.apiUrl}/api/alerts/webhook`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ alerts: [] }) });
  t.equal(forged.status, 401, 'a wrong webhook token is refused');
  const anonymous = await fetch(`${vf.apiUrl}/api/alerts/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ alerts: [] }) });
  t.equal(anonymous.status, 401, 'no token is refused');
});
