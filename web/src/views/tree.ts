// The resource tree: dagre lays it out left to right; nodes are HTML, edges SVG.

import dagre from "@dagrejs/dagre";
import { h, svg } from "../dom";
import { middleTruncate, statusClass } from "../format";
import type { AppSummary, Tree, TreeNode } from "../types";

const NODE_W = 272;
const NODE_H = 66;
const MARGIN = 24;

const KIND_ORDER = [
  "Namespace",
  "Deployment",
  "StatefulSet",
  "DaemonSet",
  "CronJob",
  "Job",
  "ReplicaSet",
  "Pod",
  "Service",
  "EndpointSlice",
  "Endpoints",
  "Ingress",
  "HorizontalPodAutoscaler",
  "ConfigMap",
  "Secret",
];

function rank(n: TreeNode): string {
  const kind = KIND_ORDER.indexOf(n.kind);
  const role = n.role === "history" ? 1 : n.role === "orphan" ? 2 : 0;
  return `${role}${String(kind < 0 ? 99 : kind).padStart(2, "0")}${n.kind}/${n.name}`;
}

export const rootId = (app: string): string => `app:${app}`;

function appNode(app: AppSummary): TreeNode {
  return {
    id: rootId(app.name),
    uid: "",
    group: "tether.dev",
    kind: "Application",
    namespace: "",
    name: app.name,
    role: "managed",
    health: { status: app.health, message: app.healthMessage },
    revision: "",
    owner: "",
    note: "",
  };
}

function statusLine(n: TreeNode, pods: number): string {
  const { status, message, reason } = n.health;
  if (n.kind === "Pod") {
    // the reason (ImagePullBackOff, CrashLoopBackOff...) first: the message is long and gets cut
    if (status !== "Healthy" && reason && message && !message.includes(reason))
      return `${reason}: ${message}`;
    return message || status;
  }
  if (n.role === "history")
    // an old ReplicaSet still has pods while a rollout replaces it (or is stuck)
    return pods ? `old revision, ${pods} pod${pods === 1 ? "" : "s"} still running` : "scaled to zero";
  if (!message) return status;
  return `${status}: ${message}`;
}

function tags(n: TreeNode): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (n.kind === "ReplicaSet" && n.revision)
    out.push(h("span", { class: "tag", testid: "rs-revision" }, `rev ${n.revision}`));
  if (n.role === "history")
    out.push(
      h("span", { class: "tag tag-history", testid: "history-badge", title: n.note }, "rollout history"),
    );
  if (n.role === "orphan") out.push(h("span", { class: "tag tag-orphan", title: n.note }, "orphan"));
  if (!n.uid && n.kind !== "Application")
    out.push(h("span", { class: "tag tag-missing", title: "in Git, not in the cluster" }, "not created"));
  return out;
}

function nodeEl(n: TreeNode, selected: boolean, select: (n: TreeNode) => void, pods: number): HTMLElement {
  const cls = [
    "tnode",
    statusClass(n.health.status),
    `role-${n.role}`,
    n.role === "history" && pods ? "draining" : "",
    n.kind === "Application" ? "tnode-app" : "",
    selected ? "selected" : "",
  ]
    .filter(Boolean)
    .join(" ");
  const title = [`${n.kind} ${n.name}`, n.health.message, n.note].filter(Boolean).join("\n");
  return h(
    "button",
    {
      class: cls,
      testid: `tree-node-${n.kind}-${n.name}`,
      "data-id": n.id,
      title: title || null,
      onclick: () => select(n),
    },
    h(
      "span",
      { class: "tnode-top" },
      h("span", { class: "dot", "aria-hidden": "true" }),
      h("span", { class: "tnode-kind" }, n.kind),
      h("span", { class: "tnode-tags" }, ...tags(n)),
    ),
    h("span", { class: "tnode-name" }, middleTruncate(n.name, 32)),
    h("span", { class: "tnode-status", testid: "node-status" }, statusLine(n, pods)),
  );
}

function edgePath(x0: number, y0: number, x1: number, y1: number): string {
  const dx = Math.max(24, (x1 - x0) / 2);
  return `M${x0},${y0} C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
}

/** Draws ``tree`` (plus the application as the root) into ``canvas``, replacing what was there. */
export function drawTree(
  canvas: HTMLElement,
  app: AppSummary,
  tree: Tree,
  selectedId: string | null,
  select: (n: TreeNode) => void,
): void {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 64, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const root = appNode(app);
  // dagre stacks siblings in reverse insertion order; insert reversed so Deployments come first
  const nodes = [root, ...[...tree.nodes].sort((a, b) => rank(b).localeCompare(rank(a)))];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  const edges: [string, string][] = [];
  for (const n of nodes) if (n.role === "managed" && n !== root) edges.push([root.id, n.id]);
  const sortedEdges = [...tree.edges].sort((a, b) => {
    const na = byId.get(a.to);
    const nb = byId.get(b.to);
    return na && nb ? rank(nb).localeCompare(rank(na)) : 0;
  });
  for (const e of sortedEdges) if (byId.has(e.from) && byId.has(e.to)) edges.push([e.from, e.to]);
  for (const [a, b] of edges) g.setEdge(a, b);
  const pods = new Map<string, number>();
  for (const [a, b] of edges) if (byId.get(b)?.kind === "Pod") pods.set(a, (pods.get(a) ?? 0) + 1);
  dagre.layout(g);

  const graph = g.graph();
  const width = (graph.width ?? 0) + MARGIN;
  const height = (graph.height ?? 0) + MARGIN;
  const layer = svg("svg", { class: "edges", width, height, "aria-hidden": "true" });
  for (const [a, b] of edges) {
    const s = g.node(a);
    const t = g.node(b);
    if (s.x === undefined || s.y === undefined || t.x === undefined || t.y === undefined) continue;
    const target = byId.get(b);
    const cls = target?.role === "history" ? "edge edge-history" : "edge";
    layer.append(svg("path", { d: edgePath(s.x + NODE_W / 2, s.y, t.x - NODE_W / 2, t.y), class: cls }));
  }
  const stage = h("div", { class: "stage", testid: "tree" });
  stage.style.width = `${width}px`;
  stage.style.height = `${height}px`;
  stage.append(layer);
  for (const n of nodes) {
    const pos = g.node(n.id);
    const el = nodeEl(n, n.id === selectedId, select, pods.get(n.id) ?? 0);
    el.style.left = `${(pos.x ?? 0) - NODE_W / 2}px`;
    el.style.top = `${(pos.y ?? 0) - NODE_H / 2}px`;
    stage.append(el);
  }
  canvas.replaceChildren(stage);
}
