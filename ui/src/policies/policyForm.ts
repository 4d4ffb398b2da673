// The policy editor's form model and its mapping to and from YAML.
//
// The YAML text stays the source of truth: form edits are written back into the parsed
// YAML document node by node, so comments, quoting and fields the form does not show
// (serviceAccountSelector, icmp, http, …) survive a round trip through the form.
import {
  Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  parseDocument,
  Scalar,
  visit,
  YAMLMap,
  YAMLSeq,
  type Node as YamlNode,
} from "yaml";

export const CALICO_API = "projectcalico.org/v3";
export const ACTIONS = ["Allow", "Deny", "Pass", "Log"] as const;
export type Action = (typeof ACTIONS)[number];
export const PROTOCOLS = ["", "TCP", "UDP", "SCTP", "ICMP", "ICMPv6", "UDPLite"] as const;

/** The Calico policy kinds the form can edit. */
export const FORM_KINDS = [
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "StagedNetworkPolicy",
  "StagedGlobalNetworkPolicy",
] as const;
export type FormKind = (typeof FORM_KINDS)[number];

export interface EntityForm {
  /** The entity was written in the YAML (even as `{}`); kept so `source: {}` survives. */
  present: boolean;
  selector: string;
  notSelector: string;
  namespaceSelector: string;
  nets: string[];
  notNets: string[];
  ports: string[];
  notPorts: string[];
}

export interface RuleForm {
  action: Action;
  /** "" means any protocol. */
  protocol: string;
  source: EntityForm;
  destination: EntityForm;
}

export interface PolicyForm {
  kind: FormKind;
  name: string;
  /** Only for namespaced kinds. */
  namespace: string;
  tier: string;
  /** Text so that an empty order and decimals such as 37.5 edit naturally. */
  order: string;
  selector: string;
  ingressType: boolean;
  egressType: boolean;
  /** Whether `spec.types` is written; when absent Calico infers the types from the rules. */
  typesExplicit: boolean;
  ingress: RuleForm[];
  egress: RuleForm[];
}

export type Direction = "ingress" | "egress";

export function isGlobal(kind: FormKind): boolean {
  return kind === "GlobalNetworkPolicy" || kind === "StagedGlobalNetworkPolicy";
}

export function isStagedKind(kind: FormKind): boolean {
  return kind.startsWith("Staged");
}

/** The kind with the same staging and the other scope. */
export function withScope(kind: FormKind, global: boolean): FormKind {
  const staged = isStagedKind(kind);
  return `${staged ? "Staged" : ""}${global ? "Global" : ""}NetworkPolicy` as FormKind;
}

export function emptyEntity(): EntityForm {
  return {
    present: false,
    selector: "",
    notSelector: "",
    namespaceSelector: "",
    nets: [],
    notNets: [],
    ports: [],
    notPorts: [],
  };
}

export function emptyRule(action: Action = "Allow"): RuleForm {
  return { action, protocol: "TCP", source: emptyEntity(), destination: emptyEntity() };
}

/** Calico requires the name of a policy outside the default tier to start with `TIER.`. */
export function tierPrefixedName(name: string, oldTier: string, newTier: string): string {
  let base = name;
  if (oldTier && oldTier !== "default" && base.startsWith(`${oldTier}.`)) {
    base = base.slice(oldTier.length + 1);
  }
  if (newTier && newTier !== "default" && !base.startsWith(`${newTier}.`)) {
    return `${newTier}.${base}`;
  }
  return base;
}

/**
 * A new policy starts empty and staged: no namespace chosen, no selector, no rule. Staged, it
 * records what it would do without changing any traffic; the editor warns before enforcing
 * anything broad (see `enforceRisks`).
 */
export function newPolicyForm(tier: string, namespace: string | null): PolicyForm {
  const t = tier || "default";
  return {
    kind: "StagedNetworkPolicy",
    name: tierPrefixedName("new-policy", "", t),
    namespace: namespace ?? "",
    tier: t,
    order: "100",
    selector: "",
    ingressType: true,
    egressType: false,
    typesExplicit: true,
    ingress: [],
    egress: [],
  };
}

function constrains(e: EntityForm): boolean {
  return !!(e.selector || e.notSelector || e.namespaceSelector || e.nets.length || e.notNets.length);
}

/**
 * What enforcing the policy would do that is easy to do by mistake: select every endpoint,
 * allow from (or to) anywhere on any port, or deny a whole direction by having no rules for it.
 */
