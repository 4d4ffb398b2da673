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
import { Icon } from "./icons";

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
        <div className="pl-field">
          <span>Scope</span>
          <div className="pl-seg small" role="radiogroup" aria-label="Scope">
            <button
              type="button"
              className={!global ? "on" : ""}
              onClick={() => set({ kind: withScope(form.kind, false), namespace: form.namespace || namespaces[0] || "default" })}
              disabled={existing}
            >
              Namespace
            </button>
            <button type="button" className={global ? "on" : ""} onClick={() => set({ kind: withScope(form.kind, true) })} disabled={existing}>
              Global
            </button>
          </div>
        </div>
        {!global && (
          <label className="pl-field">
            <span>Namespace</span>
            <select value={form.namespace} onChange={(e) => set({ namespace: e.target.value })} aria-label="Namespace" disabled={existing}>
              {nsOptions.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
            <FieldError errors={errors} path="metadata.namespace" />
          </label>
        )}
        <label className="pl-field wide">
          <span>Selector (endpoints this policy applies to)</span>
          <input
            className={`mono ${errorsAt(errors, "spec.selector").length ? "bad" : ""}`}
            value={form.selector}
            placeholder="all()"
            onChange={(e) => set({ selector: e.target.value })}
            aria-label="Selector"
          />
          <FieldError errors={errors} path="spec.selector" />
        </label>
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
            {isStagedKind(form.kind) && <span className="pl-badge staged">Staged kind</span>}
          </div>
          <FieldError errors={errors} path="spec.types" />
        </div>
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
        {title} <span className="pl-count">{rules.length}</span>
        {!active && <span className="pl-note">{dir} is not in the policy's types</span>}
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
      <button type="button" className="pl-btn small ghost" onClick={() => onChange([...rules, emptyRule()])} data-testid={`add-${dir}-rule`}>
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
        <button type="button" className="pl-icon-btn" onClick={() => onMove(-1)} disabled={index === 0} title="Move up">
          <Icon name="up" size={14} />
        </button>
        <button type="button" className="pl-icon-btn" onClick={() => onMove(1)} disabled={index === count - 1} title="Move down">
          <Icon name="down" size={14} />
        </button>
        <button type="button" className="pl-icon-btn danger" onClick={onRemove} title="Remove rule">
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
  const hasNegations = entity.notSelector !== "" || entity.notNets.length > 0 || entity.notPorts.length > 0;
  const [more, setMore] = useState(hasNegations);
  const set = (patch: Partial<EntityForm>) => onChange({ ...entity, ...patch });
  const text = (key: "selector" | "namespaceSelector" | "notSelector", name: string, placeholder: string) => (
    <label className="pl-field">
      <span>{name}</span>
      <input
        className={`mono ${errorsAt(errors, `${path}.${key}`).length ? "bad" : ""}`}
        value={entity[key]}
        placeholder={placeholder}
        onChange={(e) => set({ [key]: e.target.value })}
        aria-label={`${label} ${name.toLowerCase()}`}
      />
      <FieldError errors={errors} path={`${path}.${key}`} />
    </label>
  );
  const list = (key: "nets" | "notNets" | "ports" | "notPorts", name: string, placeholder: string) => (
    <div className="pl-field">
      <span>{name}</span>
      <ChipsInput
        values={entity[key]}
        onChange={(v) => set({ [key]: v })}
        placeholder={placeholder}
        label={`${label} ${name.toLowerCase()}`}
        bad={errorsAt(errors, `${path}.${key}`).length > 0}
      />
      {/* Messages for the list and for its items (ports[1], …). */}
      {errorsAt(errors, `${path}.${key}`).map((m, i) => (
        <div key={i} className="pl-field-error">
          {m}
        </div>
      ))}
    </div>
  );
  return (
    <div className="pl-entity" data-testid={`entity-${path}`}>
      <div className="pl-entity-title">{title}</div>
      {text("selector", "Selector", "any endpoint")}
      {text("namespaceSelector", "Namespace selector", "this policy's namespace")}
      {list("nets", "Nets", "10.0.0.0/8 ↵")}
      {list("ports", "Ports", "80, 8000:9000, http ↵")}
      {more ? (
        <>
          {text("notSelector", "Not selector", "")}
          {list("notNets", "Not nets", "")}
          {list("notPorts", "Not ports", "")}
        </>
      ) : (
        <button type="button" className="pl-link-btn" onClick={() => setMore(true)}>
          + exclusions (not selector, not nets, not ports)
        </button>
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
