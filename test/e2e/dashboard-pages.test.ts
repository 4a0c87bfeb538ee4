/**
 * The dashboard as served through the load balancer with the repo's own layout (`/api/` to the
 * main API, the rest to the dashboard): the app answers on `/` and `/dashboard`, deep links
 * reload, unknown assets are 404s rather than the app; every page passes an axe-core scan with
 * no serious or critical violation, and is saved as a screenshot under test-artifacts/ (light and
 * dark at 1280 px, and a phone width) for a person to look at.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { apiCall } from '../helpers/api.js';
import { ARTIFACTS, AXE_SOURCE_PATH, DashboardStack, sendTraffic, WAIT_MS } from './dashboard-stack.js';

const AXE_SOURCE = readFileSync(AXE_SOURCE_PATH, 'utf8');

// A real VeloFlux, a restart and a browser on a shared 2-core machine: room beyond .taprc's 120 s when it is busy.
t.setTimeout(240_000);

let stack: DashboardStack;
t.before(async () => {
  stack = await DashboardStack.start();
});
t.teardown(() => stack?.stop());

const PAGES = [
  { path: '/', name: 'Overview', file: 'overview' },
  { path: '/backends', name: 'Backends', file: 'backends' },
  { path: '/routes', name: 'Routes & pools', file: 'routes' },
  { path: '/billing', name: 'Billing', file: 'billing' },
  { path: '/ai', name: 'AI', file: 'ai' },
  { path: '/security', name: 'Security', file: 'security' },
  { path: '/tenants', name: 'Tenants', file: 'tenants' },
  { path: '/users', name: 'Users', file: 'users' },
  { path: '/logs', name: 'Logs', file: 'logs' },
] as const;

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** axe-core's serious and critical findings on the page as it is now (injected once per document). */
async function seriousViolations(page: Page): Promise<Violation[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, options: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
}

/** Client-side navigation through the menu, then wait until the page shows data rather than "Loading". */
async function openPage(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, level: 1, exact: true }).waitFor();
  await page.waitForFunction(() => document.querySelector('.state-loading') === null, undefined, { timeout: WAIT_MS });
  if (name === 'Overview') await page.locator('.chart canvas').nth(3).waitFor();
  if (name === 'Backends') await page.locator('tr[data-backend="web-1"]').waitFor();
  if (name === 'Routes & pools') await page.getByRole('heading', { name: 'web', level: 3 }).waitFor();
}

