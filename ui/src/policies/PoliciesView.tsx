// `#/policies`: the Policy Board, one policy's view (`?id=`), and the editor (`?id=&edit=1`
// or `?new=1&tier=`). The time range travels as `since` or `from`/`to`, as in every other view.
import { parseQuery, rangeParams, withDefaultRange, type TimeRange } from "../api";
import { replaceRoute, routeHref } from "../route";
import { PolicyBoard, type BoardShow, type BoardSort } from "./PolicyBoard";
import { PolicyDetailView } from "./PolicyDetailView";
import { PolicyEditor } from "./PolicyEditor";

/** A link within the policy screens that keeps the time range. */
export function policiesHref(range: TimeRange, params: Record<string, string | undefined> = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") p.set(k, v);
  return routeHref("policies", rangeParams(range, p));
}

export function PoliciesView({ params }: { params: URLSearchParams }) {
  const q = withDefaultRange(parseQuery(params));
  const range: TimeRange = { since: q.since, from: q.from, to: q.to };
  const id = params.get("id");
  const editing = params.get("edit") === "1";
  const creating = params.get("new") === "1";
  return (
    <section className="view pl-view">
      {creating ? (
        <PolicyEditor
          key={`new:${params.get("tier") ?? ""}`}
          id={null}
          range={range}
          newTier={params.get("tier") ?? "default"}
          newNamespace={params.get("namespace")}
        />
      ) : id && editing ? (
        <PolicyEditor key={`edit:${id}`} id={id} range={range} />
      ) : id ? (
        <PolicyDetailView key={id} id={id} range={range} />
      ) : (
        <PolicyBoard
          range={range}
          search={params.get("q") ?? ""}
          show={(params.get("show") as BoardShow | null) ?? "all"}
          sort={(params.get("sort") as BoardSort | null) ?? "order"}
          onChange={(c) => {
            const next = {
              q: c.search ?? params.get("q") ?? undefined,
              show: c.show ?? params.get("show") ?? undefined,
              sort: c.sort ?? params.get("sort") ?? undefined,
            };
            const hash = policiesHref(c.range ?? range, {
              q: next.q || undefined,
              show: next.show === "all" ? undefined : next.show,
              sort: next.sort === "order" ? undefined : next.sort,
            });
            // Typing replaces the entry rather than adding one per key.
            if (c.search !== undefined) replaceRoute(hash);
            else window.location.hash = hash;
          }}
        />
      )}
    </section>
  );
}
