import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import {
  emptyRule,
  formToObject,
  formToYaml,
  lineOfField,
  enforceRisks,
  newPolicyForm,
  tierPrefixedName,
  withScope,
  yamlToForm,
  type PolicyForm,
} from "./policyForm";

// The scenarios' manifests, read as text by Vite.
import fmeApplication from "../../../scenarios/fme/manifests/50-application-policies.yaml?raw";
import fmeKubernetes from "../../../scenarios/fme/manifests/60-kubernetes-policies.yaml?raw";
import fmeFix from "../../../scenarios/fme/steps/fix.yaml?raw";
import storefrontGuardRails from "../../../scenarios/storefront/manifests/50-guard-rails.yaml?raw";
import storefrontZones from "../../../scenarios/storefront/manifests/60-zones.yaml?raw";

const files: Record<string, string> = {
  "scenarios/fme/manifests/50-application-policies.yaml": fmeApplication,
  "scenarios/fme/manifests/60-kubernetes-policies.yaml": fmeKubernetes,
  "scenarios/fme/steps/fix.yaml": fmeFix,
  "scenarios/storefront/manifests/50-guard-rails.yaml": storefrontGuardRails,
  "scenarios/storefront/manifests/60-zones.yaml": storefrontZones,
};
const scenarioDocs = (path: string) => parseAllDocuments(files[path]).map((d) => d.toString());

// The blog's engine policy as the fme scenario ships it (broken) and as the fix step writes it.
const [broken] = scenarioDocs("scenarios/fme/manifests/50-application-policies.yaml");
const [fixed] = scenarioDocs("scenarios/fme/steps/fix.yaml");

function formOf(text: string): PolicyForm {
  const r = yamlToForm(text);
  if (!r.ok) throw new Error(r.reason);
  return r.form;
}

