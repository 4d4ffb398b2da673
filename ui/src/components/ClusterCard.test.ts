import { describe, expect, it } from "vitest";
import { connectionState, kindLine } from "./ClusterCard";
import type { ClusterConnection, KindWatch } from "../api";

const pods: KindWatch = { resource: "pods", state: "watching", objects: 1200, events: 40, listings: 1, errors: 0 };
const connected: ClusterConnection = {
  mode: "cluster",
  connected: true,
  inventory_revision: 7,
  context: "prod",
  synced: true,
  ready: true,
  kinds: [pods],
};

describe("the cluster connection in a few words", () => {
  it("says snapshot without a cluster, and where the first listing is", () => {
    expect(connectionState({ mode: "snapshot", connected: false, inventory_revision: 0 })).toEqual({ text: "snapshot", tone: "" });
    expect(connectionState({ ...connected, synced: false, ready: false }).text).toBe("syncing…");
    expect(connectionState({ ...connected, ready: false }).text).toBe("compiling…");
    expect(connectionState(connected)).toEqual({ text: "watching", tone: "ok" });
  });

  it("counts the watches that are failing", () => {
    const failing = { ...pods, resource: "tiers.projectcalico.org", state: "retrying" as const, last_error: "forbidden" };
    expect(connectionState({ ...connected, kinds: [pods, failing] })).toEqual({ text: "1 watch retrying", tone: "bad" });
  });

  it("gives each kind's state with its objects and why it is not watched", () => {
    expect(kindLine(pods)).toBe("pods: watching · 1,200 objects");
    expect(kindLine({ ...pods, state: "retrying", last_error: "410 Gone: listing again" })).toBe(
      "pods: retrying · 1,200 objects — 410 Gone: listing again",
    );
    expect(
      kindLine({ resource: "tiers.projectcalico.org", state: "not_served", reason: "the cluster has no projectcalico.org", objects: 0, events: 0, listings: 0, errors: 0 }),
    ).toBe("tiers.projectcalico.org: not served — the cluster has no projectcalico.org");
  });
});