async function shoot(page: Page, file: string): Promise<void> {
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${file}.png`), fullPage: true });
}

t.test('through the load balancer: / and /dashboard are the app, unknown assets are 404', async (t) => {
  for (const path of ['/', '/dashboard', '/backends']) {
    const res = await fetch(`${stack.vf.url}${path}`);
    t.equal(res.status, 200, path);
    t.match(res.headers.get('content-type'), /^text\/html/, path);
    t.match(await res.text(), /<div id="root"><\/div>/, `${path} is the app`);
  }
  for (const path of ['/assets/index-missing.js', '/assets/nope.css', '/favicon.png', '/robots.txt']) {
    const res = await fetch(`${stack.vf.url}${path}`);
    await res.arrayBuffer();
    t.equal(res.status, 404, `${path}: a missing file, not the app`);
  }
});

t.test('log in through the load balancer; a deep link reloads into the same page', async (t) => {
  const page = await stack.newPage();
  await page.goto(`${stack.vf.url}/backends`);
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  t.match(page.url(), /\/login\?next=%2Fbackends$/, 'the login form remembers where the user was going');
  await page.getByLabel('Email').fill('admin@test.local');
  await page.getByLabel('Password').fill('wrong-password-0123');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();
  t.pass('a wrong password says so');

  await stack.logIn(page, `${stack.vf.url}/backends`);
  await page.getByRole('heading', { name: 'Backends', level: 1 }).waitFor();
  await page.locator('tr[data-backend="web-1"]').waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Backends', level: 1 }).waitFor();
  await page.locator('tr[data-backend="web-1"]').waitFor();
  t.equal(await page.getByRole('button', { name: 'Log in' }).count(), 0, 'the reload kept the session (refresh cookie), no login form');

  // Two tabs restoring the session at once both refresh with the one rotating cookie. Tab A's
  // refresh reaches the API (which rotates the token) but its answer, with the new cookie, is held
  // back while tab B starts: B must wait for A (Web Locks) instead of presenting the used cookie,
  // which the API treats as theft and answers by ending the session for both.
  let releaseA!: () => void;
  const aHeld = new Promise<void>((resolve) => (releaseA = resolve));
  let aArrived!: () => void;
  const aSent = new Promise<void>((resolve) => (aArrived = resolve));
  await page.route('**/api/auth/refresh', async (route) => {
    const answer = await route.fetch();
    aArrived();
    await aHeld;
    await route.fulfill({ response: answer });
  });
  const reloadA = page.reload();
  await aSent;
  const second = await page.context().newPage();
  const bRefreshes: string[] = [];
  second.on('request', (req) => {
    if (req.url().endsWith('/api/auth/refresh')) bRefreshes.push(req.url());
  });
  await second.goto(`${stack.vf.url}/routes`, { waitUntil: 'load' });
  // B's script ran and asked to restore the session: a refresh it did not hold back would be sent by now.
  if (bRefreshes.length === 0) await second.waitForRequest('**/api/auth/refresh', { timeout: 1500 }).catch(() => undefined);
  t.equal(bRefreshes.length, 0, 'tab B waits while tab A refreshes');
  releaseA();
  await reloadA;
  await page.getByRole('heading', { name: 'Backends', level: 1 }).waitFor();
  await second.getByRole('heading', { name: 'Routes & pools', level: 1 }).waitFor();
  await page.unroute('**/api/auth/refresh');
  await page.reload();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
  await second.close();
  t.pass('both tabs are logged in, and the session still refreshes');
  await page.goto(`${stack.vf.url}/no-such-page`);
  await page.getByRole('heading', { name: 'Not found', level: 1 }).waitFor();
  t.pass('an unknown client route shows a not-found page inside the app');

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  await page.reload();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  t.equal(await page.getByRole('button', { name: 'Log out' }).count(), 0, 'after logout a reload does not bring the session back');
});

t.test('tenant form: the API validation error shows next to its field, then the tenant is created', async (t) => {
  const page = await stack.newPage({ bypassCSP: true });
  await stack.logIn(page, `${stack.vf.url}/tenants`);
  await page.getByRole('button', { name: 'New tenant' }).click();
  await page.getByLabel('Id').fill('not valid!');
  await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  const id = page.getByLabel('Id');
  await page.locator('input[aria-invalid="true"]').first().waitFor();
  t.equal(await id.getAttribute('aria-invalid'), 'true', 'the Id field is marked invalid');
  const describedBy = (await id.getAttribute('aria-describedby'))!.split(' ')[0]!;
  t.match(await page.locator(`[id="${describedBy}"]`).textContent(), /pattern|match/i, 'and the API problem is right under it');
  t.same(await seriousViolations(page), [], 'the form with its error: no serious or critical axe violations');
  await shoot(page, 'tenants-form-error');

  await id.fill('acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.locator('tr[data-tenant="acme"]').waitFor();
  t.pass('created and listed');
});

t.test("billing: a tenant's metered requests and cost on the page are the API's", async (t) => {
  const token = await stack.adminToken();
  await apiCall(stack.vf.apiUrl, '/api/tenants', { token, body: { id: 'shop', name: 'Shop' } });
  for (let i = 0; i < 60; i++) {
    const res = await fetch(`${stack.vf.url}/shop/item-${i}`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
  }
  // Metering follows traffic by a second or two.
  const deadline = Date.now() + WAIT_MS;
  let usage: { usage: { requests: number }; costSoFar: { amount: number } } | undefined;
  while (Date.now() < deadline) {
    usage = (await apiCall(stack.vf.apiUrl, '/api/billing/usage?tenant=shop', { token })).body;
    if (usage!.usage.requests >= 60) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.equal(usage!.usage.requests, 60, 'the API meters the 60 requests');
  // 10 over the 50 included at 10 cents per 10: $9.00 + $0.10.
  t.equal(usage!.costSoFar.amount, 910);
  const page = await stack.newPage();
  await stack.logIn(page, `${stack.vf.url}/billing`);
  await page.getByRole('heading', { name: 'Usage this period · shop' }).waitFor();
  const facts = page.locator('dl.facts');
  await facts.getByText('$9.10').waitFor();
  t.match(await facts.textContent(), /Requests\s*60/, 'the page shows the same count');
  t.equal(await page.getByRole('progressbar', { name: /Requests against the plan: 60 of 50/ }).count(), 1, 'and a bar against what the plan includes');

  // A plan change: previewed (nothing changes), then confirmed.
  await page.getByLabel('New plan').selectOption('growth');
  await page.getByRole('button', { name: 'Preview' }).click();
  const preview = page.getByRole('region', { name: 'Plan change preview' });
  await preview.waitFor();
  t.match(await preview.textContent(), /starter → growth, at once/, 'a dearer plan applies at once');
  t.equal(await preview.getByRole('row').count(), 2 + 2, 'a credit and a charge line (plus header and total)');
  t.not((await apiCall(stack.vf.apiUrl, '/api/tenants/shop', { token })).body.plan, 'growth', 'the preview changed nothing');
  await preview.getByRole('button', { name: 'Confirm the change to growth' }).click();
  await page.getByText('shop is now on growth.').waitFor();
  t.equal((await apiCall(stack.vf.apiUrl, '/api/tenants/shop', { token })).body.plan, 'growth', 'confirmed through the API');
  await page.getByRole('heading', { name: 'Invoices' }).waitFor();
  t.equal(await page.getByText('No invoice yet').count(), 1, 'no invoice before the period ends');
});

t.test('security: a blocked attack shows as an event with its request id; the live deny list is edited from the page', async (t) => {
  const attack = await fetch(`${stack.vf.url}/guarded/search?q=${encodeURIComponent("' UNION SELECT password FROM users--")}`, { headers: { connection: 'close' } });
  t.equal(attack.status, 403, 'blocked by the filter');
  const requestId = attack.headers.get('x-request-id')!;
  await attack.arrayBuffer();
  const page = await stack.newPage();
  await stack.logIn(page, `${stack.vf.url}/security`);
  const row = page.locator(`tr[data-event="${requestId}"]`);
  await row.waitFor();
  t.match(await row.textContent(), /blocked.*\/guarded\/search.*sqli/s, 'the event: action, path and the rule category');
  t.match(await page.getByRole('region', { name: 'Security mode per route' }).textContent(), /\/guarded\/\s*web\s*block/, "the route's mode");
  await page.getByText(/last hour: [1-9]\d* blocked/).waitFor();
  t.pass('the per-minute counts add up the blocked request');

  await page.getByLabel('Deny (403 on every route)').fill('203.0.113.9\n198.51.100.0/24');
  await page.getByRole('button', { name: 'Save the lists' }).click();
  await page.getByText('Saved: every worker applies the lists').waitFor();
  const token = await stack.adminToken();
  t.same((await apiCall(stack.vf.apiUrl, '/api/security/ip-lists', { token })).body.deny, ['203.0.113.9', '198.51.100.0/24'], 'the API has the lists the page saved');
  await page.getByLabel('Deny (403 on every route)').fill('10.0.0.0/33');
  await page.getByRole('button', { name: 'Save the lists' }).click();
  await page.getByRole('alert').filter({ hasText: '10.0.0.0/33' }).waitFor();
  t.pass("an invalid CIDR shows the API's error naming it");
  await apiCall(stack.vf.apiUrl, '/api/security/ip-lists', { token, method: 'PUT', body: {} });
});

t.test('every page: no serious or critical axe violations, and a screenshot', async (t) => {
  // Some traffic and a second user, so tables and charts have something real to show.
  const token = await stack.adminToken();
  await apiCall(stack.vf.apiUrl, '/api/admin/users', { token, body: { email: 'operator@test.local', password: 'operator-password-0123', role: 'operator', name: 'Olga Operator' } });
  const traffic = sendTraffic(stack.vf, 20);
  try {
    // bypassCSP for this scan only: axe is injected as an inline script, which the dashboard's CSP forbids.
    const page = await stack.newPage({ bypassCSP: true });
    await page.goto(`${stack.vf.url}/`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    t.same(await seriousViolations(page), [], 'Login: no serious or critical violations');
    await shoot(page, 'login');
    await stack.logIn(page, `${stack.vf.url}/`);
    await page.reload();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content', 'the first Tab reaches the skip link');
    await page.keyboard.press('Enter');
    t.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'which moves focus to the page content');
    for (const { name, file } of PAGES) {
      await openPage(page, name);
      t.same(await seriousViolations(page), [], `${name}: no serious or critical violations`);
      await shoot(page, file);
      if (name === 'Routes & pools') {
        const web = page.getByRole('row').filter({ has: page.getByRole('cell', { name: '/web/', exact: true }) });
        t.equal(await web.getByRole('cell', { name: 'web', exact: true }).count(), 1, 'the route /web/ goes to pool web, as configured');
        t.match(await page.getByRole('article').filter({ has: page.getByRole('heading', { name: 'web', level: 3 }) }).textContent(), /path: \/health.*interval: 2 s/, 'the pool shows its health check');
      }
      if (name === 'Users') await page.locator('tr[data-user="operator@test.local"]').waitFor();
      if (name === 'AI') {
        const models = page.getByRole('region', { name: 'Forecast models' });
        t.equal(await models.getByRole('rowheader', { name: 'pool web', exact: true }).count(), 1, 'the AI page lists pool web among the modelled series');
        const ai = (await apiCall(stack.vf.apiUrl, '/api/ai/status', { token })).body as { pools: { name: string; coverage: { needed: number } | null }[] };
        const web = ai.pools.find((p) => p.name === 'web');
        t.match(await models.getByRole('row').filter({ hasText: 'pool web' }).textContent(), new RegExp(`of ${web?.coverage?.needed ?? 'x'}`), 'with the data coverage the API reports');
      }
      if (name === 'Logs') {
        await page.getByRole('log').getByText('veloflux ready').waitFor();
        await page.getByLabel('Minimum level').selectOption('warn');
        await page.waitForFunction(() => !document.querySelector('[role="log"]')?.textContent?.includes('veloflux ready'), undefined, { timeout: WAIT_MS });
        t.pass('logs show the primary\'s lines, and the level filter hides info lines');
        await page.getByLabel('Minimum level').selectOption('info');
      }
    }
    for (const [scheme, viewport, suffix] of [
      ['dark', { width: 1280, height: 900 }, 'dark'],
      ['light', { width: 390, height: 844 }, 'phone'],
    ] as const) {
      const other = await stack.newPage({ bypassCSP: true, colorScheme: scheme, viewport });
      await stack.logIn(other, `${stack.vf.url}/`);
      for (const { name, file } of PAGES) {
        await openPage(other, name);
        if (scheme === 'dark') t.same(await seriousViolations(other), [], `${name} (dark): no serious or critical violations`);
        const overflow = await other.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        t.ok(overflow <= 1, `${name} (${suffix}): the page does not scroll sideways (wide tables scroll in their own region)`);
        await shoot(other, `${file}-${suffix}`);
      }
    }
  } finally {
    await traffic.stop();
  }
});
