/** The loading, empty and error states every page and panel uses, and the stream freshness badge. */
import { useEffect, useState, type ReactNode } from 'react';
import type { StreamSnapshot } from '../streams/stream-socket.js';

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state state-empty">{children}</p>;
}

export function ErrorMessage({ children, onRetry }: { children: ReactNode; onRetry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <span>{children}</span>
      {onRetry !== undefined && (
        <button type="button" className="button small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** Re-renders every second while mounted (for "3 s ago" texts). */
export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(timer);
  }, [periodMs]);
  return now;
}

const PHASE_TEXT = { connecting: 'Connecting', live: 'Live', stale: 'Stale', reconnecting: 'Reconnecting' } as const;

/** Whether a stream's data is current: colour plus words, announced politely when it changes. */
export function StreamBadge({ snapshot, label }: { snapshot: StreamSnapshot<unknown>; label?: string }) {
  const now = useNow();
  let detail = '';
  if (snapshot.phase === 'reconnecting' && snapshot.retryAt !== undefined) {
    const seconds = Math.max(0, Math.ceil((snapshot.retryAt - now) / 1000));
    detail = seconds > 0 ? ` in ${seconds} s` : '…';
  }
  if (snapshot.phase !== 'live' && snapshot.ts !== undefined) detail += ` · data from ${Math.round((now - snapshot.ts) / 1000)} s ago`;
  return (
    <span className={`badge badge-${snapshot.phase}`} role="status" data-phase={snapshot.phase} title={label}>
      <span className="dot" aria-hidden="true" />
      {label !== undefined && <span className="visually-hidden">{label}: </span>}
      {PHASE_TEXT[snapshot.phase]}
      {detail}
    </span>
  );
}