describe("yamlToForm", () => {
  it("reads the blog's engine policy", () => {
    const f = formOf(broken);
    expect(f.kind).toBe("NetworkPolicy");
    expect(f.name).toBe("application.engine-fmeserver");
    expect(f.namespace).toBe("fme");
    expect(f.tier).toBe("application");
    expect(f.order).toBe("37.5");
    expect(f.selector).toBe('safe.k8s.fmeserver.component == "engine"');
    expect([f.ingressType, f.egressType, f.typesExplicit]).toEqual([true, true, true]);
    expect(f.ingress).toHaveLength(1);
    expect(f.ingress[0].source.selector).toBe('safe.k8s.fmeserver.component == "core"');
    expect(f.ingress[0].destination.ports).toEqual(["7500"]);
    expect(f.egress.map((r) => r.destination.ports)).toEqual([["7070"], ["5432"]]);
    expect(f.egress[0].source.present).toBe(true);
    expect(f.egress[0].protocol).toBe("TCP");
  });

  it("infers types like Calico when they are left out", () => {
    const f = formOf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: x}
spec:
  egress: [{action: Deny}]
`);
    expect([f.ingressType, f.egressType, f.typesExplicit]).toEqual([true, true, false]);
    expect(f.tier).toBe("default");
    expect(f.egress[0].protocol).toBe("");
  });

  it("reads every storefront and fme Calico policy, and only those", () => {
    const files = [
      "scenarios/fme/manifests/50-application-policies.yaml",
      "scenarios/storefront/manifests/50-guard-rails.yaml",
      "scenarios/storefront/manifests/60-zones.yaml",
    ];
    for (const file of files) {
      for (const doc of scenarioDocs(file)) {
        const r = yamlToForm(doc);
        expect(r.ok, `${file}: ${r.ok ? "" : r.reason}`).toBe(true);
      }
    }
    const [knp] = scenarioDocs("scenarios/fme/manifests/60-kubernetes-policies.yaml");
    const r = yamlToForm(knp);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.syntax).toBe(false);
      expect(r.reason).toMatch(/Edit it as YAML/);
    }
  });

  it("reports syntax errors and several documents", () => {
    const bad = yamlToForm("spec:\n  ingress: [\n");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.syntax).toBe(true);
    const two = yamlToForm(`${broken}\n---\n${fixed}`);
    expect(two.ok).toBe(false);
  });
});

describe("formToYaml", () => {
  it("leaves untouched YAML exactly as it was", () => {
    expect(formToYaml(formOf(broken), broken)).toBe(broken);
    expect(formToYaml(formOf(fixed), fixed)).toBe(fixed);
  });

  it("adding the port pool in the form gives the fix step's policy, changing one line", () => {
    const f = formOf(broken);
    f.egress[0].destination.ports.push("42000:43000");
    const out = formToYaml(f, broken);
    expect(parse(out)).toEqual(parse(fixed));
    const before = broken.split("\n");
    const after = out.split("\n");
    expect(after.length).toBe(before.length + 1);
    const added = after.filter((l, i) => l !== before[i]);
    expect(added[0].trim()).toBe("- '42000:43000'");
    // Apart from the comment at the top, the result is the fix step's text itself.
    const body = (t: string) => t.replace(/^(#.*\n)+/, "");
    expect(body(out)).toBe(body(fixed));
    // Unknown fields the form does not show are kept.
    expect(out).toContain("serviceAccountSelector: ''");
  });

  it("keeps the list style of YAML printed with unindented lists", () => {
    const compact = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: application.engine-fmeserver
  namespace: fme
spec:
  tier: application
  order: 37.5
  types:
  - Ingress
  - Egress
  egress:
  - action: Allow
    protocol: TCP
    destination:
      ports:
      - 7070
`;
    const f = formOf(compact);
    expect(formToYaml(f, compact)).toBe(compact);
    f.egress[0].destination.ports.push("42000:43000");
    expect(formToYaml(f, compact)).toBe(compact + "      - '42000:43000'\n");
  });

  it("keeps comments and drops what the form cleared", () => {
    const text = `# why this policy exists
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: a
  namespace: n
  labels: {team: x}
spec:
  selector: app == "a" # the app
  ingress:
    - action: Allow
      protocol: TCP
      icmp: {type: 8}
      source:
        nets: [10.0.0.0/8]
`;
    const f = formOf(text);
    f.ingress[0].source.nets = [];
    f.ingress[0].action = "Deny";
    const out = formToYaml(f, text);
    expect(out).toContain("# why this policy exists");
    expect(out).toContain("# the app");
    expect(out).toContain("labels: { team: x }");
    const o = parse(out);
    expect(o.spec.ingress[0]).toEqual({ action: "Deny", protocol: "TCP", icmp: { type: 8 }, source: {} });
  });

  it("writes a new policy from scratch that reads back the same", () => {
    const f = newPolicyForm("application", "fme");
    f.kind = "NetworkPolicy";
    f.selector = 'app == "x"';
    f.egressType = true;
    f.ingress.push(emptyRule());
    f.egress.push({ ...emptyRule("Deny"), protocol: "UDP" });
    f.ingress[0].destination.ports = ["80", "8000:8080", "http"];
    f.ingress[0].source.namespaceSelector = "projectcalico.org/name == 'web'";
    f.ingress[0].source.notNets = ["10.1.0.0/16"];
    const out = formToYaml(f);
    const o = parse(out);
    expect(o.metadata).toEqual({ name: "application.new-policy", namespace: "fme" });
    expect(o.spec.types).toEqual(["Ingress", "Egress"]);
    expect(o.spec.ingress[0].destination.ports).toEqual([80, "8000:8080", "http"]);
    expect(o.spec.egress[0]).toEqual({ action: "Deny", protocol: "UDP" });
    const back = formOf(out);
    expect(formToObject(back)).toEqual(formToObject(f));
  });

  it("switching to global removes the namespace", () => {
    const f = formOf(broken);
    f.kind = withScope(f.kind, true);
    const o = parse(formToYaml(f, broken));
    expect(o.kind).toBe("GlobalNetworkPolicy");
    expect(o.metadata.namespace).toBeUndefined();
    expect(withScope("StagedGlobalNetworkPolicy", false)).toBe("StagedNetworkPolicy");
  });
});

