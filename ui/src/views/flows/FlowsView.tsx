// Flows: the flow-log table of Kibana's dashboard. Every API query parameter in the route is
// honoured (since/from/to, filter, selectors, policy/policy_action/policy_rule, sort, limit,
// hits), so other views can link here with exactly the flows they mean.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import {
  addFilter,
  api,
  exportUrl,
  filterForValue,
  flowsParams,
  formatBytes,
  formatNumber,
  formatShortTime,
  formatTime,
  getExtra,
  setExtra,
  streamFlows,
  type Flow,
  type FlowQuery,
  type PageOptions,
  type TimeRange,
} from "../../api";
import { ActionBadge, PolicyHitCompact, PolicyHitLabel } from "../../components/Badges";
import { CellActions, DataTable, type Column, type SortState } from "../../components/DataTable";
import { QueryBar } from "../../components/QueryBar";
import { Empty, ErrorState } from "../../components/States";
import { useViewQuery } from "../../components/useViewQuery";
import { decidingHit, flowFieldRows } from "./flowFields";

const DEFAULT_SORT = "end_time:desc";
const PAGE = 100;
/** Live mode keeps the newest rows only, so a busy cluster cannot grow the page without bound. */
const LIVE_MAX = 500;

type OnFilter = (field: string, value: unknown, exclude: boolean) => void;

export function FlowsView({ params }: { params: URLSearchParams }) {
  const [query, setQuery] = useViewQuery("flows", params);
  const sortParam = getExtra(query, "sort") ?? DEFAULT_SORT;
  const sort: SortState = { key: sortParam.split(":")[0], dir: sortParam.endsWith(":asc") ? "asc" : "desc" };
  const limit = Math.min(Number(getExtra(query, "limit")) || PAGE, 10000);
  const live = getExtra(query, "live") === "1";
  const hits = getExtra(query, "hits");
  const page: PageOptions = useMemo(
    () => ({ sort: [sortParam], limit, params: hits ? [["hits", hits]] : [] }),
    [sortParam, limit, hits],
  );

  const onFilter: OnFilter = useCallback(
    (field, value, exclude) => {
      const f = filterForValue(field, value, exclude);
      if (f) setQuery(addFilter(query, f));
    },
    [query, setQuery],
  );

  return (
    <section className="view flows-view" data-testid="flows-view">
      <div className="view-head">
        <h1>Flows</h1>
        <span className="sub">Flow logs with Kubernetes context and policy verdicts</span>
      </div>
      <QueryBar query={query} onChange={setQuery}>
        <button
          type="button"
          className={`btn ${live ? "on" : ""}`}
          onClick={() => setQuery(setExtra(query, "live", live ? undefined : "1"))}
          data-testid="live-toggle"
          aria-pressed={live}
          title="Stream new flows as they are stored"
        >
          {live && <span className="live-dot" />}
          {live ? "Live" : "Go live"}
        </button>
        <a className="btn" href={exportUrl(query, "csv", page)} download="flows.csv" data-testid="export-csv">
          Export CSV
        </a>
        <a className="btn" href={exportUrl(query, "json", page)} download="flows.json" data-testid="export-json">
          Export JSON
        </a>
      </QueryBar>
      <FlowResults
        query={query}
        page={page}
        live={live}
        sort={sort}
        onSort={(s) => setQuery(setExtra(query, "sort", `${s.key}:${s.dir}`))}
        onFilter={onFilter}
      />
    </section>
  );
}

/** A first page asks for the connections in the flow logs too, so both units are on screen. */
const withConnections = (page: PageOptions): PageOptions => ({ ...page, params: [...(page.params ?? []), ["include", "connections"]] });

/** How often, at most, live mode asks the server for the query's total while flows stream in. */
const LIVE_COUNT_MS = 2_000;
/**
 * How often, at most, streamed flows are put on screen: a busy cluster sends many small
 * batches, and re-rendering the table for each one would keep the page busy and the rows moving.
 */
