import { useEffect, useState } from "react";
import { api, formatCount, formatRate, formatShortTime, type Source } from "../api";

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
            {issues.length > 0 && <div className="source-issues">{issues.join(" · ")}</div>}
          </div>
        );
      })}
    </section>
  );
}
