// The Policy Editor: YAML and form side by side, kept in sync; validation from the server
// at the line and field; impact preview over stored flows; save staged or enforced.
import { useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api, canWriteTier, download, useMe, writeDenied, type ClusterConnection, type ConflictCurrent, type ErrorDetail, type Preview, type TimeRange } from "../api";
import { Icon } from "../components/Icon";
import { ErrorBanner, Loading } from "../components/States";
import { TIME_PRESETS, describeRange } from "../components/TimeRangePicker";
import { enforceRisks, formToYaml, isGlobal, lineOfField, manifestName, newPolicyForm, yamlToForm, type PolicyForm } from "./policyForm";
import { PolicyFormView, type FieldErrors } from "./PolicyFormView";
import { leaveTo, useNavigationGuard } from "../route";
import { policiesHref } from "./PoliciesView";
import { PreviewPanel } from "./PreviewPanel";
import { YamlEditor, type LineMessage } from "./YamlEditor";

interface Props {
  id: string | null;
  range: TimeRange;
  newTier?: string;
  newNamespace?: string | null;
}

type Validation =
  | { state: "idle" }
  | { state: "checking" }
  | { state: "valid"; policy: Record<string, unknown>; endpoints?: unknown; warnings?: unknown }
  | { state: "invalid"; message: string; details: ErrorDetail[] };

async function fetchNamespaces(signal: AbortSignal): Promise<string[]> {
  const inv = await api.inventory(signal);
  return (inv.namespaces ?? []).map((n) => n.name).sort();
}

/** The id the server gives a saved policy, from the saved YAML (as in a policy hit). */
function idOf(form: PolicyForm, staged: boolean): string {
  const global = form.kind.includes("Global");
  const tag = `${staged ? "s" : ""}${global ? "gnp" : "np"}`;
  return global ? `${tag}:${form.name}` : `${tag}:${form.namespace}/${form.name}`;
}

