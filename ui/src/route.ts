// Hash routes: `#/VIEW?QUERY`. The query uses the API's own parameters (since, from, to,
// filter, source_selector, dest_selector, policy, policy_action, policy_rule, …) so that any
// view can open another on exactly the same flows, e.g.
// `#/flows?since=1h&policy=default/np:fme/engine&policy_action=deny`.
import { useEffect, useState } from "react";

export type View = "flows" | "visualizer" | "graph" | "policies";
// In navigation order; the first is the default route.
export const VIEWS: View[] = ["graph", "visualizer", "flows", "policies"];

export interface Route {
  view: View;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const [path, query = ""] = text.split("?", 2);
  const view = (VIEWS as string[]).includes(path) ? (path as View) : VIEWS[0];
  return { view, params: new URLSearchParams(query) };
}

/** `#/VIEW?…`; in a record, undefined and empty values are left out. */
export function routeHref(view: View, params?: URLSearchParams | Record<string, string | undefined>): string {
  const p = params instanceof URLSearchParams ? params : new URLSearchParams();
  if (params && !(params instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") p.set(k, v);
  }
  const q = p.toString();
  return `#/${view}${q ? `?${q}` : ""}`;
}

export function navigate(view: View, params?: URLSearchParams | Record<string, string | undefined>) {
  window.location.hash = routeHref(view, params);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