const LIVE_FLUSH_MS = 1_000;

type PauseReason = "expanded" | "scrolled" | "pointer" | "user";

const PAUSE_TEXT: Record<PauseReason, string> = {
  user: "paused",
  expanded: "paused while a row is open",
  scrolled: "paused while you scroll",
  pointer: "paused under the pointer",
};

/** The flows of a query in a table with paging and optional live streaming; used by the graph too. */
export function FlowResults({
  query,
  page,
  live = false,
  sort,
  onSort,
  onFilter,
  compact = false,
  title,
  actions,
}: {
  query: FlowQuery;
  page: PageOptions;
  live?: boolean;
  sort?: SortState;
  onSort?: (s: SortState) => void;
  onFilter?: OnFilter;
  compact?: boolean;
  title?: ReactNode;
  /** Controls at the right of the header. */
  actions?: ReactNode;
}) {
  const [flows, setFlows] = useState<Flow[]>([]);
  const [total, setTotal] = useState<number>();
  const [connections, setConnections] = useState<number>();
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [expanded, setExpanded] = useState<Set<string | number>>(new Set());
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [liveState, setLiveState] = useState<"open" | "error">();
  // Flows received since live mode started, for anyone (a test) watching the stream arrive.
  const [streamed, setStreamed] = useState(0);
  const [reloadTick, setReloadTick] = useState(0);
  // Live mode: flows that arrived while the table was paused, and why it is paused.
  const [pending, setPending] = useState<Flow[]>([]);
  const [pendingCount, setPendingCount] = useState(0);
  const [scrolled, setScrolled] = useState(false);
  const [pointerIn, setPointerIn] = useState(false);
  const [userPaused, setUserPaused] = useState(false);
  // The query string of the page on screen, so tests (and anyone inspecting the page) can tell
  // which question the rows answer.
  const [loadedQuery, setLoadedQuery] = useState<string>();
  const key = JSON.stringify([query, page]);
  const liveIds = useRef(0);
  const tableRef = useRef<HTMLDivElement>(null);

  const pause: PauseReason | null = !live
    ? null
    : userPaused
      ? "user"
      : expanded.size > 0
        ? "expanded"
        : scrolled
          ? "scrolled"
          : pointerIn
            ? "pointer"
            : null;

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    api.flows(query, withConnections(page), ctl.signal).then(
      (p) => {
        setFlows(p.flows);
        setTotal(p.total);
        setConnections(p.total_connections);
        setNext(p.next_page_token);
        setError(undefined);
        setLoading(false);
        setFresh(new Set());
        setPending([]);
        setPendingCount(0);
        setLoadedQuery(flowsParams(query, page).toString());
      },
      (e: Error) => {
        if (ctl.signal.aborted) return;
        // The rows of another query must not stand under this query's error.
        setFlows([]);
        setTotal(undefined);
        setConnections(undefined);
        setNext(null);
        setPending([]);
        setPendingCount(0);
        setError(e);
        setLoading(false);
        setLoadedQuery(flowsParams(query, page).toString());
      },
    );
    return () => ctl.abort();
    // `key` stands for query and page, which are new objects on every render.
  }, [key, reloadTick]);

  // Live: new flows go on top, or wait in `pending` while the table is paused; the total is
  // the server's for the query, asked again as flows arrive (the window moves on, old flows
  // leave it), never a sum of what streamed in.
  useEffect(() => {
    if (!live) return;
    let countTimer: number | undefined;
    let lastCount = 0;
    let flushTimer: number | undefined;
    let lastFlush = 0;
    // The newest flows received since the last flush (at most a page), and how many there were.
    let buffered: Flow[] = [];
    let received = 0;
    const ctl = new AbortController();
    setStreamed(0);
    const recount = () => {
      countTimer = undefined;
      lastCount = Date.now();
      api.flows(query, withConnections({ ...page, limit: 1 }), ctl.signal).then(
        (p) => {
          setTotal(p.total);
          setConnections(p.total_connections);
        },
        () => undefined,
      );
    };
    const flush = () => {
      flushTimer = undefined;
      lastFlush = Date.now();
      const newest = buffered.sort((a, b) => b.end_time - a.end_time);
      const count = received;
      buffered = [];
      received = 0;
      // Always through `pending`: whether the table is paused is decided when they would go on
      // screen, not now (a pointer may pause it before this update is rendered).
      setPending((old) => [...newest, ...old].slice(0, LIVE_MAX));
      setPendingCount((n) => n + count);
      setStreamed((n) => n + count);
      if (countTimer === undefined) countTimer = window.setTimeout(recount, Math.max(0, LIVE_COUNT_MS - (Date.now() - lastCount)));
    };
    const stop = streamFlows(
      query,
      (batch) => {
        if (!batch.length) return;
        // Streamed records may come without their store id; give those a local, negative one.
        for (const f of batch) if (typeof f.id !== "number") f.id = --liveIds.current;
        buffered.push(...batch);
        received += batch.length;
        if (buffered.length > LIVE_MAX) buffered = buffered.slice(-LIVE_MAX);
        if (flushTimer === undefined) flushTimer = window.setTimeout(flush, Math.max(0, LIVE_FLUSH_MS - (Date.now() - lastFlush)));
      },
      setLiveState,
    );
    return () => {
      stop();
      ctl.abort();
      window.clearTimeout(countTimer);
      window.clearTimeout(flushTimer);
      setLiveState(undefined);
    };
  }, [live, key]);

  // Rows opened for another query are not open in this one (nor do they pause live mode).
  useEffect(() => setExpanded(new Set()), [key]);

  // Leaving live mode or the pause: nothing waits any more.
  useEffect(() => {
    if (!live) {
      setUserPaused(false);
      setPending([]);
      setPendingCount(0);
    }
  }, [live]);

  const showPending = () => {
    setFlows((old) => mergeLive(pending, old, expanded));
    setFresh(new Set(pending.map((f) => f.id)));
    setPending([]);
    setPendingCount(0);
    setUserPaused(false);
    if (tableRef.current) tableRef.current.scrollTop = 0;
    setScrolled(false);
  };
  // Unless the table is paused, streamed flows go on top before the browser paints; a pause
  // that ends on its own (pointer out, scrolled back to the top) shows what waited.
  useLayoutEffect(() => {
    if (live && !pause && pending.length && !expanded.size) showPending();
  }, [pause, pending]);

  const loadMore = () => {
    if (!next) return;
    setLoading(true);
    api.flows(query, { ...page, page_token: next }).then(
      (p) => {
        setFlows((old) => [...old, ...p.flows]);
        setNext(p.next_page_token);
        setLoading(false);
      },
      (e: Error) => {
        setError(e);
        setLoading(false);
      },
    );
  };

  const rows = flows;
  const rangeKey = JSON.stringify([query.since, query.from, query.to]);
  const allColumns = useMemo(() => flowColumns(onFilter, query), [onFilter, rangeKey]);
  const [shown, setShown] = useColumns(compact ? "graph" : "flows", allColumns);
  const columns = useMemo(() => allColumns.filter((c) => shown.includes(c.key)), [allColumns, shown]);
  const toggleExpand = useCallback(
    (k: string | number) =>
      setExpanded((s) => {
        const n = new Set(s);
        if (n.has(k)) n.delete(k);
        else n.add(k);
        return n;
      }),
    [],
  );
  return (
    <div
      className="card results"
      data-testid="flow-results"
      aria-busy={loading}
      data-loaded-query={loadedQuery}
      data-error={error ? "true" : undefined}
    >
      {loading && <div className="loading-bar" />}
      <div className="results-head">
        {title}
        <span className="count" data-testid="flow-count" data-total={total}>
          {total === undefined ? (error ? "" : "…") : `${formatNumber(total)} flow log${total === 1 ? "" : "s"}`}
        </span>
        {connections !== undefined && (
          <span
            className="count-connections"
            data-testid="flow-connections"
            data-value={connections}
            title="Connections in these flow logs, each counted once (per endpoint record when filtered by policy or reporter), as the graph and the Policy Board count them"
          >
            · {formatNumber(connections)} connection{connections === 1 ? "" : "s"}
          </span>
        )}
        {total !== undefined && rows.length < total && <span className="muted">showing {formatNumber(rows.length)}</span>}
        {live && (
          <span
            className="muted"
            data-testid="live-state"
            data-live-state={liveState === "error" ? "reconnecting" : liveState !== "open" ? "connecting" : pause ? "paused" : "streaming"}
            data-paused={pause ?? undefined}
            data-streamed={streamed}
          >
            {liveState === "error"
              ? "reconnecting…"
              : liveState !== "open"
                ? "connecting…"
                : pause
                  ? PAUSE_TEXT[pause]
                  : "streaming new flows"}
          </span>
        )}
        {live && (
          <button
            type="button"
            className="btn btn-small"
            onClick={() => (userPaused ? showPending() : setUserPaused(true))}
            data-testid="live-pause"
            aria-pressed={userPaused}
          >
            {userPaused ? "Resume" : "Pause"}
          </button>
        )}
        {error && rows.length > 0 && (
          <span className="field-error" role="alert">
            {error.message}
          </span>
        )}
        <span className="results-actions">
          {actions}
          <ColumnPicker columns={allColumns} shown={shown} onChange={setShown} />
        </span>
      </div>
      {live && (
        <div className="live-new-slot">
          {pendingCount > 0 && (
            <button type="button" className="live-new" onClick={showPending} data-testid="live-new" data-count={pendingCount}>
              {formatNumber(pendingCount)} new flow log{pendingCount === 1 ? "" : "s"}: show {pendingCount === 1 ? "it" : "them"}
            </button>
          )}
        </div>
      )}
      {error && !rows.length ? (
        <ErrorState error={error} onRetry={() => setReloadTick((n) => n + 1)} />
      ) : (
        <DataTable
          testId="flows-table"
          wrapRef={tableRef}
          onScroll={(top) => setScrolled(top > 4)}
          onPointerInside={live ? setPointerIn : undefined}
          columns={columns}
          rows={rows}
          rowKey={(f) => f.id}
          rowClassName={(f) => `${f.action === "deny" ? "row-deny" : ""} ${fresh.has(f.id) ? "row-live" : ""}`}
          onFilter={onFilter}
          sort={sort}
          onSort={onSort}
          expanded={expanded}
          onToggleExpand={toggleExpand}
          renderExpanded={(f) => <FlowDetail flow={f} onFilter={onFilter} range={query} />}
          empty={
            loading ? (
              "Loading flows…"
            ) : (
              <Empty title="No flows match">Widen the time range or remove a filter.</Empty>
            )
          }
        />
      )}
      {next && !live && (
        <div className="results-foot">
          <button type="button" className="btn" onClick={loadMore} disabled={loading} data-testid="load-more">
            Load {formatNumber(Math.min(page.limit ?? PAGE, (total ?? 0) - rows.length))} more
          </button>
        </div>
      )}
    </div>
  );
}