export function PolicyEditor({ id, range, newTier, newNamespace }: Props) {
  const [yamlText, setYamlText] = useState<string | null>(null);
  const [original, setOriginal] = useState<string>("");
  // The version of the loaded policy: saving over it, or deleting it, says what it started from.
  const [baseVersion, setBaseVersion] = useState<string | undefined>(undefined);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [tiers, setTiers] = useState<string[]>([]);
  const [namespaces, setNamespaces] = useState<string[]>([]);
  const [validation, setValidation] = useState<Validation>({ state: "idle" });
  // The preview window: the view's range, or one of the presets.
  const [previewRange, setPreviewRange] = useState<TimeRange>(range);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  // A save the current version conflicted with: the message and that version.
  const [conflict, setConflict] = useState<{ message: string; current: ConflictCurrent; staged: boolean } | null>(null);
  // The cluster the server follows, if any: saves go to it, or it is read-only.
  const [cluster, setCluster] = useState<ClusterConnection | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [tab, setTab] = useState<"form" | "yaml">("form");
  const [stagedOriginal, setStagedOriginal] = useState(false);
  const lastGoodForm = useRef<PolicyForm | null>(null);
  const previewRef = useRef<HTMLDivElement>(null);

  // Load the policy (or start a new one), the tiers and the namespaces.
  useEffect(() => {
    const ctl = new AbortController();
    api
      .board(range, ctl.signal)
      .then((b) => setTiers(b.tiers.map((t) => t.name)))
      .catch(() => {});
    api
      .cluster(ctl.signal)
      .then(setCluster)
      .catch(() => {});
    fetchNamespaces(ctl.signal)
      .then((ns) => {
        setNamespaces(ns);
        if (!id) {
          // No namespace is picked for the user: a new policy starts where they put it.
          const text = formToYaml(newPolicyForm(newTier ?? "default", newNamespace ?? null));
          setYamlText(text);
          // An untouched template is nothing to lose.
          setOriginal(text);
        }
      })
      .catch(() => {
        if (id) return;
        const text = formToYaml(newPolicyForm(newTier ?? "default", newNamespace ?? null));
        setYamlText(text);
        setOriginal(text);
      });
    if (id) {
      api
        .policy(id, range, ctl.signal)
        .then((p) => {
          if (typeof p.yaml !== "string") {
            setLoadError(`The server gave no YAML for ${p.name}, so it cannot be edited here.`);
            return;
          }
          setYamlText(p.yaml);
          setOriginal(p.yaml);
          setBaseVersion(p.version);
          setStagedOriginal(p.staged);
        })
        .catch((e: unknown) => {
          if (!ctl.signal.aborted) setLoadError(e instanceof Error ? e.message : String(e));
        });
    }
    return () => ctl.abort();
    // The range only seeds the preview window; a change of range does not reload the draft.
  }, [id, newTier, newNamespace]);

  const parsed = useMemo(() => (yamlText === null ? null : yamlToForm(yamlText)), [yamlText]);
  if (parsed?.ok) lastGoodForm.current = parsed.form;
  const form = parsed?.ok ? parsed.form : lastGoodForm.current;

  // Validate on the server as the text settles.
  useEffect(() => {
    if (yamlText === null) return;
    const ctl = new AbortController();
    setValidation({ state: "checking" });
    const t = setTimeout(() => {
      api
        .validatePolicy(yamlText, ctl.signal)
        .then((r) =>
          setValidation(
            r.valid
              ? { state: "valid", policy: r.policy ?? {}, endpoints: r.endpoints, warnings: r.warnings }
              : { state: "invalid", message: r.error ?? "The policy is not valid.", details: r.details ?? [] },
          ),
        )
        .catch((e: unknown) => {
          if (ctl.signal.aborted) return;
          if (e instanceof ApiError) setValidation({ state: "invalid", message: e.message, details: e.details });
          else setValidation({ state: "invalid", message: String(e), details: [] });
        });
    }, 350);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [yamlText]);

  // A preview describes one draft: editing makes it stale.
  useEffect(() => setPreview(null), [yamlText]);

  const details = useMemo(() => (validation.state === "invalid" ? validation.details : []), [validation]);
  const messages: LineMessage[] = useMemo(() => {
    if (yamlText === null) return [];
    const out: LineMessage[] = details.map((d) => ({
      line: d.line ?? (d.field ? lineOfField(yamlText, d.field) : null) ?? 1,
      column: d.column,
      message: d.field ? `${d.field}: ${d.message}` : d.message,
    }));
    if (validation.state === "invalid" && details.length === 0) out.push({ line: 1, message: validation.message });
    return out;
  }, [details, validation, yamlText]);
  const fieldErrors: FieldErrors = useMemo(() => {
    const m: FieldErrors = new Map();
    for (const d of details) if (d.field) m.set(d.field, [...(m.get(d.field) ?? []), d.message]);
    return m;
  }, [details]);

  const onForm = (f: PolicyForm) => setYamlText((prev) => formToYaml(f, prev ?? undefined));

  const runPreview = async () => {
    if (yamlText === null) return;
    setPreviewing(true);
    setPreviewError(null);
    try {
      setPreview(await api.previewPolicy({ yaml: yamlText, ...previewRange }));
      requestAnimationFrame(() => previewRef.current?.scrollIntoView({ behavior: "smooth", block: "start" }));
    } catch (e) {
      setPreviewError(e instanceof Error ? e.message : String(e));
    } finally {
      setPreviewing(false);
    }
  };

  const save = async (staged: boolean, force = false) => {
    if (yamlText === null) return;
    // Enforcing changes traffic at once: say first what is broad about it.
    const risks = !staged && form && !force ? enforceRisks(form) : [];
    if (risks.length && !window.confirm(`Enforce this policy now?\n\n${risks.map((r) => `• ${r}`).join("\n")}\n\nSave it as staged to see what it would do first.`)) {
      return;
    }
    setSaving(true);
    setSaveError(null);
    setConflict(null);
    try {
      // Only a save over the loaded policy itself is based on its version.
      const sameId = !!id && !!form && idOf(form, staged) === id;
      const r = await api.savePolicy(yamlText, staged, sameId ? baseVersion : undefined, force);
      const savedId = typeof r.id === "string" ? r.id : form ? idOf(form, staged) : id;
      leaveTo(policiesHref(range, { id: savedId ?? undefined }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && e.current) {
        setConflict({ message: e.message, current: e.current, staged });
        return;
      }
      if (e instanceof ApiError && e.status === 403 && cluster?.connected) setForbidden(true);
      setSaveError(e instanceof ApiError && e.details.length ? `${e.message} (see the marked lines)` : e instanceof Error ? e.message : String(e));
      if (e instanceof ApiError && e.details.length) setValidation({ state: "invalid", message: e.message, details: e.details });
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    const from = cluster?.connected ? "the cluster" : "the running inventory";
    if (!id || !window.confirm(`Delete this policy from ${from}?`)) return;
    try {
      await api.deletePolicy(id, baseVersion);
      leaveTo(policiesHref(range));
    } catch (e) {
      setSaveError(e instanceof Error ? e.message : String(e));
    }
  };

  const dirty = yamlText !== null && yamlText !== original && !loadError;
  const name = useMemo(() => (parsed?.ok ? parsed.form.name : yamlText ? manifestName(yamlText) : null), [parsed, yamlText]) ?? form?.name ?? "policy";
  const yamlOnly = parsed !== null && !parsed.ok && !parsed.syntax;
  useNavigationGuard(dirty ? `${id ? `Your changes to ${name}` : "The new policy"} are not saved. Leave the editor and lose them?` : null);
  // A namespaced policy with no namespace chosen yet is not ready, whatever the server says.
  const incomplete = !!form && !isGlobal(form.kind) && !form.namespace ? "choose a namespace" : null;
  const invalid = validation.state === "invalid" || incomplete !== null;
  const readOnly = forbidden || (!!cluster?.connected && (cluster.write?.read_only ?? true));
  // What the signed-in user's scope allows: saving the draft where it now is, and deleting
  // the policy where it was loaded from (the server would answer 403 otherwise).
  const me = useMe();
  const where = (f: PolicyForm | null) => (f ? { tier: f.tier, namespace: isGlobal(f.kind) ? null : f.namespace || null } : null);
  const draftAt = where(form);
  const originalForm = useMemo(() => {
    const o = original ? yamlToForm(original) : null;
    return o?.ok ? o.form : null;
  }, [original]);
  const loadedAt = id ? where(originalForm) : null;
  const saveDenied =
    !me || !form || !draftAt
      ? null
      : !isGlobal(form.kind) && draftAt.namespace === null
        ? // No namespace chosen yet: the tier alone.
          canWriteTier(me, draftAt.tier)
          ? null
          : `${me.name} may not change policies of tier ${draftAt.tier}`
        : writeDenied(me, draftAt.tier, draftAt.namespace);
  const deleteDenied = me && loadedAt ? writeDenied(me, loadedAt.tier, loadedAt.namespace) : null;
  const clusterName = cluster?.context ?? cluster?.cluster ?? cluster?.server ?? "the cluster";

  return (
    <div className="pl-editor" data-testid="policy-editor">
      <nav className="pl-crumbs">
        <a href={policiesHref(range)}>
          <Icon name="back" size={14} /> Policy Board
        </a>
        {id && (
          <>
            <span>/</span>
            <a href={policiesHref(range, { id })}>{name}</a>
          </>
        )}
        <span>/</span>
        <span className="cur">{id ? "Edit" : "New policy"}</span>
      </nav>
      <header className="pl-head">
        <div className="pl-title">
          <h1>{id ? `Edit ${name}` : "New policy"}</h1>
          <p className="pl-sub">
            {yamlOnly ? "Edit the YAML." : "Edit with the form or the YAML; both stay in sync."} Preview the impact on stored
            flows before you save.
          </p>
        </div>
        <div className="pl-tools">
          {id && (
            <button
              type="button"
              className="btn btn-danger"
              onClick={remove}
              disabled={readOnly || !!deleteDenied}
              title={
                deleteDenied
                  ? `Read-only for you: ${deleteDenied}`
                  : readOnly
                    ? "Read-only: Flowlens may not delete policies in this cluster"
                    : undefined
              }
              data-testid="delete-policy"
            >
              <Icon name="trash" /> Delete
            </button>
          )}
          <button
            type="button"
            className={`btn ${readOnly ? "btn-primary" : ""}`}
            onClick={() => yamlText && download(`${name}.yaml`, yamlText)}
            disabled={yamlText === null}
            data-testid="download-yaml"
          >
            <Icon name="download" /> {readOnly ? "Download YAML" : "Export YAML"}
          </button>
          <button
            type="button"
            className={`btn ${id ? "" : "btn-primary"}`}
            onClick={() => save(true)}
            disabled={saving || yamlText === null || invalid || readOnly || !!saveDenied}
            data-testid="save-staged"
            title={saveDenied ? `Read-only for you: ${saveDenied}` : "Save as a staged policy: it records what it would do without enforcing it"}
          >
            Save as staged
          </button>
          <button
            type="button"
            className={`btn ${id ? "btn-primary" : ""}`}
            onClick={() => save(false)}
            disabled={saving || yamlText === null || invalid || readOnly || !!saveDenied}
            title={saveDenied ? `Read-only for you: ${saveDenied}` : undefined}
            data-testid="save-enforced"
          >
            <Icon name="shield" /> {stagedOriginal ? "Enforce" : "Save & enforce"}
          </button>
        </div>
      </header>

      {loadError && <ErrorBanner error={loadError} />}
      {readOnly && (
        <div className="banner banner-warn" role="status" data-testid="read-only">
          <Icon name="alert" />
          <span>
            Read-only: {clusterName} does not let Flowlens write policies. Download the YAML and apply it with kubectl, or
            grant Flowlens the policy write role.
          </span>
        </div>
      )}
      {saveDenied && !readOnly && (
        <div className="banner banner-warn" role="status" data-testid="scope-denied">
          <Icon name="alert" />
          <span>
            You cannot save this policy: {saveDenied}. Choose a tier and namespace you may write, or download the YAML for
            someone who may.
          </span>
        </div>
      )}
      {cluster?.connected && !readOnly && (
        <div className="pl-cluster-note" data-testid="cluster-save-note">
          Saving applies the policy to {clusterName} (server-side apply as <code>flowlens</code>); the board shows it once
          the cluster's watch brings it back.
        </div>
      )}
      {saveError && <ErrorBanner error={saveError} />}
      {conflict && (
        <div className="card pl-conflict" role="alert" data-testid="save-conflict">
          <div className="pl-conflict-head">
            <Icon name="alert" />
            <span>{conflict.message}</span>
          </div>
          {conflict.current.yaml ? (
            <>
              <div className="pl-conflict-sub">
                The current version
                {conflict.current.resource_version ? ` (resourceVersion ${conflict.current.resource_version})` : ""}
                {conflict.current.managers?.length ? `, managed by ${conflict.current.managers.join(", ")}` : ""}:
              </div>
              <pre className="pl-conflict-yaml" data-testid="conflict-current">
                {conflict.current.yaml}
              </pre>
            </>
          ) : (
            <div className="pl-conflict-sub">The policy no longer exists.</div>
          )}
          <div className="pl-conflict-actions">
            {conflict.current.yaml && (
              <button
                type="button"
                className="btn"
                onClick={() => {
                  setYamlText(conflict.current.yaml ?? "");
                  if (conflict.current.version) setBaseVersion(conflict.current.version);
                  setConflict(null);
                }}
              >
                Load the current version
              </button>
            )}
            {!!conflict.current.managers?.length && (
              <button type="button" className="btn btn-danger" onClick={() => save(conflict.staged, true)} data-testid="save-force">
                Overwrite their fields
              </button>
            )}
            <button type="button" className="btn" onClick={() => setConflict(null)}>
              Keep editing
            </button>
          </div>
        </div>
      )}

      <div className="card pl-preview-bar">
        <Icon name="play" size={14} />
        <span>Preview the impact on the stored flows of the</span>
        <select
          value={JSON.stringify(previewRange)}
          onChange={(e) => setPreviewRange(JSON.parse(e.target.value) as TimeRange)}
          aria-label="Preview window"
        >
          {[range, ...TIME_PRESETS.map((p) => ({ since: p.since }))]
            .filter((r, i, all) => all.findIndex((x) => JSON.stringify(x) === JSON.stringify(r)) === i)
            .map((r) => (
              <option key={JSON.stringify(r)} value={JSON.stringify(r)}>
                {describeRange(r)}
              </option>
            ))}
        </select>
        <button
          type="button"
          className="btn btn-small btn-dark"
          onClick={runPreview}
          disabled={previewing || yamlText === null || invalid || !!saveDenied}
          title={saveDenied ? `The preview is for those who may save: ${saveDenied}` : undefined}
          data-testid="run-preview"
        >
          {previewing ? "Evaluating…" : "Preview impact"}
        </button>
        <span className="grow" />
        <ValidationBadge v={validation} dirty={dirty} incomplete={incomplete} />
      </div>

      <div className="pl-editor-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "form"} className={tab === "form" ? "on" : ""} onClick={() => setTab("form")}>
          Form
        </button>
        <button type="button" role="tab" aria-selected={tab === "yaml"} className={tab === "yaml" ? "on" : ""} onClick={() => setTab("yaml")}>
          YAML
        </button>
      </div>

      <div className={`pl-editor-body tab-${tab} ${yamlOnly ? "yaml-only" : ""}`}>
        <div className="card pl-editor-form">
          {parsed && !parsed.ok && (
            <div className={`pl-form-blocked ${parsed.syntax ? "syntax" : ""}`}>
              <Icon name="alert" />
              {parsed.syntax ? `The YAML does not parse: ${parsed.reason}. The form shows the last readable version.` : parsed.reason}
            </div>
          )}
          {form && (parsed?.ok || parsed?.syntax) ? (
            <PolicyFormView
              form={form}
              onChange={onForm}
              disabled={!parsed?.ok}
              tiers={tiers}
              namespaces={namespaces}
              errors={fieldErrors}
              existing={id !== null}
            />
          ) : (
            yamlText === null && !loadError && <Loading />
          )}
        </div>
        <div className="card pl-editor-yaml">
          <div className="pl-yaml-head">
            <span>YAML</span>
            {messages.length > 0 && <span className="pl-yaml-errcount">{messages.length} problem{messages.length > 1 ? "s" : ""}</span>}
          </div>
          {yamlText !== null && <YamlEditor value={yamlText} onChange={setYamlText} messages={messages} minHeight="420px" baseline={id ? original : null} />}
          {messages.length > 0 && (
            <ul className="pl-problems" data-testid="validation-errors">
              {messages.map((m, i) => (
                <li key={i}>
                  <span className="ln">line {m.line}</span> {m.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>

      <div ref={previewRef} className="pl-preview-wrap">
        {previewError && <ErrorBanner error={previewError} />}
        {preview && <PreviewPanel preview={preview} onClose={() => setPreview(null)} />}
      </div>
    </div>
  );
}

function ValidationBadge({ v, dirty, incomplete }: { v: Validation; dirty: boolean; incomplete: string | null }) {
  const edited = dirty ? <span className="pl-dirty">Unsaved changes</span> : null;
  // Valid YAML that cannot be saved yet says what is missing rather than "Valid".
  if (incomplete && v.state === "valid")
    return (
      <span className="pl-valid incomplete" data-testid="validation-incomplete">
        {edited}
        <Icon name="alert" size={14} /> Not ready: {incomplete}
      </span>
    );
  switch (v.state) {
    case "checking":
      return <span className="pl-valid checking">{edited}Checking…</span>;
    case "valid": {
      // Extras the server may add to a validation: how many endpoints the selector picks, warnings.
      const endpoints = typeof v.policy.endpoints === "number" ? v.policy.endpoints : typeof v.endpoints === "number" ? v.endpoints : null;
      const warnings = Array.isArray(v.warnings) ? v.warnings.map(String) : [];
      return (
        <span className="pl-valid ok" data-testid="validation-ok" title={warnings.join("\n") || undefined}>
          {edited}
          <Icon name="check" size={14} /> Valid
          {endpoints !== null &&
            (endpoints === 0 ? (
              <span className="pl-valid-warn" data-testid="selects-nothing">
                · selects no endpoint
              </span>
            ) : (
              <span className="pl-valid-extra">· selects {endpoints === 1 ? "1 endpoint" : `${endpoints} endpoints`}</span>
            ))}
          {warnings.length > 0 && <span className="pl-valid-warn">· {warnings.length} warning{warnings.length > 1 ? "s" : ""}</span>}
        </span>
      );
    }
    case "invalid":
      return (
        <span className="pl-valid bad" data-testid="validation-bad">
          {edited}
          <Icon name="alert" size={14} /> {v.details.length ? `${v.details.length} error${v.details.length > 1 ? "s" : ""}` : "Invalid"}
        </span>
      );
    default:
      return edited;
  }
}
