// Time range: presets (relative to the newest stored flow, as the API counts `since`) or a
// custom absolute range in local time.
import { useEffect, useRef, useState } from "react";
import { formatTime, type TimeRange } from "../api";

export const TIME_PRESETS: { since: string; label: string }[] = [
  { since: "15m", label: "15 min" },
  { since: "1h", label: "1 h" },
  { since: "6h", label: "6 h" },
  { since: "24h", label: "24 h" },
  { since: "7d", label: "7 d" },
];

export function describeRange(r: TimeRange): string {
  if (r.since) return `Last ${TIME_PRESETS.find((p) => p.since === r.since)?.label ?? r.since}`;
  if (r.from !== undefined) return `${formatTime(r.from)} → ${r.to !== undefined ? formatTime(r.to) : "now"}`;
  return "All time";
}

/** `datetime-local` value ↔ unix seconds, in the browser's zone. */
export function toLocalInput(unix: number): string {
  const d = new Date(unix * 1000);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function fromLocalInput(text: string): number | undefined {
  if (!text) return undefined;
  const t = new Date(text).getTime();
  return Number.isFinite(t) ? Math.floor(t / 1000) : undefined;
}

/** Why a custom range cannot be used, in the words and the local time the user picked it in. */
export function rangeProblem(from: number | undefined, to: number | undefined): string | undefined {
  if (from === undefined) return "Pick when the range starts.";
  if (to !== undefined && to <= from) {
    return `The range ends (${formatTime(to)}) before it starts (${formatTime(from)}): pick an end after the start.`;
  }
  return undefined;
}

export function TimeRangePicker({
  value,
  onChange,
  dataMax,
}: {
  value: TimeRange;
  onChange: (r: TimeRange) => void;
  /** Newest data time, to seed the custom range sensibly when the data clock is not the wall clock. */
  dataMax?: number;
}) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const anchor = dataMax ?? Math.floor(Date.now() / 1000);
  const [from, setFrom] = useState(() => toLocalInput(value.from ?? anchor - 3600));
  const [to, setTo] = useState(() => toLocalInput(value.to ?? anchor + 60));
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);

  const custom = !value.since && value.from !== undefined;
  return (
    <div className="time-range" ref={ref} data-testid="time-range">
      <div className="segmented" role="group" aria-label="Time range">
        {TIME_PRESETS.map((p) => (
          <button
            key={p.since}
            type="button"
            className={value.since === p.since ? "active" : ""}
            onClick={() => onChange({ since: p.since })}
          >
            {p.label}
          </button>
        ))}
        <button
          type="button"
          className={custom ? "active" : ""}
          onClick={() => setOpen((o) => !o)}
          title={custom ? describeRange(value) : "Custom range"}
        >
          {custom ? "Custom ▾" : "Custom…"}
        </button>
      </div>
      {open && (
        <form
          className="popover time-popover"
          onSubmit={(e) => {
            e.preventDefault();
            const f = fromLocalInput(from);
            const t = fromLocalInput(to);
            const p = rangeProblem(f, t);
            setProblem(p);
            if (p || f === undefined) return;
            onChange({ from: f, to: t });
            setOpen(false);
          }}
        >
          <label>
            From
            <input
              type="datetime-local"
              value={from}
              onChange={(e) => {
                setFrom(e.target.value);
                setProblem(undefined);
              }}
              required
            />
          </label>
          <label>
            To
            <input
              type="datetime-local"
              value={to}
              onChange={(e) => {
                setTo(e.target.value);
                setProblem(undefined);
              }}
            />
          </label>
          {problem && (
            <div className="field-error" role="alert" data-testid="range-problem">
              {problem}
            </div>
          )}
          <div className="popover-actions">
            <button type="button" className="btn btn-ghost" onClick={() => onChange({})}>
              All time
            </button>
            <button type="submit" className="btn btn-primary">
              Apply
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
