import { describe, expect, it } from "vitest";
import { canWriteTier, writeDenied, type Me } from "./me";

const user = (tiers: Record<string, "read" | "write">, namespaces: Record<string, "read" | "write">, all: "read" | "write" | null = null): Me => ({
  name: "dev",
  auth: "bearer",
  admin: false,
  scope: { role: "scoped", tiers: { all: null, named: tiers }, namespaces: { all, named: namespaces } },
});

describe("what a user may write", () => {
  it("lets the administrator write anything", () => {
    const admin: Me = { name: "root", auth: "bearer", admin: true, scope: { role: "admin" } };
    expect(writeDenied(admin, "security", null)).toBeNull();
    expect(canWriteTier(admin, "security")).toBe(true);
  });

  it("needs write on the tier and the namespace, as the server does", () => {
    const dev = user({ default: "write", security: "read" }, { shop: "write", vault: "read" });
    expect(writeDenied(dev, "default", "shop")).toBeNull();
    expect(writeDenied(dev, "security", "shop")).toMatch(/tier security/);
    expect(writeDenied(dev, "default", "vault")).toMatch(/namespace vault/);
    expect(writeDenied(dev, "default", "ledger")).toMatch(/namespace ledger/);
    expect(canWriteTier(dev, "default")).toBe(true);
    expect(canWriteTier(dev, "security")).toBe(false);
  });

  it("needs write on every namespace for a global policy", () => {
    expect(writeDenied(user({ default: "write" }, { shop: "write" }), "default", null)).toMatch(/every namespace/);
    expect(writeDenied(user({ default: "write" }, {}, "write"), "default", null)).toBeNull();
    expect(writeDenied(user({ default: "write" }, {}, "read"), "default", null)).toMatch(/every namespace/);
  });

  it("offers no new policy to a reader", () => {
    const reader = user({ default: "read" }, { shop: "read" });
    expect(canWriteTier(reader, "default")).toBe(false);
    expect(writeDenied(reader, "default", "shop")).toMatch(/tier default/);
  });
});
