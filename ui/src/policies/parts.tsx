// Small pieces shared by the policy screens.
import { TIME_RANGES, count } from "./format";
import { Icon } from "./icons";

export function TimeRange({ since, href }: { since: string; href: (since: string) => string }) {
  const known = TIME_RANGES.some((r) => r.value === since);
  return (
    <div className="pl-seg" role="group" aria-label="Time range" data-testid="time-range">
      {!known && <a className="on" href={href(since)}>{since}</a>}
      {TIME_RANGES.map((r) => (
        <a key={r.value} className={r.value === since ? "on" : ""} href={href(r.value)} title={`Last ${r.label}`}>
          {r.value}
        </a>
      ))}
    </div>
  );
}

/** A figure that opens the Flows view on exactly the flows it counts, when it can. */
export function MetricLink({
  label,
  value,
  href,
  tone,
}: {
  label: string;
  value: number;
  href?: string;
  tone?: "allow" | "deny" | "pass";
}) {
  const body = (
    <>
      <span className="v">{count(value)}</span>
      <span className="l">{label}</span>
    </>
  );
  const cls = `pl-metric ${tone ?? ""} ${value === 0 ? "zero" : ""}`;
  return href && value > 0 ? (
    <a className={cls} href={href} title={`Show these ${count(value)} connections in Flows`} data-metric={label}>
      {body}
    </a>
  ) : (
    <span className={cls} data-metric={label}>
      {body}
    </span>
  );
}

const KIND_TONE: Record<string, string> = {
  np: "calico",
  gnp: "global",
  knp: "k8s",
  snp: "calico",
  sgnp: "global",
  sknp: "k8s",
  kcnp: "admin",
  anp: "admin",
  banp: "admin",
};

export function KindBadge({ kind, label }: { kind: string; label: string }) {
  // Staging has its own badge next to this one.
  return <span className={`pl-badge kind ${KIND_TONE[kind] ?? "calico"}`}>{label.replace(/^staged /i, "")}</span>;
}

export function ActionChip({ action }: { action: string }) {
  const a = action.toLowerCase();
  return <span className={`pl-action ${a}`}>{a ? a[0].toUpperCase() + a.slice(1) : "—"}</span>;
}

export function ErrorBanner({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div className="pl-error" role="alert">
      <Icon name="alert" />
      <span>{message}</span>
      {onRetry && (
        <button className="pl-btn small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
