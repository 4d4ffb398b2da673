// The React hook every view loads with.
import { useCallback, useEffect, useRef, useState } from "react";

export interface Loadable<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` whenever `key` changes (and on `reload`), aborting the previous request.
 * Keeps the last data while reloading so views don't flash empty; `refreshMs` polls in the
 * background (a failed refresh keeps the last good data and reports the error). An error for
 * a new key drops the data of the old one: results never stand under another query's error.
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refreshMs?: number): Loadable<T> {
  const [data, setData] = useState<T>();
  // The key the data answers: a refresh that fails keeps it; a new question that fails drops it.
  const dataKey = useRef<string>(undefined);
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    loadRef.current(ctl.signal).then(
      (d) => {
        if (ctl.signal.aborted) return;
        dataKey.current = key;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        if (dataKey.current !== key) setData(undefined);
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [key, tick]);

  useEffect(() => {
    if (!refreshMs) return;
    // A hidden tab does not poll; it catches up on the next tick once visible.
    const t = window.setInterval(() => !document.hidden && setTick((n) => n + 1), refreshMs);
    return () => window.clearInterval(t);
  }, [refreshMs, key]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, loading, reload };
}