/** The columns shown by default: what fits a 1280 px screen; the rest are a click away. */
export const COLUMN_DEFAULTS = ["time", "source", "dest", "port", "action", "reporter", "policies", "bytes_in", "bytes_out"];

/** The columns a table shows, remembered per table in the browser. */
function useColumns(table: string, all: Column<Flow>[]): [string[], (keys: string[]) => void] {
  const storageKey = `flowlens.columns.${table}`;
  const [shown, setShown] = useState<string[]>(() => {
    try {
      const saved = JSON.parse(localStorage.getItem(storageKey) ?? "null") as unknown;
      if (Array.isArray(saved) && saved.every((k) => typeof k === "string")) return saved as string[];
    } catch {
      // a damaged setting falls back to the defaults
    }
    return COLUMN_DEFAULTS;
  });
  const set = (keys: string[]) => {
    // Keep the table's own order, whatever order they were ticked in.
    const ordered = all.map((c) => c.key).filter((k) => keys.includes(k));
    localStorage.setItem(storageKey, JSON.stringify(ordered));
    setShown(ordered);
  };
  return [shown, set];
}

function ColumnPicker({ columns, shown, onChange }: { columns: Column<Flow>[]; shown: string[]; onChange: (keys: string[]) => void }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => ref.current && !ref.current.contains(e.target as Node) && setOpen(false);
    const esc = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);
  return (
    <div className="column-picker" ref={ref}>
      <button type="button" className="btn btn-small" onClick={() => setOpen((o) => !o)} aria-expanded={open} data-testid="column-picker">
        Columns
      </button>
      {open && (
        <fieldset className="popover column-popover" data-testid="column-popover">
          <legend>Columns</legend>
          {columns.map((c) => (
            <label key={c.key}>
              <input
                type="checkbox"
                checked={shown.includes(c.key)}
                onChange={(e) => onChange(e.target.checked ? [...shown, c.key] : shown.filter((k) => k !== c.key))}
                data-column={c.key}
              />
              {c.label ?? c.header}
            </label>
          ))}
          <button type="button" className="btn btn-small" onClick={() => onChange(COLUMN_DEFAULTS)}>
            Defaults
          </button>
        </fieldset>
      )}
    </div>
  );
}

