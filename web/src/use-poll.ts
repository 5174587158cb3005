import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, pollingAllowed } from './api';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Loads again now (after an action), keeping the current data shown meanwhile. */
  reload: () => Promise<void>;
}

/**
 * Loads `load()` now and then every `intervalMs` while `live`, the tab is visible and the
 * key's read budget allows; the data stays on screen between loads, so updates never flash
 * or reload the page.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  deps: unknown[],
  options: { intervalMs?: number; live?: boolean } = {},
): Polled<T> {
  const { intervalMs = 1500, live = true } = options;
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  // A 4xx other than 429 (gone, forbidden, bad filter) will not heal by asking again.
  const [halted, setHalted] = useState(false);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(async () => {
    const mine = generation.current;
    try {
      const value = await loadRef.current();
      if (mine !== generation.current) return;
      setData(value);
      setError(undefined);
    } catch (caught) {
      if (mine !== generation.current) return;
      setError(caught instanceof Error ? caught : new Error(String(caught)));
      if (caught instanceof ApiError && caught.status >= 400 && caught.status < 500 && caught.status !== 429)
        setHalted(true);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  // New inputs: forget the old answer and load at once.
  useEffect(() => {
    generation.current += 1;
    setData(undefined);
    setError(undefined);
    setLoading(true);
    setHalted(false);
    void run();
  }, deps);

  useEffect(() => {
    if (!live || halted) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState === 'visible' && pollingAllowed()) await run();
      if (!stopped) timer = setTimeout(tick, intervalMs);
    };
    timer = setTimeout(tick, intervalMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [live, halted, intervalMs, ...deps]);

  const reload = useCallback(async () => {
    setHalted(false);
    await run();
  }, [run]);
  return { data, error, loading, reload };
}
