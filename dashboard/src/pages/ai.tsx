/**
 * AI: what the statistical models know (GET /api/ai/status every 10 s): per pool and route the
 * forecast model, which forecast is served and its holdout errors next to seasonal naive's, data
 * coverage; the chosen series' last hour of requests/s with the forecast and its 95 % interval
 * (GET /api/ai/series and /api/ai/predictions); anomalies and the adaptive balancer's per-backend
 * scores live from /api/ws/ai; a Train button for operators (POST /api/ai/train, then the job).
 */
import { useState } from 'react';
import { useServices, useSession } from '../app-context.js';
import { permissionsOf } from '../auth/session.js';
import type { AiAnomaly, AiFeed, AiPrediction, AiSeriesPoint, AiSeriesStatus, AiStatusView, AiTrainingJob } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { describeError } from '../api/http.js';
import { Empty, ErrorMessage, Loading, StreamBadge } from '../components/states.js';
import { TimeChart } from '../components/time-chart.js';
import { useStream } from '../streams/hooks.js';
import { formatMs, formatRate } from '../format.js';

const HORIZON = 30;

export function AiPage() {
  const status = useApi<AiStatusView>('/api/ai/status', 10_000);
  const stream = useStream<AiFeed>('ai');
  const [key, setKey] = useState<string | undefined>(undefined);
  const keys = status.data === undefined ? [] : [...status.data.pools.map((p) => `pool=${encodeURIComponent(p.name)}`), ...status.data.routes.map((r) => `route=${encodeURIComponent(r.name)}`)];
  const chosen = key ?? keys[0];
  return (
    <>
      <div className="page-head">
        <h1>AI</h1>
        <StreamBadge snapshot={stream} label="AI stream" />
      </div>
      <p className="muted">Statistics on traffic VeloFlux measured itself: Holt-Winters forecasts served only where they beat seasonal naive, robust z-score anomalies, Peak-EWMA balancing.</p>
      {status.error !== undefined ? (
        <ErrorMessage onRetry={status.reload}>Could not read the AI status: {describeError(status.error)}</ErrorMessage>
      ) : status.data === undefined ? (
        <Loading what="models" />
      ) : (
        <>
          {chosen !== undefined && (
            <section className="panel" aria-labelledby="forecast-heading">
              <div className="panel-head">
                <h2 id="forecast-heading">Requests/s: the last hour and the forecast</h2>
                <label className="inline-field">
                  Series{' '}
                  <select value={chosen} onChange={(e) => setKey(e.target.value)}>
                    {keys.map((k) => (
                      <option key={k} value={k}>
                        {decodeURIComponent(k.replace('=', ' '))}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
              <Forecast query={chosen} />
            </section>
          )}
          <ModelsPanel status={status.data} onTrained={status.reload} />
        </>
      )}
      <AnomaliesPanel feed={stream.data} />
      <ScoresPanel feed={stream.data} />
    </>
  );
}

function Forecast({ query }: { query: string }) {
  const series = useApi<{ points: AiSeriesPoint[] }>(`/api/ai/series?${query}&resolution=minute`, 30_000);
  const prediction = useApi<AiPrediction>(`/api/ai/predictions?${query}&horizon=${HORIZON}`, 30_000);
  if (series.error !== undefined) return <ErrorMessage onRetry={series.reload}>Could not read the series: {describeError(series.error)}</ErrorMessage>;
  if (series.data === undefined || prediction.data === undefined) return <Loading what="the series" />;
  const past = series.data.points.slice(-60);
  const future = prediction.data.status === 'ok' ? prediction.data.points : [];
  const ts = [...past.map((p) => p.t), ...future.map((p) => p.t)];
  const pad = (n: number) => Array.from({ length: n }, () => null);
  return (
    <>
      {past.length + future.length === 0 ? (
        <Empty>No minute of traffic recorded yet for this series.</Empty>
      ) : (
        <TimeChart
          title="Requests per second, measured and forecast"
          ts={ts}
          format={formatRate}
          series={[
            { label: 'measured', colorVar: '--chart-1', values: [...past.map((p) => p.requestsPerSecond), ...pad(future.length)] },
            { label: 'forecast', colorVar: '--chart-2', values: [...pad(past.length), ...future.map((p) => p.value)] },
            { label: 'lower 95 %', colorVar: '--chart-3', values: [...pad(past.length), ...future.map((p) => p.lower)] },
            { label: 'upper 95 %', colorVar: '--chart-3', values: [...pad(past.length), ...future.map((p) => p.upper)] },
          ]}
        />
      )}
      <p className="muted" role="status">
        {prediction.data.status === 'ok'
          ? `Forecast: ${prediction.data.model.serving === 'holt_winters' ? 'Holt-Winters' : 'seasonal naive'} (model v${prediction.data.model.version}, trained ${new Date(prediction.data.model.trainedAt).toLocaleString()}), ${HORIZON} minutes ahead.`
          : prediction.data.status === 'insufficient_data'
            ? `No forecast yet: ${prediction.data.have} of the ${prediction.data.needed} gap-free minutes a model needs.`
            : `Enough data (${prediction.data.have} minutes), not trained yet.`}
      </p>
    </>
  );
}

function errors(model: AiSeriesStatus['model']): string {
  const h = model?.holdout;
  if (h === undefined) return '–';
  const mape = (m: number | null) => (m === null ? '' : `, ${formatRate(m)} %`);
  return `${formatRate(h.model.mae)}${mape(h.model.mape)} vs naive ${formatRate(h.seasonalNaive.mae)}${mape(h.seasonalNaive.mape)}`;
}

function ModelsPanel({ status, onTrained }: { status: AiStatusView; onTrained: () => void }) {
  const session = useSession();
  const canTrain = permissionsOf(session.status === 'authenticated' ? session.user : undefined).operate;
  const rows = [...status.pools.map((p) => ({ ...p, what: `pool ${p.name}` })), ...status.routes.map((r) => ({ ...r, what: `route ${r.name}` }))];
  const job = status.training.running ?? status.training.last;
  return (
    <section className="panel" aria-labelledby="models-heading">
      <div className="panel-head">
        <h2 id="models-heading">Forecast models</h2>
        {canTrain && <TrainButton onDone={onTrained} />}
      </div>
      {job !== null && <JobLine job={job} />}
      {rows.length === 0 ? (
        <Empty>No pool or route to model.</Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Forecast models">
          <table>
            <thead>
              <tr>
                <th scope="col">Series</th>
                <th scope="col">Model</th>
                <th scope="col">Serving</th>
                <th scope="col">Holdout MAE (req/s), MAPE</th>
                <th scope="col" className="num">Data (minutes)</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.what}>
                  <th scope="row">{row.what}</th>
                  <td>{row.model === null ? 'not trained' : `v${row.model.version} · ${row.model.status === 'trained' ? new Date(row.model.trainedAt).toLocaleString() : 'insufficient data'}`}</td>
                  <td>{row.model?.serving === undefined ? '–' : row.model.serving === 'holt_winters' ? 'Holt-Winters' : 'seasonal naive'}</td>
                  <td>{errors(row.model)}</td>
                  <td className="num">{row.coverage === null ? '–' : `${row.coverage.have} of ${row.coverage.needed}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function JobLine({ job }: { job: AiTrainingJob }) {
  const lag = job.eventLoopDelay;
  return (
    <p className="muted" role="status">
      Training job {job.id}: {job.state}
      {job.finishedAt !== undefined && `, finished ${new Date(job.finishedAt).toLocaleTimeString()}`}
      {job.durationMs !== undefined && ` in ${formatMs(job.durationMs)}`}
      {lag !== undefined && ` · primary event-loop p99 ${formatMs(lag.p99Ms)} while it ran${job.eventLoopDelayBefore !== undefined ? ` (${formatMs(job.eventLoopDelayBefore.p99Ms)} before)` : ''}`}
      {job.error !== undefined && ` · ${job.error}`}
    </p>
  );
}

function TrainButton({ onDone }: { onDone: () => void }) {
  const { session } = useServices();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const train = async () => {
    setBusy(true);
    setError(undefined);
    try {
      let job = await session.api.request<AiTrainingJob>('POST', '/api/ai/train', {});
      const deadline = Date.now() + 90_000;
      while (job.state === 'running' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        job = await session.api.get<AiTrainingJob>(`/api/ai/jobs/${encodeURIComponent(job.id)}`);
      }
      onDone();
    } catch (err) {
      setError(describeError(err instanceof Error ? err : new Error(String(err))));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="inline-field">
      <button type="button" className="button" disabled={busy} onClick={() => void train()}>
        {busy ? 'Training…' : 'Train now'}
      </button>
      {error !== undefined && <span role="alert">{error}</span>}
    </span>
  );
}

function anomalyText(a: AiAnomaly): string {
  const where = a.backend !== undefined ? `backend ${a.backend}` : a.route !== undefined ? `route ${a.route}` : `pool ${a.pool}`;
  const value = (v: number) => (a.unit === 'ms' ? formatMs(v) : a.unit === 'ratio' ? `${formatRate(v * 100)} %` : `${formatRate(v)} req/s`);
  const kind = { backend_latency: 'latency', backend_error_rate: 'error rate', traffic_vs_forecast: 'traffic vs forecast' }[a.kind];
  return `${where}: ${kind} ${value(a.observed)}, expected ${value(a.expected)} (z ${formatRate(a.score)})`;
}

function AnomaliesPanel({ feed }: { feed: AiFeed | undefined }) {
  return (
    <section className="panel" aria-labelledby="anomalies-heading">
      <div className="panel-head">
        <h2 id="anomalies-heading">Anomalies</h2>
        <span className="muted">robust z-score (median/MAD) against each series' own recent history</span>
      </div>
      {feed === undefined ? (
        <Loading what="anomalies" />
      ) : feed.active.length === 0 && feed.recent.length === 0 ? (
        <Empty>No anomaly so far.</Empty>
      ) : (
        <ul className="anomalies">
          {[...feed.active, ...feed.recent.filter((r) => !feed.active.some((a) => a.id === r.id)).reverse()].map((a) => (
            <li key={`${a.id}-${a.endedAt ?? ''}`} data-anomaly={a.kind}>
              <span className={`tag ${a.endedAt === undefined ? 'tag-bad' : ''}`}>{a.endedAt === undefined ? 'ongoing' : 'over'}</span> {anomalyText(a)} · since {new Date(a.since).toLocaleTimeString()}
              {a.endedAt !== undefined && `, over at ${new Date(a.endedAt).toLocaleTimeString()}`}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ScoresPanel({ feed }: { feed: AiFeed | undefined }) {
  if (feed === undefined || feed.backends.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="scores-heading">
      <div className="panel-head">
        <h2 id="scores-heading">Adaptive balancing scores</h2>
        <span className="muted">Peak-EWMA latency × (in-flight + 1): the lower of two candidates gets the request</span>
      </div>
      <div className="table-scroll" tabIndex={0} role="region" aria-label="Adaptive balancing scores">
        <table>
          <thead>
            <tr>
              <th scope="col">Backend</th>
              <th scope="col">Pool</th>
              <th scope="col" className="num">Peak-EWMA latency</th>
              <th scope="col" className="num">In flight</th>
              <th scope="col" className="num">Score</th>
            </tr>
          </thead>
          <tbody>
            {feed.backends.map((b) => (
              <tr key={b.id}>
                <th scope="row">{b.id}</th>
                <td>{b.pool}</td>
                <td className="num">{formatMs(b.ewmaLatencyMs)}</td>
                <td className="num">{b.inFlight}</td>
                <td className="num">{formatRate(b.score)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
