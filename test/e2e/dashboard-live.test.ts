/**
 * The dashboard against a live VeloFlux in Debian's Chromium (issue 15): what an operator sees
 * follows real traffic, a drain from the Backends page really moves traffic, a viewer gets no
 * controls and the API refuses what the page would not offer, and an open page survives a
 * restart of VeloFlux on its own.
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import { apiCall } from '../helpers/api.js';
import { answeringPorts, DashboardStack, sendTraffic, WAIT_MS } from './dashboard-stack.js';

// A real VeloFlux, a restart and a browser on a shared 2-core machine: room beyond .taprc's 120 s when it is busy.
t.setTimeout(240_000);

let stack: DashboardStack;
let admin: Page;

t.before(async () => {
  stack = await DashboardStack.start();
  admin = await stack.newPage();
});
t.teardown(() => stack?.stop());

/** The newest second the overview shows: its end (ms) and requests/s, as the page renders them. */
async function latestShown(page: Page): Promise<{ ts: number; value: number } | undefined> {
  const stat = page.getByTestId('stat-requests');
  const [ts, value] = await Promise.all([stat.getAttribute('data-ts'), stat.getAttribute('data-value')]);
  return ts === null || value === null ? undefined : { ts: Number(ts), value: Number(value) };
}

t.test('an admin logs in; the overview follows real traffic, second by second', async (t) => {
  await stack.logIn(admin, `${stack.vf.dashboardUrl}/`);
  await admin.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  // Seeded from /api/metrics/realtime on first paint: four charts drawn before any traffic.
  await admin.locator('.chart canvas').nth(3).waitFor();
  t.equal(await admin.locator('.chart canvas').count(), 4, 'requests, errors, latency, connections');
  const status = await apiCall(stack.vf.apiUrl, '/api/status', { token: await stack.adminToken() });
  await admin.getByTestId('config-version').filter({ hasText: String(status.body.configVersion) }).waitFor();
  if (status.body.leader !== null) await admin.getByTestId('leader').filter({ hasText: status.body.leader }).waitFor();
  t.equal(await admin.getByRole('cell', { name: status.body.nodeId }).count(), 1, 'the cluster table lists this node');
  const before = await latestShown(admin);
  t.equal(before?.value, 0, 'nothing went through the proxy yet (the dashboard itself talks to the API, not the proxy)');

  const traffic = sendTraffic(stack.vf, 30);
  try {
    await admin.waitForFunction(() => Number(document.querySelector('[data-testid="stat-requests"]')?.getAttribute('data-value')) >= 10, undefined, { timeout: WAIT_MS });
    const shown = (await latestShown(admin))!;
    const realtime = await apiCall(stack.vf.apiUrl, '/api/metrics/realtime');
    const points = realtime.body.points as { ts: number; requests: number }[];
    const same = points.find((p) => p.ts === shown.ts);
    t.ok(same !== undefined, 'the page shows a second the API has');
    t.equal(shown.value, same!.requests, 'the same requests/s as the API for that second');
    t.ok(points.at(-1)!.ts - shown.ts <= realtime.body.intervalMs, 'and at most one second behind the API');

    // Against the cumulative counter of /api/metrics: a second's worth of its growth is what the page shows.
    const m1 = await apiCall(stack.vf.apiUrl, '/api/metrics');
    await admin.waitForFunction((ts) => Number(document.querySelector('[data-testid="stat-requests"]')?.getAttribute('data-ts')) > ts + 2000, m1.body.ts as number, { timeout: WAIT_MS });
    const m2 = await apiCall(stack.vf.apiUrl, '/api/metrics');
    const perSecond = ((m2.body.totals.requests - m1.body.totals.requests) / (m2.body.ts - m1.body.ts)) * 1000;
    const now = (await latestShown(admin))!;
    t.ok(Math.abs(now.value - perSecond) <= Math.max(5, perSecond * 0.5), `page ${now.value} req/s vs /api/metrics ${perSecond.toFixed(1)} req/s`);
  } finally {
    await traffic.stop();
  }
});

t.test('drain from the Backends page: traffic avoids the backend, the row says draining; undrain restores', async (t) => {
  const [web1, web2] = stack.upstreams;
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Backends' }).click();
  const row = admin.locator('tr[data-backend="web-1"]');
  await admin.locator('tr[data-backend="web-1"][data-status="healthy"]').waitFor();
  await row.getByText('passed').waitFor();
  t.pass('the last health check of web-1 is shown as passed');

  await row.getByRole('button', { name: 'Drain web-1' }).click();
  await admin.locator('tr[data-backend="web-1"][data-status="draining"]').waitFor();
  t.match(await row.locator('.status').textContent(), /draining/, 'the status reads draining, not just a colour');
  const drained = await answeringPorts(stack.vf, 12);
  t.same(new Set(drained), new Set([web2!.port]), 'every request went to web-2');

  await row.getByRole('button', { name: 'Undrain web-1' }).click();
  await admin.locator('tr[data-backend="web-1"][data-status="healthy"]').waitFor();
  const restored = await answeringPorts(stack.vf, 12);
  t.ok(restored.includes(web1!.port) && restored.includes(web2!.port), 'both backends answer again');
});

