// Hash routes: `#/VIEW?QUERY`. The query uses the API's own parameters (since, from, to,
// filter, source_selector, dest_selector, policy, policy_action, policy_rule, …) so that any
// view can open another on exactly the same flows, e.g.
// `#/flows?since=1h&policy=default/np:fme/engine&policy_action=deny`.
import { useEffect, useState } from "react";

export type View = "flows" | "visualizer" | "graph" | "policies" | "advisor" | "audit";
// In navigation order; the first is the default route.
export const VIEWS: View[] = ["graph", "visualizer", "flows", "policies", "advisor", "audit"];

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

// A screen with work that would be lost (an edited policy) guards navigation: leaving by a
// link, the navigation or Back asks first, and staying puts its route back.
let guard: (() => string | null) | null = null;
let unguardedOnce = false;

/** While `message` is set, leaving the route asks the user with it; closing the tab asks too. */
export function useNavigationGuard(message: string | null) {
  useEffect(() => {
    if (!message) return;
    guard = () => message;
    const onUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", onUnload);
    return () => {
      guard = null;
      window.removeEventListener("beforeunload", onUnload);
    };
  }, [message]);
}

/** Changes the route in place (no new history entry), e.g. as the user types a search. */
export function replaceRoute(hash: string) {
  const url = new URL(window.location.href);
  url.hash = hash;
  history.replaceState(null, "", url);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

/** Navigates past the guard: the work was saved or deliberately discarded. */
export function leaveTo(hash: string) {
  unguardedOnce = true;
  window.location.hash = hash;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    let current = window.location.href;
    const onChange = () => {
      const message = unguardedOnce ? null : guard?.();
      unguardedOnce = false;
      if (message && window.location.href !== current && !window.confirm(message)) {
        // Stay: the route the guarded screen is on goes back on top of the history.
        history.pushState(null, "", current);
        return;
      }
      current = window.location.href;
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