export function enforceRisks(f: PolicyForm): string[] {
  const risks: string[] = [];
  const where = isGlobal(f.kind) ? "in the cluster" : `in namespace ${f.namespace || "(none chosen)"}`;
  const all = !f.selector.trim() || f.selector.trim() === "all()";
  if (all) risks.push(`It applies to every endpoint ${where}.`);
  for (const dir of ["ingress", "egress"] as Direction[]) {
    const on = dir === "ingress" ? f.ingressType : f.egressType;
    if (!on) continue;
    const Dir = dir === "ingress" ? "Ingress" : "Egress";
    if (f[dir].length === 0) risks.push(`With ${Dir} in its types and no ${dir} rule, it denies all ${dir} traffic of the endpoints it selects.`);
    f[dir].forEach((r, i) => {
      const peer = dir === "ingress" ? r.source : r.destination;
      if (r.action === "Allow" && !constrains(peer) && !r.destination.ports.length && !r.destination.notPorts.length) {
        risks.push(`${Dir} rule ${i} allows ${r.protocol || "any protocol"} ${dir === "ingress" ? "from" : "to"} anywhere, on any port.`);
      }
    });
  }
  return risks;
}

// ---- YAML → form ---------------------------------------------------------------------

export type FromYaml =
  | { ok: true; form: PolicyForm }
  | { ok: false; reason: string; syntax: boolean };

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : String(v);
}

function textList(v: unknown): string[] {
  return Array.isArray(v) ? v.map(text) : [];
}

function entityFrom(v: unknown): EntityForm {
  if (!isObj(v)) return emptyEntity();
  return {
    present: true,
    selector: text(v.selector),
    notSelector: text(v.notSelector),
    namespaceSelector: text(v.namespaceSelector),
    nets: textList(v.nets),
    notNets: textList(v.notNets),
    ports: textList(v.ports),
    notPorts: textList(v.notPorts),
  };
}

function actionFrom(v: unknown): Action {
  const t = text(v).toLowerCase();
  return ACTIONS.find((a) => a.toLowerCase() === t) ?? "Allow";
}

function protocolFrom(v: unknown): string {
  const t = text(v);
  const known = PROTOCOLS.find((p) => p.toLowerCase() === t.toLowerCase());
  return known ?? t;
}

function rulesFrom(v: unknown): RuleForm[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isObj).map((r) => ({
    action: actionFrom(r.action),
    protocol: protocolFrom(r.protocol),
    source: entityFrom(r.source),
    destination: entityFrom(r.destination),
  }));
}

/** Reads one policy document into the form, or says why the form cannot show it. */
export function yamlToForm(yamlText: string): FromYaml {
  const docs = parseAllDocuments(yamlText);
  if (!Array.isArray(docs)) return { ok: false, reason: "Empty document", syntax: true };
  const real = docs.filter((d) => d.contents !== null);
  const broken = docs.find((d) => d.errors.length > 0);
  if (broken) {
    return { ok: false, reason: broken.errors[0].message.split("\n")[0], syntax: true };
  }
  if (real.length !== 1) {
    return {
      ok: false,
      reason: real.length === 0 ? "The YAML is empty" : "The editor holds one policy at a time",
      syntax: false,
    };
  }
  const o = real[0].toJS() as unknown;
  if (!isObj(o)) return { ok: false, reason: "Expected a policy object", syntax: false };
  const kind = text(o.kind);
  if (!(FORM_KINDS as readonly string[]).includes(kind) || text(o.apiVersion) !== CALICO_API) {
    return {
      ok: false,
      reason: `The form edits Calico (${CALICO_API}) network policies; this is ${kind || "no kind"}${
        o.apiVersion ? ` (${text(o.apiVersion)})` : ""
      }. Edit it as YAML.`,
      syntax: false,
    };
  }
  const meta = isObj(o.metadata) ? o.metadata : {};
  const spec = isObj(o.spec) ? o.spec : {};
  const types = Array.isArray(spec.types) ? spec.types.map((t) => text(t).toLowerCase()) : null;
  const ingress = rulesFrom(spec.ingress);
  const egress = rulesFrom(spec.egress);
  return {
    ok: true,
    form: {
      kind: kind as FormKind,
      name: text(meta.name),
      namespace: text(meta.namespace),
      tier: text(spec.tier) || "default",
      order: text(spec.order),
      selector: text(spec.selector),
      // Calico's inference when types are left out: ingress always, egress with egress rules.
      ingressType: types ? types.includes("ingress") : true,
      egressType: types ? types.includes("egress") : egress.length > 0,
      typesExplicit: types !== null,
      ingress,
      egress,
    },
  };
}

