// Node icons for the graph, as SVG data URIs (bundled; nothing is fetched).
import type { GraphNodeKind } from "../../api";

function svg(body: string, color: string): string {
  const text = `<svg xmlns="http://www.w3.org/2000/svg" width="76" height="76" viewBox="-7 -7 38 38" fill="none" stroke="${color}" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;
  return `data:image/svg+xml;utf8,${encodeURIComponent(text)}`;
}

export const NODE_ICONS: Record<GraphNodeKind, string> = {
  // A box of boxes: a namespace holds workloads.
  namespace: svg('<rect x="3" y="3" width="7" height="7" rx="1.5"/><rect x="14" y="3" width="7" height="7" rx="1.5"/><rect x="3" y="14" width="7" height="7" rx="1.5"/><rect x="14" y="14" width="7" height="7" rx="1.5"/>', "#3467eb"),
  // A cube: a pod.
  workload: svg('<path d="M12 2.5 20.5 7v10L12 21.5 3.5 17V7z"/><path d="M3.5 7 12 11.5 20.5 7M12 11.5v10"/>', "#3d7be0"),
  // Fan-out: a service balances over its backends.
  service: svg('<circle cx="5" cy="12" r="2.5"/><circle cx="19" cy="5" r="2.5"/><circle cx="19" cy="12" r="2.5"/><circle cx="19" cy="19" r="2.5"/><path d="M7.5 12h9M7 10.5l9.5-5M7 13.5l9.5 5"/>', "#0e9384"),
  // A globe: networks outside the cluster.
  net: svg('<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3c2.8 3 2.8 15 0 18M12 3c-2.8 3-2.8 15 0 18"/>', "#5b6578"),
  // A list of ranges: a network set.
  network_set: svg('<path d="M4 6h16M4 12h16M4 18h10"/><circle cx="19" cy="18" r="1.5"/>', "#7c5cdb"),
  // A server: a host endpoint.
  host: svg('<rect x="3" y="4" width="18" height="7" rx="1.5"/><rect x="3" y="13" width="18" height="7" rx="1.5"/><path d="M7 7.5h.01M7 16.5h.01"/>', "#475467"),
};

/**
 * Resolves when every icon is decoded. Cytoscape caches node textures; one drawn before its
 * icon loaded stays blank, so the canvas refreshes its style once this resolves.
 */
export const iconsReady: Promise<void> = Promise.all(
  Object.values(NODE_ICONS).map((uri) => {
    const img = new Image();
    img.src = uri;
    return img.decode().catch(() => undefined);
  }),
).then(() => undefined);
