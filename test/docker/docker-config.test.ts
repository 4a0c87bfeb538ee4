/**
 * The docker/ deployment files (issue 7): Prometheus config and alert rules pass promtool
 * (including the rule unit tests), the Alertmanager config passes amtool, the compose file maps
 * the VeloFlux port map, every metric name used in the alert rules and the Grafana dashboard is
 * one VeloFlux exports, the image runs as a non-root user with a HEALTHCHECK, and the container
 * config is valid both alone (embedded state) and under compose (state in the redis service).
 *
 * EXPECTED_METRICS (and METRIC_SPECS with types and labels) is the list the docker files are
 * checked against; the metrics tests compare it with a live `/metrics` output, so a metric that
 * is renamed in either place fails a test. Importing this file does not run its tests.
 *
 * Needs the Debian packages `prometheus` (promtool) and `prometheus-alertmanager` (amtool).
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { parseConfigText, validateConfig } from '../../src/shared/config/load.js';
import { resolveAdminToken } from '../../src/primary/admin/token.js';
import { resolveApiSecrets } from '../../src/primary/api-secrets.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export interface MetricSpec {
  readonly type: MetricType;
  readonly labels: readonly string[];
}

/** Every metric VeloFlux exports on the primary's :8080/metrics (DESIGN.md, issue 7). */
export const METRIC_SPECS: Readonly<Record<string, MetricSpec>> = Object.freeze({
  http_requests_total: { type: 'counter', labels: ['route', 'pool', 'backend', 'method', 'code'] },
  http_request_duration_seconds: { type: 'histogram', labels: ['route', 'pool', 'backend'] },
  http_response_size_bytes: { type: 'histogram', labels: ['route', 'pool', 'backend'] },
  websocket_connections_total: { type: 'counter', labels: [] },
  websocket_connection_duration_seconds: { type: 'histogram', labels: [] },
  websocket_messages_sent_total: { type: 'counter', labels: [] },
  websocket_messages_received_total: { type: 'counter', labels: [] },
  veloflux_backend_up: { type: 'gauge', labels: ['pool', 'backend'] },
  veloflux_backend_ejected: { type: 'gauge', labels: ['pool', 'backend'] },
  veloflux_backend_in_flight: { type: 'gauge', labels: ['pool', 'backend'] },
  veloflux_upstream_latency_seconds: { type: 'gauge', labels: ['pool', 'backend'] },
  veloflux_retries_total: { type: 'counter', labels: ['pool'] },
  veloflux_circuit_breaker_rejections_total: { type: 'counter', labels: ['pool'] },
  veloflux_rate_limited_requests_total: { type: 'counter', labels: ['route', 'policy'] },
  veloflux_security_events_total: { type: 'counter', labels: ['category', 'action'] },
  veloflux_config_reloads_total: { type: 'counter', labels: ['result'] },
  veloflux_config_last_reload_success: { type: 'gauge', labels: [] },
  veloflux_worker_restarts_total: { type: 'counter', labels: [] },
  veloflux_active_connections: { type: 'gauge', labels: [] },
  veloflux_workers: { type: 'gauge', labels: [] },
  veloflux_state_available: { type: 'gauge', labels: ['backend'] },
  veloflux_cluster_nodes: { type: 'gauge', labels: [] },
  veloflux_cluster_leader: { type: 'gauge', labels: [] },
  veloflux_config_in_sync: { type: 'gauge', labels: [] },
  veloflux_build_info: { type: 'gauge', labels: ['version', 'node'] },
});

/** The metric names the docker/ files may use (histograms also as _bucket, _sum and _count series). */
export const EXPECTED_METRICS: readonly string[] = Object.freeze(Object.keys(METRIC_SPECS));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCKER = join(ROOT, 'docker');
const PROMETHEUS_CONFIG = 'docker/prometheus/prometheus.yml';
const RULES = 'docker/prometheus/rules/veloflux.yml';
const RULE_TESTS = 'docker/prometheus/tests/veloflux-rules.test.yml';
const ALERTMANAGER_CONFIG = 'docker/alertmanager/alertmanager.yml';
const DASHBOARD = 'docker/grafana/dashboards/veloflux.json';
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

