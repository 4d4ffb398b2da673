// The filter bar: the query's terms as chips (field filters, label selectors, policy), an input
// that adds `field=value` terms with autocompletion, and the label-selector inputs.
import { useId, useMemo, useState } from "react";
import {
  ABSENT,
  FIELD_DOMAINS,
  FILTER_FIELDS,
  FILTER_OPS_TEXT,
  IN_LIST_PREFIX,
  didYouMean,
  formatFilter,
  negateFilter,
  parseFilter,
  removeFilter,
  addFilter,
  type FlowFieldName,
  type FlowQuery,
  type Filter,
} from "../api";

/** Chips for everything in the query but its time range. Each has a key for removal. */
export interface QueryChip {
  key: string;
  label: string;
  kind: "filter" | "selector" | "policy";
  negated?: boolean;
  filterIndex?: number;
}

export function queryChips(q: FlowQuery): QueryChip[] {
  const chips: QueryChip[] = q.filters.map((f, i) => ({
    key: `filter:${i}`,
    label: formatFilter(f),
    kind: "filter",
    negated: f.op.startsWith("!"),
    filterIndex: i,
  }));
  if (q.source_selector) chips.push({ key: "source_selector", label: `source: ${q.source_selector}`, kind: "selector" });
  if (q.dest_selector) chips.push({ key: "dest_selector", label: `dest: ${q.dest_selector}`, kind: "selector" });
  if (q.policy) {
    let label = `policy ${q.policy}`;
    if (q.policy_action) label += ` · ${q.policy_action}`;
    if (q.policy_rule !== undefined) label += ` · ${Number(q.policy_rule) < 0 ? "end of tier" : `rule ${q.policy_rule}`}`;
    chips.push({ key: "policy", label, kind: "policy" });
  }
  return chips;
}

export function removeChip(q: FlowQuery, chip: QueryChip): FlowQuery {
  if (chip.kind === "filter" && chip.filterIndex !== undefined) return removeFilter(q, chip.filterIndex);
  if (chip.key === "source_selector") return { ...q, source_selector: undefined };
  if (chip.key === "dest_selector") return { ...q, dest_selector: undefined };
  if (chip.key === "policy") return { ...q, policy: undefined, policy_action: undefined, policy_rule: undefined };
  return q;
}

/**
 * What is wrong with a filter typed into the bar, or undefined when it can be sent: a filter
 * is FIELD, an operator and a VALUE with no spaces. A value outside a field's closed set
 * (action, reporter, endpoint types) would match nothing, so it is caught here with the value
 * it was probably meant to be.
 */
export function filterProblem(text: string): string | undefined {
  const t = text.trim();
  const f = parseFilter(t);
  if (!f) {
    // "action deny", "action: deny", "action == deny": the field and value are there.
    const m = /^([A-Za-z_][A-Za-z0-9_.]*)\s*(?:==|:|\s)\s*(\S.*)$/.exec(t);
    if (m) return `Write the filter without spaces, as FIELD=VALUE: did you mean ${m[1]}=${m[2].trim()}?`;
    return `A filter is FIELD, an operator (${FILTER_OPS_TEXT}) and a VALUE, e.g. action=deny or dest_port>=1024.`;
  }
  const domain = FIELD_DOMAINS[f.field as FlowFieldName];
  if (!f.value) {
    return `${f.field}${f.op} needs a value${domain ? `: ${domain.map((v) => `${f.field}${f.op}${v}`).join(" or ")}` : ", e.g. action=deny"}.`;
  }
  if (domain && (f.op === "=" || f.op === "!=")) {
    const values = f.value.startsWith(IN_LIST_PREFIX) ? f.value.slice(IN_LIST_PREFIX.length).split(",") : [f.value];
    for (const v of values) {
      if (domain.includes(v) || v === ABSENT) continue;
      const meant = didYouMean(v, domain);
      return `${f.field} is one of ${domain.join(", ")}${meant ? `: did you mean ${f.field}${f.op}${f.value.replace(v, meant)}?` : "."}`;
    }
  }
  return undefined;
}

/** Suggestions for the filter input: fields first, then values of the typed field. */
export function suggestFilters(text: string, values: (field: string) => string[]): string[] {
  const f = parseFilter(text);
  if (!f) {
    const t = text.trim().toLowerCase();
    return FILTER_FIELDS.filter((x) => x.startsWith(t) || (t.length > 1 && x.includes(t))).map((x) => `${x}=`);
  }
  return values(f.field)
    .filter((v) => v.toLowerCase().startsWith(f.value.toLowerCase()))
    .slice(0, 50)
    .map((v) => `${f.field}${f.op}${v}`);
}

