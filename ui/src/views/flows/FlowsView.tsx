// Flows: the flow-log table of Kibana's dashboard. Every API query parameter in the route is
// honoured (since/from/to, filter, selectors, policy/policy_action/policy_rule, sort, limit,
// hits), so other views can link here with exactly the flows they mean.
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import {
  addFilter,
  api,
  exportUrl,
  filterForValue,
  formatBytes,
  formatNumber,
  formatShortTime,
  formatTime,
  getExtra,
  queryToParams,
  setExtra,
  streamFlows,
  type Flow,
  type FlowQuery,
  type PageOptions,
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
  extraFlows,
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
  /** Flows to show instead of querying (e.g. an edge's representative flows). */
  extraFlows?: Flow[];
}) {
  const [flows, setFlows] = useState<Flow[]>([]);
  const [total, setTotal] = useState<number>();
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [expanded, setExpanded] = useState<Set<string | number>>(new Set());
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [liveState, setLiveState] = useState<"open" | "error">();
  const [reloadTick, setReloadTick] = useState(0);
  // The query string of the page on screen, so tests (and anyone inspecting the page) can tell
  // which question the rows answer.
  const [loadedQuery, setLoadedQuery] = useState<string>();
  const key = JSON.stringify([query, page]);
  const liveIds = useRef(0);

  useEffect(() => {
    if (extraFlows) return;
    const ctl = new AbortController();
    setLoading(true);
    api.flows(query, page, ctl.signal).then(
      (p) => {
        setFlows(p.flows);
        setTotal(p.total);
        setNext(p.next_page_token);
        setError(undefined);
        setLoading(false);
        setFresh(new Set());
        setLoadedQuery(queryToParams(query, { omitExtra: true }).toString());
      },
      (e: Error) => {
        if (ctl.signal.aborted) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => ctl.abort();
    // `key` stands for query and page, which are new objects on every render.
  }, [key, reloadTick, extraFlows]);

  useEffect(() => {
    if (!live || extraFlows) return;
    const stop = streamFlows(
      query,
      (batch) => {
        if (!batch.length) return;
        // Streamed records may come without their store id; give those a local, negative one.
        for (const f of batch) if (typeof f.id !== "number") f.id = --liveIds.current;
        const newest = [...batch].sort((a, b) => b.end_time - a.end_time);
        setFlows((old) => {
          const seen = new Set(old.map((f) => f.id));
          const add = newest.filter((f) => !seen.has(f.id));
          return [...add, ...old].slice(0, LIVE_MAX);
        });
        setTotal((t) => (t ?? 0) + batch.length);
        setFresh(new Set(batch.map((f) => f.id)));
      },
      setLiveState,
    );
    return () => {
      stop();
      setLiveState(undefined);
    };
  }, [live, key, extraFlows]);

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

  const rows = extraFlows ?? flows;
  const columns = useMemo(() => flowColumns(onFilter, compact), [onFilter, compact]);
  return (
    <div className="card results" data-testid="flow-results" aria-busy={loading} data-loaded-query={loadedQuery}>
      {loading && <div className="loading-bar" />}
      <div className="results-head">
        {title}
        <span className="count" data-testid="flow-count">
          {extraFlows
            ? `${formatNumber(rows.length)} flow logs`
            : total === undefined
              ? "…"
              : `${formatNumber(total)} flow log${total === 1 ? "" : "s"}`}
        </span>
        {!extraFlows && total !== undefined && rows.length < total && (
          <span className="muted">showing {formatNumber(rows.length)}</span>
        )}
        {live && (
          <span className="muted" data-testid="live-state">
            {liveState === "open" ? "streaming new flows" : liveState === "error" ? "reconnecting…" : "connecting…"}
          </span>
        )}
        {error && rows.length > 0 && (
          <span className="field-error" role="alert">
            {error.message}
          </span>
        )}
        {actions && <span className="results-actions">{actions}</span>}
      </div>
      {error && !rows.length ? (
        <ErrorState error={error} onRetry={() => setReloadTick((n) => n + 1)} />
      ) : (
        <DataTable
          testId="flows-table"
          columns={columns}
          rows={rows}
          rowKey={(f) => f.id}
          rowClassName={(f) => `${f.action === "deny" ? "row-deny" : ""} ${fresh.has(f.id) ? "row-live" : ""}`}
          onFilter={onFilter}
          sort={sort}
          onSort={onSort}
          expanded={expanded}
          onToggleExpand={(k) =>
            setExpanded((s) => {
              const n = new Set(s);
              if (n.has(k)) n.delete(k);
              else n.add(k);
              return n;
            })
          }
          renderExpanded={(f) => <FlowDetail flow={f} onFilter={onFilter} since={query.since} />}
          empty={
            loading ? (
              "Loading flows…"
            ) : (
              <Empty title="No flows match">Widen the time range or remove a filter.</Empty>
            )
          }
        />
      )}
      {!extraFlows && next && !live && (
        <div className="results-foot">
          <button type="button" className="btn" onClick={loadMore} disabled={loading} data-testid="load-more">
            Load {formatNumber(Math.min(page.limit ?? PAGE, (total ?? 0) - rows.length))} more
          </button>
        </div>
      )}
    </div>
  );
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

export function flowColumns(onFilter: OnFilter | undefined, compact: boolean): Column<Flow>[] {
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
      render: (f) => f.dest_port ?? "–",
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
        return <PolicyHitCompact hit={hit} extra={enforced.length - 1} />;
      },
    },
    {
      key: "bytes",
      header: "Bytes",
      sortKey: "bytes_out",
      align: "right",
      render: (f) => <span title={`in ${f.bytes_in} · out ${f.bytes_out}`}>{formatBytes(f.bytes_in + f.bytes_out)}</span>,
    },
    {
      key: "packets",
      header: "Packets",
      sortKey: "packets_out",
      align: "right",
      render: (f) => (
        <span title={`in ${f.packets_in} · out ${f.packets_out}`}>{formatNumber(f.packets_in + f.packets_out)}</span>
      ),
    },
    {
      key: "process",
      header: "Process",
      sortKey: "process_name",
      render: (f) => (f.process_name && f.process_name !== "-" ? f.process_name : <span className="hit-rule">–</span>),
      filter: (f) => (f.process_name && f.process_name !== "-" ? { field: "process_name", value: f.process_name } : null),
    },
  ];
  return compact ? cols.filter((c) => c.key !== "reporter" && c.key !== "process") : cols;
}

/** Every field of one flow log, each with filter for/out, and the policy trace in order. */
function FlowDetail({ flow, onFilter, since }: { flow: Flow; onFilter?: OnFilter; since?: string }) {
  const enforced = flow.policies?.enforced_policies ?? [];
  const pending = flow.policies?.pending_policies ?? [];
  return (
    <div className="flow-detail" data-testid="flow-detail">
      <div style={{ display: "flex", gap: 24, flexWrap: "wrap", margin: "8px 0 10px" }}>
        <div>
          <div className="hit-rule">Enforced policies (evaluation order)</div>
          <div className="hits">
            {enforced.length ? enforced.map((h) => <PolicyHitLabel key={h} hit={h} since={since} />) : "–"}
          </div>
        </div>
        {pending.join() !== enforced.join() && (
          <div>
            <div className="hit-rule">Pending (staged) policies</div>
            <div className="hits">
              {pending.map((h) => (
                <PolicyHitLabel key={h} hit={h} since={since} />
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
    </div>
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
