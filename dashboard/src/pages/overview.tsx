/**
 * Overview: the last minute of traffic (requests/s, errors, latency percentiles, connections),
 * one point a second; the cluster's nodes and leader; instance health and firing alerts; the
 * config version. All from the feed streams and /api/metrics/realtime.
 */
import type { ReactNode } from 'react';
import type { ApiNode, RealtimePoint, StoredAlert } from '../api/types.js';
import { ErrorMessage, Empty, Loading, StreamBadge, useNow } from '../components/states.js';
import { TimeChart } from '../components/time-chart.js';
import { formatAgo, formatCount, formatDuration, formatMs, formatPercent, formatRate, formatTime } from '../format.js';
import { useRealtimeHealth, useRealtimeMetrics, useRealtimeStatus } from '../streams/hooks.js';

export function OverviewPage() {
  const { points, stream, loading, error } = useRealtimeMetrics();
  const series: readonly RealtimePoint[] = points;
  const latest = series.at(-1);
  const ts = series.map((p) => p.ts);
  const errorRatio = latest === undefined || latest.requests === 0 ? null : (latest.errors4xx + latest.errors5xx) / latest.requests;

  return (
    <>
      <div className="page-head">
        <h1>Overview</h1>
        <StreamBadge snapshot={stream} label="Live metrics" />
      </div>
      {error !== undefined && <ErrorMessage>Could not read the last minute of traffic: {error}</ErrorMessage>}
      <section aria-labelledby="now-heading">
        <h2 id="now-heading" className="visually-hidden">
          Now
        </h2>
        <dl className="stats">
          <Stat label="Requests/s" value={formatRate(latest?.requests)} testId="stat-requests" ts={latest?.ts} raw={latest?.requests} />
          <Stat label="Errors 4xx / 5xx per s" value={latest === undefined ? '–' : `${formatRate(latest.errors4xx)} / ${formatRate(latest.errors5xx)}`} />
          <Stat label="Error rate" value={formatPercent(errorRatio)} />
          <Stat label="p50 / p95 / p99" value={latest === undefined ? '–' : `${formatMs(latest.p50Ms)} / ${formatMs(latest.p95Ms)} / ${formatMs(latest.p99Ms)}`} />
          <Stat label="Connections" value={formatCount(latest?.activeConnections)} />
          <Stat label="WebSockets" value={formatCount(latest?.activeWebSockets)} />
        </dl>
        {latest !== undefined && (
          <p className="muted small">
            Last second closed at {formatTime(latest.ts)}
            {stream.data?.totals != null && <>; {formatCount(stream.data.totals.requests)} requests since start</>}.
          </p>
        )}
      </section>

      <section aria-labelledby="traffic-heading">
        <h2 id="traffic-heading">Last 60 seconds</h2>
        {loading && series.length === 0 ? (
          <Loading what="traffic" />
        ) : series.length === 0 ? (
          error === undefined && <Empty>No traffic history yet: the first second is being recorded.</Empty>
        ) : (
          <div className="chart-grid">
            <ChartPanel title="Requests per second">
              <TimeChart title="Requests per second" ts={ts} format={formatRate} series={[{ label: 'req/s', colorVar: '--chart-1', values: series.map((p) => p.requests) }]} />
            </ChartPanel>
            <ChartPanel title="Errors per second">
              <TimeChart
                title="Errors per second"
                ts={ts}
                format={formatRate}
                series={[
                  { label: '4xx/s', colorVar: '--chart-warn', values: series.map((p) => p.errors4xx) },
                  { label: '5xx/s', colorVar: '--chart-bad', values: series.map((p) => p.errors5xx) },
                ]}
              />
            </ChartPanel>
            <ChartPanel title="Latency">
              <TimeChart
                title="Latency percentiles"
                ts={ts}
                format={formatMs}
                series={[
                  { label: 'p50', colorVar: '--chart-1', values: series.map((p) => p.p50Ms) },
                  { label: 'p95', colorVar: '--chart-2', values: series.map((p) => p.p95Ms) },
                  { label: 'p99', colorVar: '--chart-3', values: series.map((p) => p.p99Ms) },
                ]}
              />
            </ChartPanel>
            <ChartPanel title="Active connections and WebSockets">
              <TimeChart
                title="Active connections and WebSockets"
                ts={ts}
                format={formatCount}
                integer
                series={[
                  { label: 'connections', colorVar: '--chart-1', values: series.map((p) => p.activeConnections) },
                  { label: 'WebSockets', colorVar: '--chart-2', values: series.map((p) => p.activeWebSockets) },
                ]}
              />
            </ChartPanel>
          </div>
        )}
      </section>

      <div className="two-columns">
        <ClusterPanel />
        <HealthPanel />
      </div>
    </>
  );
}

