// `#/policies`: the Policy Board, one policy's view (`?id=`), and the editor (`?id=&edit=1`
// or `?new=1&tier=`). The time range travels as `since`, as in every other view.
import { PolicyBoard } from "./PolicyBoard";
import { PolicyDetailView } from "./PolicyDetailView";
import { PolicyEditor } from "./PolicyEditor";
import { DEFAULT_SINCE } from "./format";
import "./policies.css";

export function policiesHref(params: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") p.set(k, v);
  const q = p.toString();
  return `#/policies${q ? `?${q}` : ""}`;
}

export function PoliciesView({ params }: { params: URLSearchParams }) {
  const since = params.get("since") || DEFAULT_SINCE;
  const id = params.get("id");
  const editing = params.get("edit") === "1";
  const creating = params.get("new") === "1";
  return (
    <section className="view pl-view">
      {creating ? (
        <PolicyEditor
          key={`new:${params.get("tier") ?? ""}`}
          id={null}
          since={since}
          newTier={params.get("tier") ?? "default"}
          newNamespace={params.get("namespace")}
        />
      ) : id && editing ? (
        <PolicyEditor key={`edit:${id}`} id={id} since={since} />
      ) : id ? (
        <PolicyDetailView key={id} id={id} since={since} />
      ) : (
        <PolicyBoard since={since} />
      )}
    </section>
  );
}
