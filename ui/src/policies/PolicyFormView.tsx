// The policy form: tier, order, scope, selector, types and every rule. Each change is
// handed up as a whole new form; the editor writes it into the YAML.
import { useState, type KeyboardEvent } from "react";
import {
  ACTIONS,
  PROTOCOLS,
  emptyRule,
  isGlobal,
  isStagedKind,
  tierPrefixedName,
  withScope,
  type Action,
  type Direction,
  type EntityForm,
  type PolicyForm,
  type RuleForm,
} from "./policyForm";
import { Icon } from "../components/Icon";

/** Validation messages by field path (`spec.egress[0].destination.ports`). */
export type FieldErrors = Map<string, string[]>;

interface Props {
  form: PolicyForm;
  onChange: (f: PolicyForm) => void;
  disabled: boolean;
  tiers: string[];
  namespaces: string[];
  errors: FieldErrors;
  /** Editing an existing policy: its identity (name, scope) is fixed. */
  existing: boolean;
}

function errorsAt(errors: FieldErrors, path: string): string[] {
  const out: string[] = [];
  for (const [k, v] of errors) if (k === path || k.startsWith(`${path}[`) || k.startsWith(`${path}.`)) out.push(...v);
  return out;
}

function FieldError({ errors, path }: { errors: FieldErrors; path: string }) {
  const list = errors.get(path);
  if (!list?.length) return null;
  return (
    <div className="pl-field-error" data-field-error={path}>
      {list.join("; ")}
    </div>
  );
}