function Stat({ label, value, testId, ts, raw }: { label: string; value: string; testId?: string; ts?: number | undefined; raw?: number | undefined }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd data-testid={testId} data-ts={ts} data-value={raw}>
        {value}
      </dd>
    </div>
  );
}

function ChartPanel({ title, children }: { title: string; children: ReactNode }) {
  return (
    <figure className="panel chart-panel">
      <figcaption>{title}</figcaption>
      {children}
    </figure>
  );
}

function ClusterPanel() {
  const status = useRealtimeStatus();
  const now = useNow();
  const data = status.data;
  return (
    <section className="panel" aria-labelledby="cluster-heading">
      <div className="panel-head">
        <h2 id="cluster-heading">Cluster</h2>
        <StreamBadge snapshot={status} label="Cluster status" />
      </div>
      {data === undefined ? (
        status.phase === 'connecting' ? <Loading what="cluster status" /> : <ErrorMessage>No cluster status yet: the status stream is {status.phase}.</ErrorMessage>
      ) : (
        <>
          <dl className="facts">
            <dt>Version</dt>
            <dd>{data.version}</dd>
            <dt>Config version</dt>
            <dd data-testid="config-version">{data.configVersion}</dd>
            <dt>Uptime</dt>
            <dd>{formatDuration(data.uptimeSeconds)}</dd>
            <dt>Leader</dt>
            <dd data-testid="leader">{data.leader ?? 'none elected yet'}</dd>
          </dl>
          {data.nodes.length === 0 ? (
            <Empty>No nodes listed yet (the instance is joining the cluster).</Empty>
          ) : (
            <div className="table-scroll" tabIndex={0} role="region" aria-label="Cluster nodes">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Node</th>
                    <th scope="col">Address</th>
                    <th scope="col">Version</th>
                    <th scope="col">Last seen</th>
                  </tr>
                </thead>
                <tbody>
                  {data.nodes.map((node: ApiNode) => (
                    <tr key={node.id}>
                      <td>
                        <code>{node.id}</code> {node.id === data.leader && <span className="tag tag-info">leader</span>} {node.self && <span className="tag">this node</span>}
                      </td>
                      <td>{node.address}</td>
                      <td>{node.version}</td>
                      <td>{formatAgo(node.lastSeen, now)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

const HEALTH_TEXT = { up: 'Up', degraded: 'Degraded', down: 'Down' } as const;
const HEALTH_CLASS = { up: 'healthy', degraded: 'draining', down: 'down' } as const;

function HealthPanel() {
  const health = useRealtimeHealth();
  const now = useNow(5000);
  const data = health.data;
  const firing = (data?.alerts ?? []).filter((a: StoredAlert) => a.status === 'firing');
  return (
    <section className="panel" aria-labelledby="health-heading">
      <div className="panel-head">
        <h2 id="health-heading">Health and alerts</h2>
        <StreamBadge snapshot={health} label="Health" />
      </div>
      {data === undefined ? (
        health.phase === 'connecting' ? <Loading what="health" /> : <ErrorMessage>No health data yet: the health stream is {health.phase}.</ErrorMessage>
      ) : (
        <>
          <p>
            Instance: <span className={`status status-${HEALTH_CLASS[data.status]}`}>{HEALTH_TEXT[data.status]}</span>
          </p>
          <dl className="facts">
            <dt>Workers</dt>
            <dd>
              {data.workers.ready} ready of {data.workers.expected} ({data.workers.alive} alive)
            </dd>
            <dt>State store</dt>
            <dd>
              {data.state.backend}, {data.state.available ? 'available' : 'unavailable'} since {formatAgo(data.state.since, now)}
            </dd>
          </dl>
          <h3>Firing alerts</h3>
          {data.alerts === undefined ? (
            <Empty>Alerts are shown to users without a tenant.</Empty>
          ) : firing.length === 0 ? (
            <Empty>No alert is firing.</Empty>
          ) : (
            <ul className="alerts">
              {firing.map((alert, i) => (
                <li key={alert.fingerprint ?? i} className="alert">
                  <strong>{alert.labels.alertname ?? 'alert'}</strong> {alert.labels.severity !== undefined && <span className="tag tag-bad">{alert.labels.severity}</span>}{' '}
                  <span>{alert.annotations.summary ?? alert.annotations.description ?? ''}</span> <span className="muted small">since {formatAgo(alert.startsAt ?? alert.receivedAt, now)}</span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