describe("typing in the form", () => {
  it("keeps a trailing space and a half-typed decimal through the YAML round trip", () => {
    let text = broken;
    const type = (edit: (f: PolicyForm) => void) => {
      const f = formOf(text);
      edit(f);
      text = formToYaml(f, text);
      return formOf(text);
    };
    expect(type((f) => (f.selector = "app == ")).selector).toBe("app == ");
    expect(type((f) => (f.order = "37.")).order).toBe("37.");
    expect(type((f) => (f.order = "37.25")).order).toBe("37.25");
    expect(parse(text).spec.order).toBe(37.25);
  });
});

describe("emptied and refilled lists", () => {
  it("return to block style", () => {
    const start = newPolicyForm("application", "fme");
    start.ingress.push(emptyRule());
    let text = formToYaml(start);
    const step = (edit: (f: PolicyForm) => void) => {
      const f = formOf(text);
      edit(f);
      text = formToYaml(f, text);
    };
    step((f) => (f.ingressType = false));
    expect(text).toContain("types: []");
    step((f) => (f.egressType = true));
    expect(text).toMatch(/types:\n\s*- Egress\n/);
    step((f) => (f.ingress[0].source.present = true));
    step((f) => (f.ingress[0].source.selector = "a == 'b'"));
    expect(text).toMatch(/source:\n\s*selector: a == 'b'\n/);
  });
});

describe("new fields", () => {
  it("go where a person would write them", () => {
    const text = formToYaml(newPolicyForm("application", "fme"));
    const f = formOf(text);
    f.selector = 'app == "x"';
    const keys = Object.keys(parse(formToYaml(f, text)).spec);
    expect(keys).toEqual(["tier", "order", "selector", "types"]);
  });
});

describe("a new policy", () => {
  it("starts empty and staged, in no namespace until one is chosen", () => {
    const f = newPolicyForm("default", null);
    expect(f.kind).toBe("StagedNetworkPolicy");
    expect([f.namespace, f.selector, f.ingress.length, f.egress.length]).toEqual(["", "", 0, 0]);
    const o = parse(formToYaml(f));
    expect(o.kind).toBe("StagedNetworkPolicy");
    expect(o.spec.ingress).toBeUndefined();
  });

  it("names what enforcing it would do that is broad", () => {
    const f = newPolicyForm("default", "kube-system");
    expect(enforceRisks(f)).toEqual([
      "It applies to every endpoint in namespace kube-system.",
      "With Ingress in its types and no ingress rule, it denies all ingress traffic of the endpoints it selects.",
    ]);
    f.ingress.push(emptyRule());
    expect(enforceRisks(f)).toContain("Ingress rule 0 allows TCP from anywhere, on any port.");
    f.selector = 'app == "web"';
    f.ingress[0].source.selector = 'app == "lb"';
    expect(enforceRisks(f)).toEqual([]);
  });
});

describe("helpers", () => {
  it("prefixes names with the tier as Calico requires", () => {
    expect(tierPrefixedName("x", "", "application")).toBe("application.x");
    expect(tierPrefixedName("application.x", "application", "security")).toBe("security.x");
    expect(tierPrefixedName("security.x", "security", "default")).toBe("x");
  });

  it("finds the line of a field path", () => {
    const lines = broken.split("\n");
    const egressAt = lines.findIndex((l) => l.startsWith("  egress:"));
    const portsAt = lines.findIndex((l, i) => i > egressAt && l.includes("ports:"));
    expect(lineOfField(broken, "spec.egress[0].destination.ports")).toBe(portsAt + 1);
    expect(lineOfField(broken, "spec.order")).toBe(broken.split("\n").findIndex((l) => l.includes("order:")) + 1);
    expect(lineOfField(broken, "metadata.nothing")).toBe(broken.split("\n").findIndex((l) => l.startsWith("metadata:")) + 1);
  });
});
