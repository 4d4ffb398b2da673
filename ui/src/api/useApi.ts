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
 * background (a failed refresh keeps the last good data and reports the error).
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refreshMs?: number): Loadable<T> {
  const [data, setData] = useState<T>();
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
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e: unknown) => {
        if (ctl.signal.aborted) return;
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