/** New flows on top of the old, newest first, at most LIVE_MAX; rows someone opened stay. */
export function mergeLive(newest: Flow[], old: Flow[], keep: Set<string | number>): Flow[] {
  const seen = new Set(old.map((f) => f.id));
  const merged = [...newest.filter((f) => !seen.has(f.id)), ...old];
  if (merged.length <= LIVE_MAX) return merged;
  const head = merged.slice(0, LIVE_MAX);
  const kept = merged.slice(LIVE_MAX).filter((f) => keep.has(f.id));
  return [...head, ...kept];
}

function FilterValue({
  field,
  value,
  onFilter,
  children,
  className,
}: {
  field: string;
  value: unknown;
  onFilter?: OnFilter;
  children: ReactNode;
  className?: string;
}) {
  return (
    <span className={`cell ${className ?? ""}`}>
      <span className="cell-value">{children}</span>
      {onFilter && <CellActions onFor={() => onFilter(field, value, false)} onOut={() => onFilter(field, value, true)} />}
    </span>
  );
}

function Endpoint({ flow, side, onFilter }: { flow: Flow; side: "source" | "dest"; onFilter?: OnFilter }) {
  const ns = flow[`${side}_namespace`];
  const aggr = flow[`${side}_name_aggr`];
  const type = flow[`${side}_type`];
  return (
    <span className="ep" title={`${ns}/${flow[`${side}_name`]} (${type})`}>
      {ns && ns !== "-" && (
        <FilterValue field={`${side}_namespace`} value={ns} onFilter={onFilter} className="ep-ns">
          {ns}
        </FilterValue>
      )}
      <FilterValue field={`${side}_name_aggr`} value={aggr} onFilter={onFilter} className="ep-name">
        {aggr}
        {type !== "wep" && <span className="hit-rule"> · {type}</span>}
      </FilterValue>
    </span>
  );
}