// ---- form → YAML ---------------------------------------------------------------------

/** A port as YAML wants it: plain numbers as numbers, ranges and names as strings. */
function portValue(p: string): string | number {
  const t = p.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}

function entityObject(e: EntityForm): Obj | undefined {
  const o: Obj = {};
  // Text is written as typed (not trimmed) so the form, re-read from the YAML on every
  // keystroke, never swallows the space the user just typed.
  if (e.selector.trim()) o.selector = e.selector;
  if (e.notSelector.trim()) o.notSelector = e.notSelector;
  if (e.namespaceSelector.trim()) o.namespaceSelector = e.namespaceSelector;
  const nets = e.nets.map((n) => n.trim()).filter(Boolean);
  const notNets = e.notNets.map((n) => n.trim()).filter(Boolean);
  const ports = e.ports.map((n) => n.trim()).filter(Boolean);
  const notPorts = e.notPorts.map((n) => n.trim()).filter(Boolean);
  if (nets.length) o.nets = nets;
  if (notNets.length) o.notNets = notNets;
  if (ports.length) o.ports = ports.map(portValue);
  if (notPorts.length) o.notPorts = notPorts.map(portValue);
  return Object.keys(o).length || e.present ? o : undefined;
}

function ruleObject(r: RuleForm): Obj {
  const o: Obj = { action: r.action };
  if (r.protocol) o.protocol = r.protocol;
  const source = entityObject(r.source);
  const destination = entityObject(r.destination);
  if (source) o.source = source;
  if (destination) o.destination = destination;
  return o;
}

/** The form as a plain manifest object (only the fields the form knows). */
export function formToObject(f: PolicyForm): Obj {
  const metadata: Obj = { name: f.name };
  if (!isGlobal(f.kind)) metadata.namespace = f.namespace;
  const spec: Obj = {};
  if (f.tier && f.tier !== "default") spec.tier = f.tier;
  const order = f.order.trim();
  // A number only when it reads back the same, so "37." can still become "37.5".
  if (order !== "") spec.order = String(Number(order)) === order ? Number(order) : order;
  if (f.selector.trim()) spec.selector = f.selector;
  if (f.typesExplicit) {
    const types: string[] = [];
    if (f.ingressType) types.push("Ingress");
    if (f.egressType) types.push("Egress");
    spec.types = types;
  }
  if (f.ingress.length) spec.ingress = f.ingress.map(ruleObject);
  if (f.egress.length) spec.egress = f.egress.map(ruleObject);
  return { apiVersion: CALICO_API, kind: f.kind, metadata, spec };
}

/** Keys the form owns, per level; other keys in the YAML are left as they are. */
const OWNED: Record<string, readonly string[]> = {
  root: ["apiVersion", "kind", "metadata", "spec"],
  metadata: ["name", "namespace"],
  spec: ["tier", "order", "selector", "types", "ingress", "egress"],
  rule: ["action", "protocol", "source", "destination"],
  entity: ["selector", "notSelector", "namespaceSelector", "nets", "notNets", "ports", "notPorts"],
};

function childLevel(level: string, key: string): string {
  if (level === "root") return key; // metadata, spec
  if (level === "spec" && (key === "ingress" || key === "egress")) return "rules";
  if (level === "rules") return "rule";
  if (level === "rule" && (key === "source" || key === "destination")) return "entity";
  return "value";
}

/** Scalars equal for our purpose: `'7500'` in the YAML and 7500 from the form are one port. */
function sameScalar(node: Scalar, v: unknown): boolean {
  return node.value === v || (node.value !== null && String(node.value) === String(v));
}

