/**
 * What the dashboard's browser tests share (not a test file: tap runs only *.test.ts): a real
 * VeloFlux with two real upstreams, laid out like the repo's veloflux.yaml (the load balancer
 * sends /api/ to the main API and the rest to the dashboard) plus a `web` pool under /web/ for
 * traffic, on fixed free ports so a restart comes back where the open page expects it; one
 * Debian Chromium (never a downloaded browser); and the waits that keep a noisy 2-core machine
 * from flaking tests (conditions with generous deadlines, never sleeps as assertions).
 */
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiCall } from '../helpers/api.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';
import { launchVeloflux, startVeloflux, TEST_API_ADMIN, type RunningVeloflux } from '../helpers/veloflux.js';

export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
export const AXE_SOURCE_PATH = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));

/** Generous: two cores shared with other test files and other people's work. */
export const WAIT_MS = 30_000;
/** Start-up on a loaded machine (health probes, workers forking) can take far longer than the helper's default 15 s. */
const READY_MS = 60_000;

export interface Credentials {
  email: string;
  password: string;
}

export class DashboardStack {
  vf!: RunningVeloflux;
  readonly upstreams: Upstream[] = [];
  browser!: Browser;
  readonly #contexts: BrowserContext[] = [];

  static async start(): Promise<DashboardStack> {
    const stack = new DashboardStack();
    mkdirSync(ARTIFACTS, { recursive: true });
    const [apiPort, dashboardPort, httpPort] = [await closedPort(), await closedPort(), await closedPort()];
    stack.upstreams.push(await startUpstream(), await startUpstream());
    const [web1, web2] = stack.upstreams;
    [stack.vf, stack.browser] = await Promise.all([
      startVeloflux({
        server: { http: { port: httpPort, host: '127.0.0.1' }, api: { port: apiPort, host: '127.0.0.1' }, dashboard: { port: dashboardPort, host: '127.0.0.1' } },
        pools: [
          { name: 'web', algorithm: 'round_robin', backends: [{ id: 'web-1', url: web1!.url }, { id: 'web-2', url: web2!.url }], healthCheck: { path: '/health', interval: '2s', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 5 } },
          { name: 'api', backends: [{ id: 'api-1', url: `http://127.0.0.1:${apiPort}` }] },
          { name: 'dashboard', backends: [{ id: 'dashboard-1', url: `http://127.0.0.1:${dashboardPort}` }] },
        ],
        // A tenant's route and plans, for the Billing page.
        billing: { defaultPlan: 'starter', plans: [{ id: 'starter', name: 'Starter', price: 900, included: { requests: 50, bytes: '1mb' }, overage: { requests: [{ price: 10, per: 10 }] } }, { id: 'growth', name: 'Growth', price: 2900 }] },
        routes: [
          { host: '*', path: '/api/', pool: 'api' },
          { host: '*', path: '/web/', pool: 'web' },
          { host: '*', path: '/shop/', pool: 'web', tenant: 'shop' },
          { host: '*', path: '/guarded/', pool: 'web', security: { mode: 'block' } },
          { host: '*', path: '/', pool: 'dashboard' },
        ],
      }, { readyTimeoutMs: READY_MS }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] }),
    ]);
    return stack;
  }

  /** Stops VeloFlux and starts it again on the same config file, ports and data. */
  async restart(whileDown?: () => Promise<void>): Promise<void> {
    await this.vf.stop();
    await whileDown?.();
    this.vf = await launchVeloflux(this.vf.configFile, { readyTimeoutMs: READY_MS });
  }

  async newPage(options: BrowserContextOptions = {}): Promise<Page> {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    this.#contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    return page;
  }

  /** Opens `url` (the login form shows for every path without a session) and logs in there. */
  async logIn(page: Page, url: string, who: Credentials = TEST_API_ADMIN): Promise<void> {
    await page.goto(url);
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
  }

  /** The admin's access token, for setting up through the API. */
  async adminToken(): Promise<string> {
    const login = await apiCall(this.vf.apiUrl, '/api/auth/login', { body: TEST_API_ADMIN });
    if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
    return login.body.accessToken as string;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#contexts.map((c) => c.close()));
    await Promise.allSettled([this.browser?.close(), this.vf?.stop(), ...this.upstreams.map((u) => u.close())]);
  }
}

/** Which upstream port answered each of `count` requests through the proxy to /web/. */
export async function answeringPorts(vf: RunningVeloflux, count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${vf.url}/web/probe-${i}`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`/web/ answered ${res.status}`);
    ports.push(Number(res.headers.get('x-upstream-port')));
  }
  return ports;
}

/**
 * Requests through the proxy at about `perSecond`, in small batches every 100 ms, until stopped.
 * Returns how many were answered. Paced, not flooding: the machine stays responsive for the browser.
 */
export function sendTraffic(vf: RunningVeloflux, perSecond: number): { stop: () => Promise<number> } {
  let answered = 0;
  let running = true;
  const inFlight = new Set<Promise<void>>();
  const perTick = Math.max(1, Math.round(perSecond / 10));
  const timer = setInterval(() => {
    if (!running) return;
    for (let i = 0; i < perTick; i++) {
      const p: Promise<void> = fetch(`${vf.url}/web/load`)
        .then((res) => res.arrayBuffer())
        .then(() => void answered++)
        .catch(() => undefined)
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, 100);
  return {
    stop: async () => {
      running = false;
      clearInterval(timer);
      await Promise.all(inFlight);
      return answered;
    },
  };
}