const readText = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const readYaml = (path: string): any => parse(readText(path));

function which(binary: string): boolean {
  return spawnSync('which', [binary], { stdio: 'ignore' }).status === 0;
}

function run(binary: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(binary, args, { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

/** A metric reference in PromQL: its series name, the base metric it belongs to and its selector labels. */
interface MetricUse {
  readonly series: string;
  readonly metric: string | undefined;
  readonly selectorLabels: string[];
}

const METRIC_REFERENCE = /(?<![A-Za-z0-9_:$.])((?:http|websocket|veloflux)_[A-Za-z0-9_:]*)\s*(\{[^}]*\})?/g;

/** The exported metric a series name belongs to, or undefined (histogram series carry _bucket/_sum/_count). */
export function metricOf(series: string): string | undefined {
  if (METRIC_SPECS[series]) return series;
  const match = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (match && METRIC_SPECS[match[1]!]?.type === 'histogram') return match[1];
  return undefined;
}

export function metricUses(expr: string): MetricUse[] {
  const uses: MetricUse[] = [];
  for (const match of expr.matchAll(METRIC_REFERENCE)) {
    const selector = match[2] ?? '';
    const selectorLabels = [...selector.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    uses.push({ series: match[1]!, metric: metricOf(match[1]!), selectorLabels });
  }
  return uses;
}

/**
 * Problems with one PromQL expression: unknown metric names, selector labels the metric does not
 * have, and `by (...)` / legend labels that none of the metrics in the expression carries.
 */
function exprProblems(expr: string, extraLabels: readonly string[] = []): string[] {
  const problems: string[] = [];
  const uses = metricUses(expr);
  const available = new Set<string>([...TARGET_LABELS]);
  for (const use of uses) {
    if (use.metric === undefined) {
      problems.push(`unknown metric "${use.series}"`);
      continue;
    }
    const labels = new Set([...METRIC_SPECS[use.metric]!.labels, ...TARGET_LABELS, ...(use.series.endsWith('_bucket') ? ['le'] : [])]);
    for (const label of labels) available.add(label);
    for (const label of use.selectorLabels) if (!labels.has(label)) problems.push(`"${use.series}" has no label "${label}"`);
  }
  for (const group of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of group[1]!.split(',').map((l) => l.trim()).filter(Boolean)) {
      if (!available.has(label)) problems.push(`grouping by "${label}", which none of the metrics has`);
    }
  }
  for (const label of extraLabels) if (!available.has(label)) problems.push(`refers to label "${label}", which none of the metrics has`);
  return problems;
}

/** Grafana variables and intervals replaced so the expression is plain PromQL. */
function concretePromQL(expr: string): string {
  return expr
    .replace(/\[\$__\w+\]/g, '[1m]')
    .replace(/\$\{?\w+\}?/g, '.*')
    .replace(/^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/, '$1');
}

interface DashboardExpr {
  readonly where: string;
  readonly expr: string;
  readonly legendLabels: string[];
}

function dashboardExprs(dashboard: any): DashboardExpr[] {
  const found: DashboardExpr[] = [];
  const legendLabels = (format: unknown) => [...String(format ?? '').matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)].map((m) => m[1]!);
  const visit = (panels: any[]) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr === 'string') found.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr, legendLabels: legendLabels(target.legendFormat) });
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (variable.type === 'query' && typeof query === 'string') found.push({ where: `variable "${variable.name}"`, expr: query, legendLabels: [] });
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (typeof annotation.expr === 'string') found.push({ where: `annotation "${annotation.name}"`, expr: annotation.expr, legendLabels: legendLabels(annotation.titleFormat) });
  }
  return found;
}

