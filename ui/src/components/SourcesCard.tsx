import { useEffect, useState } from "react";
import { api, formatCount, formatRate, formatShortTime, type Source, type VerdictComparison } from "../api";

/** How often the card asks for fresh figures. */
const REFRESH_MS = 2_000;

/** What a source's figures say about its health, worst first. */
function problems(s: Source): string[] {
  const out: string[] = [];
  if (s.state === "failed") out.push(`failed: ${s.error ?? "unknown error"}`);
  if (s.dropped > 0) out.push(`${formatCount(s.dropped)} dropped`);
  if (s.errors > 0) out.push(`${formatCount(s.errors)} errors`);
  if (s.lost_upstream > 0) out.push(`${formatCount(s.lost_upstream)} lost upstream`);
  if (s.sequence_gaps > 0) out.push(`${formatCount(s.sequence_gaps)} sequence gaps`);
  if (s.rejected > 0) out.push(`${formatCount(s.rejected)} rejected`);
  return out;
}

/** One disagreement as a line of the tooltip: who, what each side said, and why. */
export function disagreementLine(d: VerdictComparison["recent"][number]): string {
  const observer = d.observer_policies.length ? ` by ${d.observer_policies.join(", ")}` : "";
  const engine = d.engine_policies.length ? ` by ${d.engine_policies.join(", ")}` : "";
  return `${d.source} → ${d.dest}:${d.dest_port}/${d.protocol}: observer ${d.observer_action}${observer}; engine ${d.engine_action}${engine}`;
}

/** The comparison in a few words. */
export function verdictSummary(v: VerdictComparison): string {
  if (v.disagreed === 0) return `verdicts agree (${formatCount(v.compared)})`;
  const unmodelled = v.unmodelled > 0 ? `, ${formatCount(v.unmodelled)} by unmodelled policy` : "";
  return `${formatCount(v.disagreed)} of ${formatCount(v.compared)} verdicts differ${unmodelled}`;
}

/** How an observer's verdicts (Hubble's) compare with the engine's. */
function VerdictLine({ v }: { v: VerdictComparison }) {
  const title = v.recent.length
    ? ["Latest disagreements:", ...v.recent.slice(0, 8).map(disagreementLine)].join("\n")
    : `The engine agrees with the observer on all ${formatCount(v.compared)} records compared`;
  return (
    <div
      className={`source-verdicts ${v.disagreed > 0 ? "differ" : ""}`}
      title={title}
      data-testid="source-verdicts"
      data-compared={v.compared}
      data-disagreed={v.disagreed}
    >
      {verdictSummary(v)}
    </div>
  );
}

/** The sources feeding the store with their live figures, in the navigation's footer. */
export function SourcesCard() {
  const [sources, setSources] = useState<Source[] | null>();
  useEffect(() => {
    let stop = false;
    const controller = new AbortController();
    const load = () =>
      api.sources(controller.signal).then(
        (r) => !stop && setSources(r.sources),
        () => !stop && setSources(null),
      );
    load();
    const t = window.setInterval(load, REFRESH_MS);
    return () => {
      stop = true;
      controller.abort();
      window.clearInterval(t);
    };
  }, []);
  if (!sources || sources.length === 0) return null;
  return (
    <section className="sources-card" aria-label="Sources" data-testid="sources">
      <div className="sources-title">Sources</div>
      {sources.map((s) => {
        const issues = problems(s);
        const title = [
          s.name,
          s.last_record_time ? `last record ${formatShortTime(s.last_record_time)}` : "no record yet",
          s.duplicates > 0 ? `${formatCount(s.duplicates)} duplicates skipped` : "",
          s.reconnects > 0 ? `${formatCount(s.reconnects)} reconnects` : "",
          s.last_error ? `last error: ${s.last_error}` : "",
        ]
          .filter(Boolean)
          .join("\n");
        return (
          <div className="source" key={`${s.kind} ${s.name}`} title={title} data-testid="source" data-kind={s.kind}>
            <div className="source-head">
              <span className={`dot ${s.state === "failed" ? "bad" : s.connected ? "ok" : ""}`} />
              <span className="source-kind">{s.kind}</span>
              <span className="source-name">{s.name}</span>
            </div>
            <div className="source-figures">
              <span data-testid="source-records" data-value={s.records}>
                {formatCount(s.records)} records
              </span>
              <span>{formatRate(s.records_per_second, "/s")}</span>
            </div>
            {s.verdicts && <VerdictLine v={s.verdicts} />}
            {issues.length > 0 && <div className="source-issues">{issues.join(" · ")}</div>}
          </div>
        );
      })}
    </section>
  );
}