t.test('change a weight with the keyboard alone; the API and the table agree', async (t) => {
  const row = admin.locator('tr[data-backend="web-2"]');
  await row.getByRole('button', { name: 'Change weight of web-2' }).focus();
  await admin.keyboard.press('Enter');
  t.equal(await admin.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'New weight of web-2', 'the weight field takes focus');
  await admin.keyboard.press('ControlOrMeta+A');
  await admin.keyboard.type('3');
  await admin.keyboard.press('Enter');
  await row.locator('td.num').first().filter({ hasText: /^3$/ }).waitFor();
  const answer = await apiCall(stack.vf.apiUrl, '/api/backends/web-2', { token: await stack.adminToken() });
  t.equal(answer.body.weight, 3, 'saved through the API');

  await row.getByRole('button', { name: 'Change weight of web-2' }).click();
  await row.getByLabel('New weight of web-2').fill('1');
  await row.getByRole('button', { name: 'Save' }).click();
  await row.locator('td.num').first().filter({ hasText: /^1$/ }).waitFor();
});

t.test('a viewer sees no write controls, and the API refuses a write forged with their session', async (t) => {
  const viewer = { email: 'viewer@test.local', password: 'viewer-password-0123' };
  const created = await apiCall(stack.vf.apiUrl, '/api/admin/users', { token: await stack.adminToken(), body: { ...viewer, role: 'viewer' } });
  t.equal(created.status, 201, JSON.stringify(created.body));

  const page = await stack.newPage();
  // The page keeps its token in memory only; a script in the page could still replay what the page
  // sends, here the `auth` message of its streams. The API must refuse that token a write.
  const tokens: string[] = [];
  page.on('websocket', (ws) =>
    ws.on('framesent', (frame) => {
      const message = JSON.parse(String(frame.payload)) as { type?: string; token?: string };
      if (message.type === 'auth' && message.token !== undefined) tokens.push(message.token);
    }),
  );
  await stack.logIn(page, `${stack.vf.dashboardUrl}/backends`, viewer);
  await page.locator('tr[data-backend="web-1"]').waitFor();
  t.equal(await page.getByTestId('role').textContent(), 'viewer');
  for (const name of [/^Drain/, /^Undrain/, /weight/i, /^Remove/, /^Add a backend/]) {
    t.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button`);
  }
  const nav = page.getByRole('navigation', { name: 'Main' });
  t.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0, 'no Users page in the menu');
  t.equal(await nav.getByRole('link', { name: 'Tenants' }).count(), 0, 'no Tenants page in the menu');

  t.ok(tokens.length > 0, 'the page authenticated its streams');
  const forged = await page.evaluate(async (token) => {
    const res = await fetch('/api/backends/web-1', { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ drain: true }) });
    return { status: res.status, body: await res.json() };
  }, tokens.at(-1)!);
  t.equal(forged.status, 403, 'refused by the API');
  t.equal(forged.body.error.code, 'VF_ERR_FORBIDDEN');
  const state = await apiCall(stack.vf.apiUrl, '/api/backends/web-1', { token: await stack.adminToken() });
  t.equal(state.body.drain, false, 'and nothing changed');

  await page.goto(`${stack.vf.dashboardUrl}/users`);
  await page.getByRole('heading', { name: 'Not allowed' }).waitFor({ timeout: WAIT_MS });
  t.pass('a deep link to an admin page says it is not allowed');
});

t.test('stop and restart VeloFlux: the open page shows it is stale, then recovers by itself', async (t) => {
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  const badge = admin.getByRole('banner').locator('.badge');
  await admin.getByRole('banner').locator('.badge[data-phase="live"]').waitFor();
  const lastBefore = (await latestShown(admin))!.ts;

  let sawDown = '';
  await stack.restart(async () => {
    await admin.getByRole('banner').locator('.badge[data-phase="reconnecting"], .badge[data-phase="stale"]').waitFor();
    sawDown = (await badge.textContent()) ?? '';
  });
  t.match(sawDown, /Reconnecting|Stale/, `while VeloFlux was down the page said so: "${sawDown}"`);

  await admin.getByRole('banner').locator('.badge[data-phase="live"]').waitFor({ timeout: WAIT_MS });
  await admin.waitForFunction((ts) => Number(document.querySelector('[data-testid="stat-requests"]')?.getAttribute('data-ts')) > ts, lastBefore, { timeout: WAIT_MS });
  t.ok(admin.url().endsWith('/'), 'no reload, no login: the same page came back live');
  t.equal(await admin.getByRole('button', { name: 'Log out' }).count(), 1, 'still logged in');
});