/** Every column the flow tables offer; which are shown is the reader's choice (see COLUMN_DEFAULTS). */
export function flowColumns(onFilter: OnFilter | undefined, range: TimeRange = {}): Column<Flow>[] {
  const cols: Column<Flow>[] = [
    {
      key: "time",
      header: "Time",
      sortKey: "end_time",
      render: (f) => (
        <span className="mono" title={formatTime(f.end_time)}>
          {formatShortTime(f.end_time)}
        </span>
      ),
    },
    {
      key: "source",
      header: "Source",
      sortKey: "source_name_aggr",
      render: (f) => <Endpoint flow={f} side="source" onFilter={onFilter} />,
    },
    {
      key: "dest",
      header: "Destination",
      sortKey: "dest_name_aggr",
      render: (f) => <Endpoint flow={f} side="dest" onFilter={onFilter} />,
    },
    {
      key: "port",
      header: "Port",
      sortKey: "dest_port",
      align: "right",
      // The protocol rides along in small type: a column of its own costs a narrow screen.
      render: (f) => (
        <>
          {f.dest_port ?? "–"}
          <span className="hit-rule"> {f.proto}</span>
        </>
      ),
      filter: (f) => ({ field: "dest_port", value: f.dest_port }),
    },
    {
      key: "proto",
      header: "Proto",
      sortKey: "proto",
      render: (f) => f.proto,
      filter: (f) => ({ field: "proto", value: f.proto }),
    },
    {
      key: "action",
      header: "Action",
      sortKey: "action",
      render: (f) => <ActionBadge action={f.action} />,
      filter: (f) => ({ field: "action", value: f.action }),
    },
    {
      key: "reporter",
      header: "Reporter",
      sortKey: "reporter",
      render: (f) => f.reporter,
      filter: (f) => ({ field: "reporter", value: f.reporter }),
    },
    {
      key: "policies",
      header: "Policy",
      render: (f) => {
        const enforced = f.policies?.enforced_policies ?? [];
        const hit = decidingHit(enforced);
        if (!hit) return <span className="hit-rule">–</span>;
        return <PolicyHitCompact hit={hit} extra={enforced.length - 1} range={range} />;
      },
    },
    // One column per direction: the table sorts on stored fields, so a column shows exactly
    // the field it sorts by (a sum of in and out could not be sorted on).
    {
      key: "bytes_in",
      header: "Bytes in",
      sortKey: "bytes_in",
      align: "right",
      render: (f) => <span data-value={f.bytes_in}>{formatBytes(f.bytes_in)}</span>,
    },
    {
      key: "bytes_out",
      header: "Bytes out",
      sortKey: "bytes_out",
      align: "right",
      render: (f) => <span data-value={f.bytes_out}>{formatBytes(f.bytes_out)}</span>,
    },
    {
      key: "packets_in",
      header: "Packets in",
      sortKey: "packets_in",
      align: "right",
      render: (f) => <span data-value={f.packets_in}>{formatNumber(f.packets_in)}</span>,
    },
    {
      key: "packets_out",
      header: "Packets out",
      sortKey: "packets_out",
      align: "right",
      render: (f) => <span data-value={f.packets_out}>{formatNumber(f.packets_out)}</span>,
    },
    {
      key: "process",
      header: "Process",
      sortKey: "process_name",
      render: (f) => (f.process_name && f.process_name !== "-" ? f.process_name : <span className="hit-rule">–</span>),
      filter: (f) => (f.process_name && f.process_name !== "-" ? { field: "process_name", value: f.process_name } : null),
    },
  ];
  cols.push(
    {
      key: "num_flows",
      header: "Conn.",
      sortKey: "num_flows",
      align: "right",
      render: (f) => <span title="Connections this flow log counts">{formatNumber(f.num_flows)}</span>,
    },
    {
      key: "service",
      header: "Service",
      sortKey: "dest_service_name",
      render: (f) =>
        f.dest_service_name && f.dest_service_name !== "-" ? `${f.dest_service_name}:${f.dest_service_port}` : <span className="hit-rule">–</span>,
      filter: (f) => (f.dest_service_name && f.dest_service_name !== "-" ? { field: "dest_service_name", value: f.dest_service_name } : null),
    },
    {
      key: "host",
      header: "Host",
      sortKey: "host",
      render: (f) => f.host,
      filter: (f) => ({ field: "host", value: f.host }),
    },
  );
  return cols;
}

