/**
 * A hook per stream: the newest snapshot the server pushed, with its phase (live, stale,
 * reconnecting). Components re-render on every message of the streams they read, and only those.
 */
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { useServices } from '../app-context.js';
import type { BackendsStreamData, HealthStreamData, MetricsStreamData, RealtimeAnswer, RealtimePoint, StatusStreamData } from '../api/types.js';
import { describeError } from '../api/http.js';
import type { FeedStream } from './stream-registry.js';
import type { StreamSnapshot, StreamSocket } from './stream-socket.js';

const IDLE: StreamSnapshot<never> = { phase: 'connecting', data: undefined, ts: undefined, previous: undefined, attempts: 0, retryAt: undefined };
const noSubscription = () => () => undefined;

export function useStream<T>(name: FeedStream): StreamSnapshot<T> {
  const { streams } = useServices();
  const [socket, setSocket] = useState<StreamSocket<T> | undefined>(undefined);
  useEffect(() => {
    const { socket: acquired, release } = streams.acquire<T>(name);
    setSocket(acquired);
    return release;
  }, [streams, name]);
  return useSyncExternalStore(socket?.subscribe ?? noSubscription, socket?.getSnapshot ?? (() => IDLE as StreamSnapshot<T>));
}

export const useRealtimeBackends = () => useStream<BackendsStreamData>('backends');
export const useRealtimeStatus = () => useStream<StatusStreamData>('status');
export const useRealtimeHealth = () => useStream<HealthStreamData>('health');

export interface RealtimeSeries {
  /** The metrics stream: cumulative totals, per route, pool and backend. */
  stream: StreamSnapshot<MetricsStreamData>;
  /** The last 60 s, one point a second, oldest first. */
  points: readonly RealtimePoint[];
  loading: boolean;
  error: string | undefined;
}

/**
 * The last minute of traffic, one point a second. The series comes from /api/metrics/realtime:
 * at once on first paint (so charts are never empty) and again on every metrics stream message,
 * which the primary publishes once a second, right after it closed that second's point. Reading
 * the whole window each time also fills any gap a reconnect left.
 */
export function useRealtimeMetrics(): RealtimeSeries {
  const { session } = useServices();
  const stream = useStream<MetricsStreamData>('metrics');
  const [points, setPoints] = useState<readonly RealtimePoint[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | undefined>(undefined);
  const fetching = useRef<{ busy: boolean; again: boolean; live: boolean }>({ busy: false, again: false, live: true });

  useEffect(() => {
    const state = fetching.current;
    state.live = true;
    return () => {
      state.live = false;
    };
  }, []);

  // A new stream message (its ts) is the cue that the primary closed another second.
  useEffect(() => {
    const state = fetching.current;
    if (state.busy) {
      state.again = true;
      return;
    }
    const load = (): void => {
      state.busy = true;
      state.again = false;
      session.api
        .get<RealtimeAnswer>('/api/metrics/realtime')
        .then((answer) => {
          if (!state.live) return;
          setPoints(answer.points);
          setError(undefined);
        })
        .catch((err: unknown) => {
          if (state.live) setError(describeError(err));
        })
        .finally(() => {
          state.busy = false;
          if (state.live) setLoading(false);
          if (state.live && state.again) load();
        });
    };
    load();
  }, [session, stream.ts]);

  return { stream, points, loading, error };
}
