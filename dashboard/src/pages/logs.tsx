/**
 * Logs (platform admins): the recent structured lines of the primary and every worker from
 * /api/admin/logs, filtered by minimum level, newest at the bottom, with a live tail that polls
 * every two seconds while it is on (and pauses while the tab is hidden).
 */
import { useEffect, useRef, useState } from 'react';
import { describeError } from '../api/http.js';
import type { LogLine } from '../api/types.js';
import { useApi } from '../api/use-api.js';
import { Empty, ErrorMessage, Loading } from '../components/states.js';

const LEVELS = [
  ['trace', 10],
  ['debug', 20],
  ['info', 30],
  ['warn', 40],
  ['error', 50],
  ['fatal', 60],
] as const;
const LEVEL_NAME = new Map<number, string>(LEVELS.map(([name, value]) => [value, name]));
const TAIL_MS = 2000;
const LIMIT = 300;
/** Shown as their own columns (or dropped as noise); the rest of a line's fields follow its message. */
const SHOWN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

function useVisible(): boolean {
  const [visible, setVisible] = useState(document.visibilityState === 'visible');
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  return visible;
}

export function LogsPage() {
  const [level, setLevel] = useState('info');
  const [tail, setTail] = useState(true);
  const visible = useVisible();
  const logs = useApi<{ lines: LogLine[]; dropped: number }>(`/api/admin/logs?level=${level}&limit=${LIMIT}`, tail && visible ? TAIL_MS : undefined);
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);

  // Follow the newest line while the reader is at the bottom; leave them be when they scrolled up.
  useEffect(() => {
    const el = box.current;
    if (el !== null && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [logs.data]);

  return (
    <>
      <div className="page-head">
        <h1>Logs</h1>
        <div className="toolbar">
          <label>
            Minimum level{' '}
            <select value={level} onChange={(e) => setLevel(e.target.value)}>
              {LEVELS.map(([name]) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <label className="checkbox">
            <input type="checkbox" checked={tail} onChange={(e) => setTail(e.target.checked)} /> Live tail
          </label>
          <button type="button" className="button small" onClick={logs.reload}>
            Refresh
          </button>
        </div>
      </div>
      <p className="muted small" aria-live="polite">
        {tail ? (visible ? `Tailing: refreshed every ${TAIL_MS / 1000} s.` : 'Tail paused while this tab is hidden.') : 'Tail off.'} The newest {LIMIT} lines of the primary and every worker.
        {logs.data !== undefined && logs.data.dropped > 0 && ` ${logs.data.dropped} lines were dropped since start (rate cap or not JSON).`}
      </p>
      {logs.error !== undefined ? (
        <ErrorMessage onRetry={logs.reload}>Could not read the logs: {describeError(logs.error)}</ErrorMessage>
      ) : logs.data === undefined ? (
        <Loading what="logs" />
      ) : logs.data.lines.length === 0 ? (
        <Empty>No lines at {level} or above yet.</Empty>
      ) : (
        <div
          className="log-box"
          ref={box}
          tabIndex={0}
          role="log"
          aria-label="Log lines, newest last"
          onScroll={(e) => {
            const el = e.currentTarget;
            atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          }}
        >
          {logs.data.lines.map((line, i) => {
            const name = LEVEL_NAME.get(line.level) ?? String(line.level);
            const extra = Object.entries(line).filter(([k]) => !SHOWN.has(k));
            return (
              <div key={`${line.time}-${i}`} className={`log-line log-${name}`}>
                <time dateTime={new Date(line.time).toISOString()}>{new Date(line.time).toLocaleTimeString()}</time> <span className="log-level">{name}</span> <span className="log-msg">{line.msg ?? ''}</span>{' '}
                {extra.length > 0 && <span className="log-extra">{extra.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}</span>}
              </div>
            );
          })}
        </div>
      )}
    </>
  );
}