/** Every field of one flow log, each with filter for/out, and the policy trace in order. */
function FlowDetail({ flow, onFilter, range }: { flow: Flow; onFilter?: OnFilter; range: TimeRange }) {
  const enforced = flow.policies?.enforced_policies ?? [];
  const pending = flow.policies?.pending_policies ?? [];
  const [asJson, setAsJson] = useState(false);
  const [copied, setCopied] = useState<"yes" | "no">();
  const json = JSON.stringify(flow, null, 2);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(json);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  };
  return (
    <div className="flow-detail" data-testid="flow-detail">
      <div className="flow-detail-tools">
        <div className="segmented" role="group" aria-label="Show the flow log as">
          <button type="button" className={asJson ? "" : "active"} aria-pressed={!asJson} onClick={() => setAsJson(false)}>
            Fields
          </button>
          <button type="button" className={asJson ? "active" : ""} aria-pressed={asJson} onClick={() => setAsJson(true)} data-testid="flow-json-toggle">
            JSON
          </button>
        </div>
        <button type="button" className="btn btn-small" onClick={copy} data-testid="flow-copy">
          Copy JSON
        </button>
        {copied && (
          <span className="hit-rule" role="status">
            {copied === "yes" ? "Copied." : "The browser did not allow copying: select the JSON and copy it."}
          </span>
        )}
      </div>
      {asJson ? (
        <pre className="flow-json" data-testid="flow-json" tabIndex={0}>
          {json}
        </pre>
      ) : (
        <FlowFields flow={flow} enforced={enforced} pending={pending} onFilter={onFilter} range={range} />
      )}
    </div>
  );
}

