// Who the signed-in user is and what it may do (`GET /api/me`), so that views offer only
// what the server would allow. The server refuses the rest all the same: this only spares
// the user buttons that would answer 403.
import { useEffect, useState } from "react";
import { fetchJson } from "./http";

export type Access = "read" | "write";

/** Access per tier or namespace: `all` for every one, else the named ones. */
export interface Grants {
  all: Access | null;
  named: Record<string, Access>;
}

export type Scope = { role: "admin" } | { role: "scoped"; tiers: Grants; namespaces: Grants };

export interface Me {
  name: string;
  auth: "bearer" | "cookie" | "disabled" | "kubernetes";
  admin: boolean;
  scope: Scope;
}

function access(g: Grants, name: string): Access | null {
  const named = g.named[name] ?? null;
  if (g.all === "write" || named === "write") return "write";
  return g.all ?? named;
}

/**
 * Why `me` may not save or delete a policy of `tier` in `namespace` (null: a global policy),
 * or null when it may: the server's rule (write on the tier, and on the namespace; a global
 * policy needs write on every namespace).
 */
export function writeDenied(me: Me, tier: string, namespace: string | null): string | null {
  if (me.scope.role === "admin") return null;
  const { tiers, namespaces } = me.scope;
  if (access(tiers, tier) !== "write") return `${me.name} may not change policies of tier ${tier}`;
  if (namespace !== null && access(namespaces, namespace) !== "write") {
    return `${me.name} may not change policies in namespace ${namespace}`;
  }
  if (namespace === null && namespaces.all !== "write") {
    return `a global policy applies to every namespace; ${me.name} may not change all of them`;
  }
  return null;
}

/** Whether `me` may write some policy of `tier` (in some namespace). */
export function canWriteTier(me: Me, tier: string): boolean {
  if (me.scope.role === "admin") return true;
  const { tiers, namespaces } = me.scope;
  const anyNamespace = namespaces.all === "write" || Object.values(namespaces.named).includes("write");
  return access(tiers, tier) === "write" && anyNamespace;
}

let cached: Promise<Me> | null = null;

/** The signed-in user, asked once per page load. */
export function fetchMe(): Promise<Me> {
  cached ??= fetchJson<Me>("/api/me").catch((e: unknown) => {
    cached = null;
    throw e;
  });
  return cached;
}

/** The signed-in user once known (undefined before, and when the server cannot say). */
export function useMe(): Me | undefined {
  const [me, setMe] = useState<Me>();
  useEffect(() => {
    let live = true;
    fetchMe().then(
      (m) => live && setMe(m),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, []);
  return me;
}
