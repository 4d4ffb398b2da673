// The view's query, read from and written to the hash route, so every state is a shareable link.
import { useCallback, useMemo } from "react";
import { parseQuery, queryToParams, withDefaultRange, type FlowQuery } from "../api";
import { navigate, type View } from "../route";

export function useViewQuery(view: View, params: URLSearchParams): [FlowQuery, (q: FlowQuery) => void] {
  const key = params.toString();
  // The time range defaults to the last hour so a first visit does not scan all history.
  const query = useMemo(() => withDefaultRange(parseQuery(new URLSearchParams(key))), [key]);
  const setQuery = useCallback((q: FlowQuery) => navigate(view, queryToParams(q)), [view]);
  return [query, setQuery];
}