/** Parses a compose port entry (short "[ip:]host:container[/proto]" or long syntax). */
function parsePort(entry: unknown): { hostIp: string | undefined; published: number; target: number } {
  if (typeof entry === 'object' && entry !== null) {
    const long = entry as { host_ip?: string; published?: string | number; target: number };
    return { hostIp: long.host_ip, published: Number(long.published ?? long.target), target: Number(long.target) };
  }
  const parts = String(entry).replace(/\/(tcp|udp)$/, '').split(':');
  const target = Number(parts.pop());
  const published = parts.length > 0 ? Number(parts.pop()) : target;
  return { hostIp: parts.length > 0 ? parts.join(':') : undefined, published, target };
}

interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
}

/** Dockerfile instructions (continuations joined, comments dropped), split into stages at FROM. */
function dockerfileStages(text: string): DockerInstruction[][] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: DockerInstruction[][] = [[]];
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: keyword!.toUpperCase(), args: args!.trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages[stages.length - 1]!.push(instruction);
  }
  return stages.filter((stage) => stage[0]?.keyword === 'FROM');
}

function listen(server: Server): Promise<number> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done((server.address() as { port: number }).port)));
}

function runTests(): void {
  t.test('promtool accepts the Prometheus config and the alert rules, and the rule unit tests pass', async (t) => {
    if (!which('promtool')) {
      t.fail('promtool not found: install the Debian package `prometheus` (apt-get install -y --no-install-recommends prometheus)');
      return;
    }
    for (const args of [['check', 'config', PROMETHEUS_CONFIG], ['check', 'rules', RULES], ['test', 'rules', RULE_TESTS]]) {
      const { status, output } = run('promtool', args);
      t.equal(status, 0, `promtool ${args.join(' ')}`, { output });
    }
  });

  t.test('amtool accepts the Alertmanager config', async (t) => {
    if (!which('amtool')) {
      t.fail('amtool not found: install the Debian package `prometheus-alertmanager` (apt-get install -y --no-install-recommends prometheus-alertmanager)');
      return;
    }
    const { status, output } = run('amtool', ['check-config', ALERTMANAGER_CONFIG]);
    t.equal(status, 0, `amtool check-config ${ALERTMANAGER_CONFIG}`, { output });
  });

  t.test('every dashboard expression is valid PromQL (checked by promtool as recording rules)', async (t) => {
    if (!which('promtool')) {
      t.fail('promtool not found: install the Debian package `prometheus`');
      return;
    }
    const exprs = dashboardExprs(JSON.parse(readText(DASHBOARD)));
    const rules = exprs.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: concretePromQL(e.expr) }));
    const dir = mkdtempSync(join(tmpdir(), 'veloflux-dashboard-promql-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dashboard-rules.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { status, output } = run('promtool', ['check', 'rules', file]);
    t.equal(status, 0, `${rules.length} dashboard expressions parse`, { output });
  });

  t.test('docker-compose.yml maps the VeloFlux port map', async (t) => {
    const compose = readYaml('docker/docker-compose.yml');
    const services = compose.services as Record<string, any>;
    t.same(Object.keys(services).sort(), ['alertmanager', 'grafana', 'prometheus', 'redis', 'veloflux']);
    const ports = (name: string) => (services[name].ports as unknown[]).map(parsePort);
    const published = (name: string) => ports(name).map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.published}->${p.target}`);

    const veloflux = ports('veloflux');
    t.same(veloflux.map((p) => p.target).sort((a, b) => a - b), [80, 443, 3000, 8080, 9000, 9090], 'veloflux publishes 80, 443, 9090, 9000, 8080, 3000');
    for (const p of veloflux) t.equal(p.published, p.target, `veloflux ${p.target} is published on the same host port`);
    t.same(veloflux.filter((p) => p.target === 9000).map((p) => p.hostIp), ['127.0.0.1'], 'the admin API is published on the host loopback only');
    for (const p of veloflux.filter((p) => p.target !== 9000)) t.not(p.hostIp, '127.0.0.1', `veloflux ${p.target} is reachable from outside`);

    t.match(published('prometheus'), [/^(127\.0\.0\.1:)?9091->9090$/]);
    t.match(published('alertmanager'), [/^(127\.0\.0\.1:)?9092->9093$/]);
    t.match(published('grafana'), [/^(127\.0\.0\.1:)?3001->3000$/]);
    t.match(published('redis'), [/^(127\.0\.0\.1:)?6379->6379$/]);

    t.equal(services.veloflux.build.context, '..');
    t.equal(services.veloflux.build.dockerfile, 'docker/Dockerfile');
    t.ok(existsSync(resolve(DOCKER, services.veloflux.build.context, services.veloflux.build.dockerfile)), 'the Dockerfile exists');
    const env = services.veloflux.environment as Record<string, string>;
    t.match(env.VELOFLUX_ADMIN_TOKEN, /^\$\{VELOFLUX_ADMIN_TOKEN:\?/, 'the admin token comes from the environment and is required');
    t.match(env.VELOFLUX_REDIS_URL, /redis:\/\/redis:6379/, 'VeloFlux shares its state through the redis service');
    t.ok(validateConfig({ server: { redis: { url: 'redis://redis:6379' } } }, 'compose', {}), 'and that URL is a valid server.redis.url');
    t.match(env.VELOFLUX_JWT_SECRET, /^\$\{VELOFLUX_JWT_SECRET:\?/, 'with Redis the API token secret is required from the environment');
    t.match(env.VELOFLUX_ALERT_WEBHOOK_TOKEN, /^\$\{VELOFLUX_ALERT_WEBHOOK_TOKEN:\?/, 'VeloFlux checks the webhook token Alertmanager reads from its secret');
    t.equal(compose.secrets['alert-webhook-token'].environment, 'VELOFLUX_ALERT_WEBHOOK_TOKEN', 'the same variable feeds both sides');

    // Every bind mount names a file or directory that is in the repository.
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) t.ok(existsSync(resolve(DOCKER, source)), `${name}: ${source} exists`);
      }
    }
    const mounts = (name: string) => Object.fromEntries((services[name].volumes as string[]).map((v) => v.split(':')).map(([src, dst]) => [dst, src]));
    t.equal(mounts('prometheus')['/etc/prometheus/prometheus.yml'], './prometheus/prometheus.yml');
    t.equal(mounts('prometheus')['/etc/prometheus/rules'], './prometheus/rules');
    t.equal(mounts('alertmanager')['/etc/alertmanager/alertmanager.yml'], './alertmanager/alertmanager.yml');
    t.equal(mounts('grafana')['/etc/grafana/provisioning'], './grafana/provisioning');
    t.equal(mounts('veloflux')['/etc/veloflux/veloflux.yaml'], './veloflux.yaml');

    // The dashboards provider reads the directory compose mounts the dashboard JSON into.
    const provider = readYaml('docker/grafana/provisioning/dashboards/veloflux.yml').providers[0];
    t.equal(mounts('grafana')[provider.options.path], './grafana/dashboards');
    t.equal(readYaml('docker/grafana/provisioning/datasources/prometheus.yml').datasources[0].url, 'http://prometheus:9090');

    // Alertmanager's webhook token file is provided by a compose secret at the path alertmanager.yml reads.
    const secret = (services.alertmanager.secrets as { source: string; target: string }[])[0]!;
    const webhook = readYaml(ALERTMANAGER_CONFIG).receivers[0].webhook_configs[0];
    t.equal(secret.target, webhook.http_config.authorization.credentials_file);
    t.ok(compose.secrets[secret.source], 'the webhook token secret is declared');
  });

  t.test('Prometheus scrapes veloflux:8080 every 5 s and alerts through alertmanager:9093', async (t) => {
    const config = readYaml(PROMETHEUS_CONFIG);
    const job = (config.scrape_configs as any[]).find((c) => c.job_name === 'veloflux');
    t.same(job.static_configs[0].targets, ['veloflux:8080']);
    t.equal(job.scrape_interval, '5s');
    t.equal(job.metrics_path ?? '/metrics', '/metrics');
    t.same(config.alerting.alertmanagers[0].static_configs[0].targets, ['alertmanager:9093']);
    t.same(config.rule_files, ['rules/*.yml']);

    const webhook = readYaml(ALERTMANAGER_CONFIG).receivers[0].webhook_configs[0];
    t.equal(webhook.url, 'http://veloflux:9090/api/alerts/webhook');
    t.equal(webhook.http_config.authorization.credentials_file, '/etc/alertmanager/webhook-token');
  });

  t.test('the alert rules use only metrics and labels VeloFlux exports', async (t) => {
    const rules = (readYaml(RULES).groups as any[]).flatMap((g) => g.rules as any[]);
    t.same(
      rules.map((r) => r.alert).sort(),
      ['ConfigDiverged', 'ConfigReloadFailed', 'High5xxRatio', 'HighP99Latency', 'NoClusterLeader', 'RateLimitSaturation', 'SecurityBlockBurst', 'StateStoreUnavailable', 'VelofluxBackendDown', 'VelofluxDown', 'WorkerRestarts'],
    );
    const used = new Set<string>();
    for (const rule of rules) {
      const annotationLabels = [...JSON.stringify(rule.annotations ?? {}).matchAll(/\$labels\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
      t.same(exprProblems(rule.expr, annotationLabels), [], `${rule.alert}: ${rule.expr}`);
      for (const use of metricUses(rule.expr)) if (use.metric) used.add(use.metric);
    }
    t.same([...used].sort(), [
      'http_request_duration_seconds', 'http_requests_total', 'veloflux_backend_up', 'veloflux_cluster_leader', 'veloflux_config_in_sync', 'veloflux_config_last_reload_success',
      'veloflux_rate_limited_requests_total', 'veloflux_security_events_total', 'veloflux_state_available', 'veloflux_worker_restarts_total',
    ]);
  });

  t.test('the Grafana dashboard uses only metrics and labels VeloFlux exports, and covers them', async (t) => {
    const dashboard = JSON.parse(readText(DASHBOARD));
    const exprs = dashboardExprs(dashboard);
    t.ok(exprs.length > 20, `${exprs.length} expressions`);
    const used = new Set<string>();
    for (const { where, expr, legendLabels } of exprs) {
      t.same(exprProblems(expr, legendLabels), [], `${where}: ${expr}`);
      for (const use of metricUses(expr)) if (use.metric) used.add(use.metric);
    }
    t.same([...EXPECTED_METRICS].filter((m) => !used.has(m)), [], 'every exported metric appears on the dashboard');

    const panels = (dashboard.panels as any[]).filter((p) => p.type !== 'row');
    t.equal(new Set((dashboard.panels as any[]).map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
    for (const panel of panels) {
      t.ok(panel.targets?.length > 0 && panel.gridPos.x + panel.gridPos.w <= 24, `panel "${panel.title}" has queries and fits the grid`);
      t.equal(panel.datasource?.uid, '${datasource}', `panel "${panel.title}" uses the datasource variable`);
    }
    t.equal(dashboard.uid, 'veloflux');
  });

  t.test('the Dockerfile builds in stages and runs as a non-root user with a HEALTHCHECK', async (t) => {
    const stages = dockerfileStages(readText('docker/Dockerfile'));
    t.ok(stages.length >= 2, 'multi-stage build');
    const runtime = stages[stages.length - 1]!;
    const last = (keyword: string) => runtime.filter((i) => i.keyword === keyword).pop()?.args;
    const user = last('USER');
    t.ok(user, 'the runtime stage sets USER');
    t.notMatch(user ?? 'root', /^(root|0)(:|$)/, `USER ${user} is not root`);
    const healthcheck = last('HEALTHCHECK');
    t.ok(healthcheck && !/^NONE$/i.test(healthcheck), 'the runtime stage has a HEALTHCHECK');
    t.match(healthcheck, /CMD \["node", "\/app\/docker\/healthcheck\.cjs"\]/);
    t.same(last('EXPOSE')?.split(/\s+/), ['80', '443', '9090', '9000', '8080', '3000']);
    t.equal(last('CMD'), '["node", "dist/src/cli.js", "--config", "/etc/veloflux/veloflux.yaml"]');
    t.match(runtime.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n'), /npm ci --omit=dev --ignore-scripts/);
    t.match(stages[0]![0]!.args, /AS build$/);
  });

  t.test('the healthcheck script reports /health on the metrics port', async (t) => {
    let status = 200;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end();
    });
    const port = await listen(server);
    // Asynchronous: the server above answers from this process's event loop.
    const check = () =>
      new Promise<{ status: number | null; stderr: string }>((done) => {
        const child = spawn(process.execPath, [join(DOCKER, 'healthcheck.cjs')], { env: { ...process.env, VELOFLUX_METRICS_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => done({ status: code, stderr }));
      });
    t.equal((await check()).status, 0, '200 is healthy');
    status = 503;
    t.equal((await check()).status, 1, '503 is unhealthy');
    await new Promise((done) => server.close(done));
    const refused = await check();
    t.equal(refused.status, 1, 'nothing listening is unhealthy');
    t.match(refused.stderr, /ECONNREFUSED/);
  });

  t.test('docker/veloflux.yaml is valid and binds every listener to 0.0.0.0', async (t) => {
    const file = join(DOCKER, 'veloflux.yaml');
    const config = validateConfig(parseConfigText(readFileSync(file, 'utf8'), file), file, {});
    for (const listener of ['http', 'api', 'admin', 'metrics', 'dashboard'] as const) t.equal(config.server[listener].host, '0.0.0.0', `server.${listener}.host`);
    t.same(
      [config.server.http.port, config.server.api.port, config.server.admin.port, config.server.metrics.port, config.server.dashboard.port],
      [80, 9090, 9000, 8080, 3000],
    );
    t.equal(config.server.dataDir, '/var/lib/veloflux');
    t.equal(config.server.redis, undefined, 'the file names no Redis: run alone, it is a single instance in embedded mode');
    await t.rejects(resolveAdminToken(config.server.admin, {}), /without a token/, 'the admin API needs VELOFLUX_ADMIN_TOKEN here');
  });

  t.test('under compose, docker/veloflux.yaml shares its state through the redis service', async (t) => {
    const compose = readYaml('docker/docker-compose.yml');
    const redisUrl = /^\$\{VELOFLUX_REDIS_URL:-(redis:\/\/[^}]+)\}$/.exec(compose.services.veloflux.environment.VELOFLUX_REDIS_URL)?.[1];
    t.equal(redisUrl, 'redis://redis:6379', 'compose sets VELOFLUX_REDIS_URL to the redis service unless overridden');
    const file = join(DOCKER, 'veloflux.yaml');
    const config = validateConfig(parseConfigText(readFileSync(file, 'utf8'), file), file, { VELOFLUX_REDIS_URL: redisUrl });
    t.match(config.server.redis, { url: 'redis://redis:6379', keyPrefix: 'veloflux:' }, 'which becomes server.redis: the Redis state store');
    await t.rejects(resolveApiSecrets(config.server, {}), /VELOFLUX_JWT_SECRET/, 'with Redis, VeloFlux refuses to start without a shared token key');
    const secrets = await resolveApiSecrets(config.server, { VELOFLUX_JWT_SECRET: 'x'.repeat(48), VELOFLUX_ALERT_WEBHOOK_TOKEN: 'y'.repeat(32) });
    t.match(secrets, { jwtSecret: 'x'.repeat(48), alertWebhookToken: 'y'.repeat(32) }, 'and starts with the secrets compose requires');
  });
}

// Run only when tap runs this file, not when another test imports EXPECTED_METRICS.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) runTests();