export function FilterBar({
  query,
  onChange,
  values = () => [],
  labelSuggestions = [],
  showSelectors = true,
}: {
  query: FlowQuery;
  onChange: (q: FlowQuery) => void;
  /** Known values of a field (namespaces, names, …) for autocompletion. */
  values?: (field: string) => string[];
  /** `key == "value"` selector terms for the label inputs. */
  labelSuggestions?: string[];
  /** False when the label inputs are placed elsewhere (see LabelSelectors). */
  showSelectors?: boolean;
}) {
  const id = useId();
  const [text, setText] = useState("");
  const [error, setError] = useState<string>();
  const suggestions = useMemo(() => suggestFilters(text, values), [text, values]);
  const chips = queryChips(query);

  const submit = () => {
    const t = text.trim();
    if (!t) return;
    const problem = filterProblem(t);
    const f = parseFilter(t);
    if (problem || !f) {
      setError(problem);
      return;
    }
    setError(undefined);
    onChange(addFilter(query, f));
    setText("");
  };

  return (
    <div className="filter-bar" data-testid="filter-bar">
      <div className="chips">
        {chips.map((c) => (
          <span
            key={c.key}
            className={`chip chip-${c.kind}${c.negated ? " chip-negated" : ""}`}
            data-testid="filter-chip"
            title={c.label}
          >
            <span className="chip-label">{c.label}</span>
            {c.kind === "filter" && c.filterIndex !== undefined && (
              // After the label, so a chip never reads as "not …": the label says what it keeps.
              <button
                type="button"
                className="chip-btn"
                aria-label={`Invert ${c.label}: keep the flows it leaves out`}
                title="Invert: keep the flows this filter leaves out"
                data-testid="chip-invert"
                onClick={() => {
                  const i = c.filterIndex!;
                  const filters: Filter[] = query.filters.map((f, j) => (j === i ? negateFilter(f) : f));
                  onChange({ ...query, filters });
                }}
              >
                <svg viewBox="0 0 16 16" width="11" height="11" aria-hidden="true">
                  <path d="M3 5h9l-2.5-2.5M13 11H4l2.5 2.5" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round" />
                </svg>
              </button>
            )}
            <button
              type="button"
              className="chip-btn"
              aria-label={`Remove ${c.label}`}
              title="Remove"
              onClick={() => onChange(removeChip(query, c))}
            >
              ×
            </button>
          </span>
        ))}
        <form
          className="chip-input"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <input
            list={`${id}-sugg`}
            value={text}
            placeholder={chips.length ? "Add filter…" : "Filter: action=deny, dest_port>=1024, source_namespace=…"}
            onChange={(e) => {
              setText(e.target.value);
              setError(undefined);
            }}
            aria-label="Add filter"
            data-testid="filter-input"
            spellCheck={false}
          />
          <datalist id={`${id}-sugg`}>
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </form>
        {chips.length > 0 && (
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() =>
              onChange({
                ...query,
                filters: [],
                source_selector: undefined,
                dest_selector: undefined,
                policy: undefined,
                policy_action: undefined,
                policy_rule: undefined,
              })
            }
          >
            Clear
          </button>
        )}
      </div>
      {error && (
        <div className="field-error" role="alert" data-testid="filter-problem">
          {error}
        </div>
      )}
      {showSelectors && <LabelSelectors query={query} onChange={onChange} suggestions={labelSuggestions} />}
    </div>
  );
}

/** Source and destination label selectors (Calico selector syntax). */
export function LabelSelectors({
  query,
  onChange,
  suggestions,
}: {
  query: FlowQuery;
  onChange: (q: FlowQuery) => void;
  suggestions: string[];
}) {
  const id = useId();
  return (
    <div className="selectors">
      <datalist id={`${id}-labels`}>
        {suggestions.slice(0, 200).map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <SelectorInput
        label="Source labels"
        listId={`${id}-labels`}
        value={query.source_selector ?? ""}
        onSubmit={(v) => onChange({ ...query, source_selector: v || undefined })}
        testId="source-selector"
      />
      <SelectorInput
        label="Destination labels"
        listId={`${id}-labels`}
        value={query.dest_selector ?? ""}
        onSubmit={(v) => onChange({ ...query, dest_selector: v || undefined })}
        testId="dest-selector"
      />
    </div>
  );
}

function SelectorInput({
  label,
  value,
  onSubmit,
  listId,
  testId,
}: {
  label: string;
  value: string;
  onSubmit: (v: string) => void;
  listId: string;
  testId: string;
}) {
  const [text, setText] = useState(value);
  const [prev, setPrev] = useState(value);
  // Follow the route when it changes under us (chip removed, link followed).
  if (prev !== value) {
    setPrev(value);
    setText(value);
  }
  return (
    <form
      className="selector-input"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(text.trim());
      }}
    >
      <span>{label}</span>
      <input
        list={listId}
        value={text}
        placeholder={'app == "frontend"'}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => text.trim() !== value && onSubmit(text.trim())}
        data-testid={testId}
        spellCheck={false}
      />
    </form>
  );
}

/** `key == "value"` terms for every label the inventory knows. */
export function labelSelectorSuggestions(keys: Record<string, string[]> | undefined): string[] {
  if (!keys) return [];
  const out: string[] = [];
  for (const [k, vs] of Object.entries(keys)) {
    out.push(`has(${k})`);
    for (const v of vs) out.push(`${k} == "${v}"`);
  }
  return out;
}