/** Writes `value` into `node` in place, keeping nodes (and their comments) that already match. */
function sync(doc: Document, node: YamlNode | null, value: unknown, level: string): YamlNode {
  if (Array.isArray(value)) {
    if (!isSeq(node)) return doc.createNode(value) as YamlNode;
    const seq = node as YAMLSeq;
    const next = level === "rules" ? "rule" : "value";
    // An empty list prints as `[]`; once it has items again it goes back to block style.
    if (seq.items.length === 0 && value.length > 0) seq.flow = false;
    value.forEach((v, i) => {
      const old = (seq.items[i] ?? null) as YamlNode | null;
      seq.items[i] = sync(doc, old, v, next);
    });
    seq.items.length = value.length;
    return seq;
  }
  if (isObj(value)) {
    if (!isMap(node)) {
      const created = doc.createNode(value) as YamlNode;
      return created;
    }
    const map = node as YAMLMap;
    if (map.items.length === 0 && Object.keys(value).length > 0) map.flow = false;
    const owned = OWNED[level];
    for (const [k, v] of Object.entries(value)) {
      const pair = map.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === k);
      if (pair) {
        pair.value = sync(doc, (pair.value ?? null) as YamlNode | null, v, childLevel(level, k));
      } else {
        // A new key goes where the form's order puts it, before the first later key.
        const order = Object.keys(value);
        const later = map.items.findIndex((p) => {
          const at = order.indexOf(isScalar(p.key) ? String(p.key.value) : "");
          return at > order.indexOf(k);
        });
        const pair = doc.createPair(k, v);
        if (later < 0) map.items.push(pair);
        else map.items.splice(later, 0, pair);
      }
    }
    // Drop owned keys the form cleared; keep everything the form does not know about.
    map.items = map.items.filter((p) => {
      const k = isScalar(p.key) ? String(p.key.value) : "";
      return !(owned?.includes(k) ?? true) || k in value;
    });
    return map;
  }
  if (isScalar(node) && sameScalar(node, value)) return node;
  return doc.createNode(value) as YamlNode;
}

/**
 * Writes the form into the YAML text. With `previous` holding one parseable policy,
 * only what changed is rewritten; otherwise a fresh document is produced.
 */
export function formToYaml(f: PolicyForm, previous?: string): string {
  const obj = formToObject(f);
  let doc: Document | null = null;
  if (previous && previous.trim()) {
    const parsed = parseDocument(previous);
    if (parsed.errors.length === 0 && isMap(parsed.contents)) doc = parsed;
  }
  if (!doc) {
    doc = new Document(obj);
    quotePortRanges(doc);
    return doc.toString({ lineWidth: 0 });
  }
  doc.contents = sync(doc, doc.contents as YamlNode, obj, "root") as typeof doc.contents;
  quotePortRanges(doc);
  // The whole text is printed again: keep the author's list style (`key:\n- item` or indented).
  const indentSeq = !/^( *)[^\s#-][^\n]*:\n\1- /m.test(previous ?? "");
  return doc.toString({ lineWidth: 0, indentSeq });
}

/** `42000:43000` unquoted is a base-60 number to YAML 1.1 readers: quote ranges as Calico's docs do. */
function quotePortRanges(doc: Document) {
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === "string" && /^\d+:\d+$/.test(node.value) && (!node.type || node.type === Scalar.PLAIN)) {
        node.type = Scalar.QUOTE_SINGLE;
      }
    },
  });
}

// ---- positions -------------------------------------------------------------------------

/**
 * The 1-based line of a field path such as `spec.egress[0].destination.ports` in the YAML,
 * for placing validation messages from the server when it gives a field but no line.
 */
export function lineOfField(yamlText: string, field: string): number | null {
  const doc = parseDocument(yamlText, { keepSourceTokens: false });
  const path: (string | number)[] = [];
  for (const part of field.split(".")) {
    const m = part.match(/^([^[\]]*)((?:\[\d+\])*)$/);
    if (!m) return null;
    if (m[1]) path.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) path.push(Number(idx[1]));
  }
  // Walk as deep as the document goes: a missing key points at its parent.
  let node: unknown = doc.contents;
  let found: { range?: [number, number, number] | null } | null = null;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (!pair) break;
      found = (pair.key as Scalar) ?? found;
      node = pair.value;
    } else if (isSeq(node) && typeof key === "number") {
      const item = node.items[key] as { range?: [number, number, number] } | undefined;
      if (!item) break;
      found = item;
      node = item;
    } else break;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return null;
  return yamlText.slice(0, offset).split("\n").length;
}

/** A short, readable summary of a port list, e.g. `7070, 42000–43000`. */
export function portsLabel(ports: string[]): string {
  return ports.map((p) => p.replace(":", "–")).join(", ");
}

/** `metadata.name` of a manifest of any kind, for titles when the form cannot show it. */
export function manifestName(yamlText: string): string | null {
  try {
    const o = parseDocument(yamlText).toJS() as unknown;
    if (isObj(o) && isObj(o.metadata) && typeof o.metadata.name === "string") return o.metadata.name;
  } catch {
    // Not YAML (yet): no name.
  }
  return null;
}