export function PolicyFormView({ form, onChange, disabled, tiers, namespaces, errors, existing }: Props) {
  const set = (patch: Partial<PolicyForm>) => onChange({ ...form, ...patch });
  const global = isGlobal(form.kind);
  const tierOptions = tiers.includes(form.tier) ? tiers : [...tiers, form.tier];
  const nsOptions = form.namespace && !namespaces.includes(form.namespace) ? [form.namespace, ...namespaces] : namespaces;

  const setRules = (dir: Direction, rules: RuleForm[]) => {
    const patch: Partial<PolicyForm> = { [dir]: rules };
    // Adding the first rule of a direction turns that direction on, as a user expects.
    if (rules.length > 0 && form[dir].length === 0) {
      patch[dir === "ingress" ? "ingressType" : "egressType"] = true;
    }
    set(patch);
  };

  return (
    <fieldset className="pl-form" disabled={disabled} data-testid="policy-form">
      <div className="pl-form-grid">
        <label className="pl-field wide">
          <span>Name</span>
          <input
            value={form.name}
            onChange={(e) => set({ name: e.target.value })}
            readOnly={existing}
            className={errorsAt(errors, "metadata.name").length ? "bad" : ""}
            aria-label="Name"
          />
          <FieldError errors={errors} path="metadata.name" />
        </label>
        <label className="pl-field">
          <span>Tier</span>
          <select
            value={form.tier}
            onChange={(e) => set({ tier: e.target.value, name: tierPrefixedName(form.name, form.tier, e.target.value) })}
            aria-label="Tier"
            disabled={existing}
          >
            {tierOptions.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <FieldError errors={errors} path="spec.tier" />
        </label>
        <label className="pl-field">
          <span>Order</span>
          <input
            value={form.order}
            inputMode="decimal"
            onChange={(e) => set({ order: e.target.value })}
            className={errorsAt(errors, "spec.order").length ? "bad" : ""}
            aria-label="Order"
            placeholder="last"
          />
          <FieldError errors={errors} path="spec.order" />
        </label>
        <label className="pl-field">
          <span>Scope</span>
          <select
            value={global ? "global" : "namespace"}
            onChange={(e) =>
              e.target.value === "global"
                ? set({ kind: withScope(form.kind, true) })
                : set({ kind: withScope(form.kind, false), namespace: form.namespace || namespaces[0] || "default" })
            }
            aria-label="Scope"
            disabled={existing}
          >
            <option value="namespace">Namespace</option>
            <option value="global">Global</option>
          </select>
        </label>
        {!global && (
          <label className="pl-field">
            <span>Namespace</span>
            <select
              value={form.namespace}
              onChange={(e) => set({ namespace: e.target.value })}
              aria-label="Namespace"
              disabled={existing}
              className={form.namespace ? "" : "bad"}
            >
              {!form.namespace && <option value="">Choose a namespace…</option>}
              {nsOptions.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
            {!form.namespace && (
              <div className="pl-field-error" data-testid="choose-namespace">
                Choose the namespace it applies in.
              </div>
            )}
            <FieldError errors={errors} path="metadata.namespace" />
          </label>
        )}
        <div className="pl-field wide">
          <span>Types</span>
          <div className="pl-checks">
            <label>
              <input
                type="checkbox"
                checked={form.ingressType}
                onChange={(e) => set({ ingressType: e.target.checked, typesExplicit: true })}
              />{" "}
              Ingress
            </label>
            <label>
              <input
                type="checkbox"
                checked={form.egressType}
                onChange={(e) => set({ egressType: e.target.checked, typesExplicit: true })}
              />{" "}
              Egress
            </label>
            {isStagedKind(form.kind) && <span className="badge badge-staged">Staged kind</span>}
          </div>
          <FieldError errors={errors} path="spec.types" />
        </div>
        <label className="pl-field full">
          <span>Selector (endpoints this policy applies to)</span>
          <input
            className={`mono ${errorsAt(errors, "spec.selector").length ? "bad" : ""}`}
            value={form.selector}
            placeholder='e.g. app == "web" (empty: every endpoint)'
            onChange={(e) => set({ selector: e.target.value })}
            aria-label="Selector"
          />
          <FieldError errors={errors} path="spec.selector" />
        </label>
      </div>

      {(["ingress", "egress"] as Direction[]).map((dir) => (
        <RuleList
          key={dir}
          dir={dir}
          rules={form[dir]}
          onChange={(r) => setRules(dir, r)}
          errors={errors}
          active={dir === "ingress" ? form.ingressType : form.egressType}
        />
      ))}
    </fieldset>
  );
}

function RuleList({
  dir,
  rules,
  onChange,
  errors,
  active,
}: {
  dir: Direction;
  rules: RuleForm[];
  onChange: (r: RuleForm[]) => void;
  errors: FieldErrors;
  active: boolean;
}) {
  const title = dir === "ingress" ? "Ingress rules" : "Egress rules";
  const update = (i: number, r: RuleForm) => onChange(rules.map((x, j) => (j === i ? r : x)));
  const move = (i: number, d: number) => {
    const next = [...rules];
    const [r] = next.splice(i, 1);
    next.splice(i + d, 0, r);
    onChange(next);
  };
  return (
    <section className={`pl-rule-list ${active ? "" : "inactive"}`} data-testid={`form-${dir}`}>
      <h3>
        {title} <span className="count-pill">{rules.length}</span>
        {!active && <span className="note">{dir} is not in the policy's types</span>}
      </h3>
      {rules.map((r, i) => (
        <RuleEditor
          key={i}
          dir={dir}
          index={i}
          rule={r}
          count={rules.length}
          onChange={(x) => update(i, x)}
          onMove={(d) => move(i, d)}
          onRemove={() => onChange(rules.filter((_, j) => j !== i))}
          errors={errors}
        />
      ))}
      <button type="button" className="btn btn-small btn-dashed" onClick={() => onChange([...rules, emptyRule()])} data-testid={`add-${dir}-rule`}>
        <Icon name="plus" size={14} /> Add {dir} rule
      </button>
    </section>
  );
}

function RuleEditor({
  dir,
  index,
  rule,
  count,
  onChange,
  onMove,
  onRemove,
  errors,
}: {
  dir: Direction;
  index: number;
  rule: RuleForm;
  count: number;
  onChange: (r: RuleForm) => void;
  onMove: (d: number) => void;
  onRemove: () => void;
  errors: FieldErrors;
}) {
  const path = `spec.${dir}[${index}]`;
  const bad = errorsAt(errors, path).length > 0;
  const protocols: string[] = PROTOCOLS.includes(rule.protocol as (typeof PROTOCOLS)[number])
    ? [...PROTOCOLS]
    : [...PROTOCOLS, rule.protocol];
  return (
    <div className={`pl-rule-edit ${bad ? "bad" : ""}`} data-testid={`rule-${dir}-${index}`}>
      <div className="pl-rule-edit-head">
        <span className="pl-rule-idx">{index}</span>
        <select
          className={`pl-action-select ${rule.action.toLowerCase()}`}
          value={rule.action}
          onChange={(e) => onChange({ ...rule, action: e.target.value as Action })}
          aria-label={`${dir} rule ${index} action`}
        >
          {ACTIONS.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
        <select
          value={rule.protocol}
          onChange={(e) => onChange({ ...rule, protocol: e.target.value })}
          aria-label={`${dir} rule ${index} protocol`}
        >
          {protocols.map((p) => (
            <option key={p} value={p}>
              {p || "Any protocol"}
            </option>
          ))}
        </select>
        <span className="grow" />
        <button type="button" className="icon-btn" onClick={() => onMove(-1)} disabled={index === 0} title="Move up" aria-label="Move up">
          <Icon name="up" size={14} />
        </button>
        <button type="button" className="icon-btn" onClick={() => onMove(1)} disabled={index === count - 1} title="Move down" aria-label="Move down">
          <Icon name="down" size={14} />
        </button>
        <button type="button" className="icon-btn danger" onClick={onRemove} title="Remove rule" aria-label="Remove rule">
          <Icon name="trash" size={14} />
        </button>
      </div>
      <FieldError errors={errors} path={path} />
      <FieldError errors={errors} path={`${path}.action`} />
      <FieldError errors={errors} path={`${path}.protocol`} />
      <div className="pl-rule-edit-body">
        {(["source", "destination"] as const).map((side) => (
          <EntityEditor
            key={side}
            label={`${dir} rule ${index} ${side}`}
            title={side === "source" ? "From (source)" : "To (destination)"}
            path={`${path}.${side}`}
            entity={rule[side]}
            onChange={(e) => onChange({ ...rule, [side]: e })}
            errors={errors}
          />
        ))}
      </div>
    </div>
  );
}

function EntityEditor({
  label,
  title,
  path,
  entity,
  onChange,
  errors,
}: {
  label: string;
  title: string;
  path: string;
  entity: EntityForm;
  onChange: (e: EntityForm) => void;
  errors: FieldErrors;
}) {
  type Key = keyof Omit<EntityForm, "present">;
  const fields: { key: Key; name: string; placeholder: string; list: boolean }[] = [
    { key: "selector", name: "Selector", placeholder: "any endpoint", list: false },
    { key: "namespaceSelector", name: "Namespace selector", placeholder: "this policy's namespace", list: false },
    { key: "nets", name: "Nets", placeholder: "10.0.0.0/8 ↵", list: true },
    { key: "ports", name: "Ports", placeholder: "80, 8000:9000, http ↵", list: true },
    { key: "notSelector", name: "Not selector", placeholder: "", list: false },
    { key: "notNets", name: "Not nets", placeholder: "", list: true },
    { key: "notPorts", name: "Not ports", placeholder: "", list: true },
  ];
  // Only the matches in use are shown, so a rule reads like its YAML; the rest are a click away.
  const [opened, setOpened] = useState<Set<Key>>(() => new Set(path.endsWith("destination") ? ["ports"] : []));
  const filled = (k: Key) => (Array.isArray(entity[k]) ? (entity[k] as string[]).length > 0 : entity[k] !== "");
  const visible = fields.filter((f) => filled(f.key) || opened.has(f.key) || errorsAt(errors, `${path}.${f.key}`).length > 0);
  const hidden = fields.filter((f) => !visible.includes(f));
  const set = (patch: Partial<EntityForm>) => onChange({ ...entity, ...patch });
  const render = (f: (typeof fields)[number]) => {
    const msgs = errorsAt(errors, `${path}.${f.key}`);
    return (
      <div className="pl-field" key={f.key}>
        <span>{f.name}</span>
        {f.list ? (
          <ChipsInput
            values={entity[f.key] as string[]}
            onChange={(v) => set({ [f.key]: v })}
            placeholder={f.placeholder}
            label={`${label} ${f.name.toLowerCase()}`}
            bad={msgs.length > 0}
          />
        ) : (
          <input
            className={`mono ${msgs.length ? "bad" : ""}`}
            value={entity[f.key] as string}
            placeholder={f.placeholder}
            onChange={(e) => set({ [f.key]: e.target.value })}
            aria-label={`${label} ${f.name.toLowerCase()}`}
          />
        )}
        {/* Messages for the field and for its items (ports[1], …). */}
        {msgs.map((m, i) => (
          <div key={i} className="pl-field-error">
            {m}
          </div>
        ))}
      </div>
    );
  };
  return (
    <div className="pl-entity" data-testid={`entity-${path}`}>
      <div className="pl-entity-title">{title}</div>
      {visible.length === 0 && <div className="pl-entity-any">Any endpoint, any port</div>}
      {visible.map(render)}
      {hidden.length > 0 && (
        <div className="pl-entity-add">
          {hidden
            .filter((f) => !f.key.startsWith("not"))
            .map((f) => (
              <button
                type="button"
                key={f.key}
                className="pl-add-match"
                onClick={() => setOpened(new Set([...opened, f.key]))}
                aria-label={`${label}: add ${f.name.toLowerCase()}`}
              >
                + {f.name}
              </button>
            ))}
          {hidden.some((f) => f.key.startsWith("not")) && (
            <button
              type="button"
              className="pl-add-match"
              title="Not selector, not nets, not ports"
              onClick={() => setOpened(new Set([...opened, ...hidden.filter((f) => f.key.startsWith("not")).map((f) => f.key)]))}
              aria-label={`${label}: add exclusions`}
            >
              + Exclusions
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/** A list edited as chips: type a value and press Enter, comma or Tab; Backspace removes. */
function ChipsInput({
  values,
  onChange,
  placeholder,
  label,
  bad,
}: {
  values: string[];
  onChange: (v: string[]) => void;
  placeholder: string;
  label: string;
  bad: boolean;
}) {
  const [draft, setDraft] = useState("");
  const commit = () => {
    const items = draft
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length) onChange([...values, ...items]);
    setDraft("");
  };
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter" || e.key === ",") {
      e.preventDefault();
      commit();
    } else if (e.key === "Backspace" && draft === "" && values.length) {
      onChange(values.slice(0, -1));
    }
  };
  return (
    <div className={`pl-chips ${bad ? "bad" : ""}`}>
      {values.map((v, i) => (
        <span className="pl-chip" key={`${v}-${i}`}>
          {v}
          <button type="button" onClick={() => onChange(values.filter((_, j) => j !== i))} aria-label={`Remove ${v}`}>
            ×
          </button>
        </span>
      ))}
      <input
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        onKeyDown={onKey}
        onBlur={commit}
        placeholder={values.length ? "" : placeholder}
        aria-label={label}
      />
    </div>
  );
}