function FlowFields({
  flow,
  enforced,
  pending,
  onFilter,
  range,
}: {
  flow: Flow;
  enforced: string[];
  pending: string[];
  onFilter?: OnFilter;
  range: TimeRange;
}) {
  return (
    <>
      <div className="flow-detail-hits">
        <div>
          <div className="hit-rule">Enforced policies (evaluation order)</div>
          <div className="hits">
            {enforced.length ? enforced.map((h) => <PolicyHitLabel key={h} hit={h} range={range} />) : "–"}
          </div>
        </div>
        {pending.join() !== enforced.join() && (
          <div>
            <div className="hit-rule">Pending (staged) policies</div>
            <div className="hits">
              {pending.map((h) => (
                <PolicyHitLabel key={h} hit={h} range={range} />
              ))}
            </div>
          </div>
        )}
      </div>
      <div className="fields-grid">
        {flowFieldRows(flow).map(([name, value, display]) => (
          <FieldRow key={name} name={name} value={value} display={display} onFilter={onFilter} />
        ))}
      </div>
    </>
  );
}

function FieldRow({
  name,
  value,
  display,
  onFilter,
}: {
  name: string;
  value: unknown;
  display: string | string[];
  onFilter?: OnFilter;
}) {
  const filterable = onFilter && (value === null || typeof value !== "object");
  return (
    <>
      <div className="fname">{name}</div>
      <div className="fvalue">
        {Array.isArray(display) ? (
          <span className="labels-list">
            {display.length === 0 && "–"}
            {display.map((d) => (
              <span className="label-tag" key={d}>
                {d}
                {onFilter && name.endsWith("labels.labels") && (
                  <CellActions
                    onFor={() => onFilter(name.replace(".labels", ""), d, false)}
                    onOut={() => onFilter(name.replace(".labels", ""), d, true)}
                  />
                )}
              </span>
            ))}
          </span>
        ) : (
          <span className="cell">
            <span>{display}</span>
            {filterable && (
              <CellActions onFor={() => onFilter!(name, value, false)} onOut={() => onFilter!(name, value, true)} />
            )}
          </span>
        )}
      </div>
    </>
  );
}
