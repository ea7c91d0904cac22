// The side panel for one tree node: live manifest (masked by the API), events, diff.

import { ApiError, get } from "../api";
import { clear, h } from "../dom";
import { ago, badge, localTime } from "../format";
import type { KubeEvent, ResourceDetail, TreeNode } from "../types";
import { toYaml } from "../yaml";

type Tab = "manifest" | "events" | "diff";

interface DiffEntry {
  kind: string;
  name: string;
  status: string;
  diff: string;
}

function eventRow(e: KubeEvent): HTMLElement {
  const when = e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? "";
  const warn = e.type === "Warning";
  return h(
    "li",
    { class: `event${warn ? " event-warn" : ""}` },
    h(
      "div",
      { class: "event-head" },
      h("span", { class: `tag ${warn ? "tag-warn" : ""}` }, e.type ?? "Normal"),
      h("strong", {}, e.reason ?? ""),
      e.count && e.count > 1 ? h("span", { class: "muted" }, `\u00d7${e.count}`) : null,
      h("span", { class: "spacer" }),
      h("span", { class: "muted small", title: localTime(when) }, ago(when)),
    ),
    h("div", { class: "event-msg" }, e.message ?? ""),
  );
}

export function eventList(events: KubeEvent[], emptyText: string): HTMLElement {
  if (!events.length) return h("p", { class: "muted pad" }, emptyText);
  return h("ul", { class: "events" }, ...events.map(eventRow));
}

export function diffView(text: string, emptyText: string): HTMLElement {
  if (!text.trim()) return h("p", { class: "muted pad" }, emptyText);
  const pre = h("pre", { class: "code diff" });
  for (const line of text.replace(/\n$/, "").split("\n")) {
    const cls =
      line.startsWith("+++") || line.startsWith("---")
        ? "d-file"
        : line.startsWith("+")
          ? "d-add"
          : line.startsWith("-")
            ? "d-del"
            : line.startsWith("@@")
              ? "d-hunk"
              : "";
    pre.append(h("span", { class: `dl ${cls}` }, line || " "));
  }
  return pre;
}

export function openPanel(host: HTMLElement, app: string, node: TreeNode, onClose: () => void): () => void {
  let tab: Tab = "manifest";
  let detail: ResourceDetail | null = null;
  let error = "";
  const body = h("div", { class: "panel-body" });
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const panel = h(
    "aside",
    { class: "panel", testid: "side-panel", "aria-label": `${node.kind} ${node.name}` },
    h(
      "div",
      { class: "panel-head" },
      h(
        "div",
        {},
        h("div", { class: "panel-kind" }, node.kind, node.namespace ? ` \u00b7 ${node.namespace}` : ""),
        h("h2", { class: "panel-title" }, node.name),
      ),
      h(
        "button",
        { class: "btn btn-quiet", testid: "panel-close", "aria-label": "Close", onclick: onClose },
        "\u2715",
      ),
    ),
    h(
      "div",
      { class: "panel-status" },
      badge(node.health.status, "panel-health"),
      h("span", { class: "panel-msg" }, node.health.message || ""),
      node.note ? h("p", { class: "note" }, node.note) : null,
    ),
    tabs,
    body,
  );

  function render(): void {
    clear(tabs);
    const labels: [Tab, string][] = [
      ["manifest", "Live manifest"],
      ["events", "Events"],
      ["diff", "Diff vs Git"],
    ];
    for (const [id, label] of labels) {
      const count = id === "events" && detail ? ` (${detail.events.length})` : "";
      tabs.append(
        h(
          "button",
          {
            class: `tab${tab === id ? " on" : ""}`,
            role: "tab",
            "aria-selected": tab === id ? "true" : "false",
            testid: `panel-tab-${id}`,
            onclick: () => {
              tab = id;
              render();
            },
          },
          label + count,
        ),
      );
    }
    clear(body);
    if (error) {
      body.append(h("p", { class: "form-error pad" }, error));
      return;
    }
    if (!detail) {
      body.append(h("p", { class: "muted pad" }, "Loading\u2026"));
      return;
    }
    if (tab === "manifest") {
      body.append(
        detail.manifest
          ? h("pre", { class: "code manifest", testid: "panel-manifest" }, toYaml(detail.manifest))
          : h(
              "p",
              { class: "muted pad", testid: "panel-manifest" },
              "Not in the cluster: Git declares it, a sync creates it.",
            ),
      );
    } else if (tab === "events") {
      body.append(
        h(
          "div",
          { testid: "panel-events" },
          eventList(detail.events, "No events for this object (Kubernetes keeps them about an hour)."),
        ),
      );
    } else {
      body.append(
        h(
          "div",
          { testid: "panel-diff" },
          diffView(
            detail.diff,
            node.kind === "Application"
              ? "No difference: the cluster matches Git."
              : node.role === "managed"
                ? "No difference: the live object matches Git."
                : "Not managed from Git (created by its owner), so there is nothing to compare.",
          ),
        ),
      );
    }
  }

  if (node.kind === "Application") {
    detail = { manifest: null, events: [], diff: "" };
    void get<Record<string, unknown>>(`/apps/${encodeURIComponent(app)}`).then((m) => {
      if (detail) detail.manifest = m;
      render();
    });
    void get<KubeEvent[]>(`/apps/${encodeURIComponent(app)}/events`)
      .then((ev) => {
        if (detail) detail.events = ev;
        render();
      })
      .catch(() => undefined);
    void get<DiffEntry[]>(`/apps/${encodeURIComponent(app)}/diff`)
      .then((entries) => {
        if (detail)
          detail.diff = entries
            .filter((e) => e.diff)
            .map((e) => `@@ ${e.kind}/${e.name} (${e.status}) @@\n${e.diff}`)
            .join("\n");
        render();
      })
      .catch(() => undefined);
  } else {
    const q = new URLSearchParams({
      group: node.group,
      kind: node.kind,
      namespace: node.namespace,
      name: node.name,
    });
    get<ResourceDetail>(`/apps/${encodeURIComponent(app)}/resource?${q}`)
      .then((d) => {
        detail = { manifest: d.manifest ?? null, events: d.events ?? [], diff: d.diff ?? "" };
        render();
      })
      .catch((e: unknown) => {
        error = e instanceof ApiError ? e.message : String(e);
        render();
      });
  }
  render();
  host.append(panel);
  const onKey = (e: KeyboardEvent): void => {
    if (e.key === "Escape") onClose();
  };
  document.addEventListener("keydown", onKey);
  return () => {
    document.removeEventListener("keydown", onKey);
    panel.remove();
  };
}
