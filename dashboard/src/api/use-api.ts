/** A REST read for a page: loading, the answer or the error, and reload (after a change, or on a timer). */
import { useCallback, useEffect, useRef, useState } from 'react';
import { useServices } from '../app-context.js';
import { ApiError } from './http.js';

export interface ApiRead<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** `path` undefined skips the call (the page has nothing to ask yet). `refreshMs` re-reads on a timer. */
export function useApi<T>(path: string | undefined, refreshMs?: number): ApiRead<T> {
  const { session } = useServices();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | Error | undefined>(undefined);
  const [loading, setLoading] = useState(path !== undefined);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const lastPath = useRef(path);

  useEffect(() => {
    if (path === undefined) return;
    if (lastPath.current !== path) {
      lastPath.current = path;
      setData(undefined);
    }
    const abort = new AbortController();
    setLoading(true);
    session.api
      .get<T>(path, abort.signal)
      .then((answer) => {
        setData(answer);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (!abort.signal.aborted) setError(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        if (!abort.signal.aborted) setLoading(false);
      });
    return () => abort.abort();
  }, [session, path, generation]);

  useEffect(() => {
    if (refreshMs === undefined || path === undefined) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, path, reload]);

  return { data, error, loading, reload };
}
