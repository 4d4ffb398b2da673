// A dense, sortable table with expandable rows and per-cell "filter for / filter out value"
// actions, as in Kibana's document table. Rendering stays cheap: rows are plain <tr>s and the
// caller pages (the Flows view shows at most a few hundred rows at a time).
import { memo, type ReactNode, type Ref } from "react";

export interface Column<T> {
  key: string;
  header: ReactNode;
  /** The column's name where the header is not text (the column picker). */
  label?: string;
  render: (row: T) => ReactNode;
  /** The field and value "filter for/out" uses; omit to offer no cell actions. */
  filter?: (row: T) => { field: string; value: unknown } | null;
  /** The API sort key (`end_time`, `bytes_out`, …); omit for unsortable columns. */
  sortKey?: string;
  align?: "left" | "right";
  width?: string;
  className?: string;
}

export type SortDir = "asc" | "desc";
export interface SortState {
  key: string;
  dir: SortDir;
}

export function DataTable<T>({
  columns,
  rows,
  rowKey,
  renderExpanded,
  expanded,
  onToggleExpand,
  onFilter,
  sort,
  onSort,
  rowClassName,
  onRowClick,
  selectedKey,
  testId,
  empty,
  wrapRef,
  onScroll,
  onPointerInside,
}: {
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  renderExpanded?: (row: T) => ReactNode;
  expanded?: Set<string | number>;
  onToggleExpand?: (key: string | number) => void;
  onFilter?: (field: string, value: unknown, exclude: boolean) => void;
  sort?: SortState;
  onSort?: (s: SortState) => void;
  rowClassName?: (row: T) => string;
  onRowClick?: (row: T) => void;
  selectedKey?: string | number;
  testId?: string;
  empty?: ReactNode;
  /** The scrolling element, e.g. to scroll back to the top. */
  wrapRef?: Ref<HTMLDivElement>;
  /** The vertical scroll offset, as the user scrolls. */
  onScroll?: (top: number) => void;
  /** Whether the pointer is over the rows (live tables pause so rows do not move under it). */
  onPointerInside?: (inside: boolean) => void;
}) {
  const expandable = !!renderExpanded;
  const span = columns.length + (expandable ? 1 : 0);
  return (
    <div
      className="table-wrap"
      ref={wrapRef}
      onScroll={onScroll ? (e) => onScroll(e.currentTarget.scrollTop) : undefined}
      onPointerEnter={onPointerInside ? () => onPointerInside(true) : undefined}
      onPointerLeave={onPointerInside ? () => onPointerInside(false) : undefined}
    >
      <table className="data-table" data-testid={testId}>
        <thead>
          <tr>
            {expandable && <th className="col-expand" aria-label="Expand" />}
            {columns.map((c) => {
              const active = sort && c.sortKey && sort.key === c.sortKey;
              return (
                <th
                  key={c.key}
                  data-col={c.key}
                  style={{ width: c.width, textAlign: c.align }}
                  className={`${c.sortKey && onSort ? "sortable" : ""} ${active ? "sorted" : ""}`}
                  aria-sort={active ? (sort!.dir === "asc" ? "ascending" : "descending") : undefined}
                  onClick={
                    c.sortKey && onSort
                      ? () =>
                          onSort({
                            key: c.sortKey!,
                            dir: active && sort!.dir === "desc" ? "asc" : "desc",
                          })
                      : undefined
                  }
                >
                  {c.header}
                  {active && <span className="sort-arrow">{sort!.dir === "asc" ? "▲" : "▼"}</span>}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && empty && (
            <tr>
              <td colSpan={span} className="table-empty">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((row) => {
            const k = rowKey(row);
            return (
              <DataRow
                key={k}
                row={row}
                rowKey={k}
                columns={columns}
                span={span}
                open={expanded?.has(k) ?? false}
                className={`${rowClassName?.(row) ?? ""} ${selectedKey === k ? "selected" : ""} ${onRowClick ? "clickable" : ""}`}
                renderExpanded={renderExpanded}
                onToggleExpand={onToggleExpand}
                onFilter={onFilter}
                onRowClick={onRowClick}
              />
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

interface DataRowProps<T> {
  row: T;
  rowKey: string | number;
  columns: Column<T>[];
  span: number;
  open: boolean;
  className: string;
  renderExpanded?: (row: T) => ReactNode;
  onToggleExpand?: (key: string | number) => void;
  onFilter?: (field: string, value: unknown, exclude: boolean) => void;
  onRowClick?: (row: T) => void;
}

function DataRowView<T>({ row, rowKey: k, columns, span, open, className, renderExpanded, onToggleExpand, onFilter, onRowClick }: DataRowProps<T>) {
  return (
    <>
      <tr className={`${className} ${open ? "expanded" : ""}`} onClick={onRowClick ? () => onRowClick(row) : undefined} data-row-key={k}>
        {renderExpanded && (
          <td className="col-expand">
            <button
              type="button"
              className="icon-btn expand-btn"
              aria-expanded={open}
              aria-label={open ? "Collapse row" : "Expand row"}
              onClick={(e) => {
                e.stopPropagation();
                onToggleExpand?.(k);
              }}
            >
              {open ? "▾" : "▸"}
            </button>
          </td>
        )}
        {columns.map((c) => {
          const fv = onFilter && c.filter ? c.filter(row) : null;
          return (
            <td key={c.key} style={{ textAlign: c.align }} className={c.className} data-col={c.key}>
              {fv ? (
                <span className="cell">
                  <span className="cell-value">{c.render(row)}</span>
                  <CellActions onFor={() => onFilter!(fv.field, fv.value, false)} onOut={() => onFilter!(fv.field, fv.value, true)} />
                </span>
              ) : (
                c.render(row)
              )}
            </td>
          );
        })}
      </tr>
      {open && renderExpanded && (
        <tr className="row-detail">
          <td colSpan={span}>{renderExpanded(row)}</td>
        </tr>
      )}
    </>
  );
}

/**
 * One row (and its detail when open). A closed row renders again only when what it shows
 * changed, so a live table that puts new rows on top does not redraw the hundreds below them.
 */
const DataRow = memo(
  DataRowView,
  (a, b) =>
    !a.open &&
    !b.open &&
    a.row === b.row &&
    a.rowKey === b.rowKey &&
    a.className === b.className &&
    a.columns === b.columns &&
    a.span === b.span &&
    a.onToggleExpand === b.onToggleExpand &&
    a.onFilter === b.onFilter &&
    a.onRowClick === b.onRowClick,
) as typeof DataRowView;

/** The two magnifier buttons shown on a hovered cell. */
export function CellActions({ onFor, onOut }: { onFor: () => void; onOut: () => void }) {
  return (
    <span className="cell-actions">
      <button
        type="button"
        className="cell-action"
        title="Filter for value"
        aria-label="Filter for value"
        data-testid="filter-for"
        onClick={(e) => {
          e.stopPropagation();
          onFor();
        }}
      >
        <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
          <circle cx="6.5" cy="6.5" r="4.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
          <path d="M10 10l4 4M4.5 6.5h4M6.5 4.5v4" stroke="currentColor" strokeWidth="1.6" />
        </svg>
      </button>
      <button
        type="button"
        className="cell-action"
        title="Filter out value"
        aria-label="Filter out value"
        data-testid="filter-out"
        onClick={(e) => {
          e.stopPropagation();
          onOut();
        }}
      >
        <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
          <circle cx="6.5" cy="6.5" r="4.5" fill="none" stroke="currentColor" strokeWidth="1.6" />
          <path d="M10 10l4 4M4.5 6.5h4" stroke="currentColor" strokeWidth="1.6" />
        </svg>
      </button>
    </span>
  );
}
