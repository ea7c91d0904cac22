// One application: header with actions, diagnosis banner, live resource tree, side panel.

import { ApiError, get, post, stream, type StreamState } from "../api";
import { append, clear, h } from "../dom";
import { ago, badge, deployedOf, localTime, withCode } from "../format";
import { navigate } from "../main";
import type { AppSummary, Condition, Explain, Session, Tree, TreeEvent, TreeNode } from "../types";
import { openHistoryDialog, openSyncDialog, toast } from "./dialogs";
import { openPanel } from "./panel";
import { drawTree } from "./tree";

const READONLY_HINT =
  "Your token is read-only. Ask for an admin token (tether token create NAME --role admin) to act.";

function action(
  label: string,
  testid: string,
  canAct: boolean,
  run: () => void,
  primary = false,
): HTMLElement {
  const button = h(
    "button",
    {
      class: `btn${primary ? " btn-primary" : ""}`,
      testid,
      disabled: !canAct,
      onclick: run,
      "aria-describedby": canAct ? null : "readonly-hint",
    },
    label,
  );
  // Disabled buttons get no hover events in some browsers; the wrapper carries the tooltip.
  return h("span", { class: "action", title: canAct ? null : READONLY_HINT }, button);
}

// Why the controller is holding back (a sync window, a refused object...), one banner each.
function conditionBanner(c: Condition): HTMLElement {
  return h(
    "div",
    { class: "banner banner-condition", testid: `condition-${c.type}`, role: "status" },
    h("strong", {}, c.type === "SyncWindow" ? "Sync window: " : `${c.type}: `),
    c.message || c.reason,
  );
}

function explainBanner(
  app: AppSummary,
  ex: Explain,
  select: (kind: string, name: string) => void,
): HTMLElement {
  const next = ex.nextStep ?? ex.next_step ?? "";
  const chain = ex.chain.slice(1);
  // "Progressing" while a Pod below is failing (ImagePullBackOff...) will not fix itself: say so
  const failing = app.health !== "Degraded" && chain.some((link) => link.status === "Degraded");
  const tone = failing ? "degraded" : app.health.toLowerCase();
  return h(
    "div",
    { class: `banner banner-${tone}`, testid: "diagnosis-banner", role: "alert" },
    h(
      "div",
      { class: "banner-title" },
      h(
        "strong",
        {},
        app.health === "Missing" ? "Not deployed yet" : failing ? `${app.health}, but failing` : app.health,
      ),
      h(
        "span",
        {},
        chain.length
          ? ` \u2014 ${chain[chain.length - 1].headline}`
          : app.healthMessage
            ? ` \u2014 ${app.healthMessage}`
            : "",
      ),
    ),
    chain.length
      ? h(
          "ol",
          { class: "chain" },
          ...chain.map((link) =>
            h(
              "li",
              {},
              h(
                "button",
                { class: "linkish", title: "show in the tree", onclick: () => select(link.kind, link.name) },
                link.headline,
              ),
              link.cause && link.cause !== link.headline
                ? h("span", { class: "cause", title: link.cause }, link.cause)
                : null,
            ),
          ),
        )
      : ex.text
        ? h("pre", { class: "banner-text" }, ex.text)
        : null,
    next
      ? h(
          "div",
          { class: "next-step" },
          h("span", { class: "label-inline" }, "Next step"),
          h("span", { testid: "next-step" }, ...withCode(next)),
        )
      : null,
  );
}

export function mountAppPage(main: HTMLElement, name: string, who: Session): () => void {
  const canAct = who.role === "admin";
  const enc = encodeURIComponent(name);
  let app: AppSummary | null = null;
  let tree: Tree = { nodes: [], edges: [] };
  let treeSig = "";
  let selected: TreeNode | null = null;
  let closePanel: (() => void) | null = null;
  let prunePolicy = false;
  let explainKey = "";

  const head = h("div", { class: "app-head" });
  const banners = h("div", { class: "banners" });
  const canvas = h(
    "div",
    { class: "canvas", testid: "tree-canvas" },
    h("p", { class: "muted pad" }, "Loading the resource tree\u2026"),
  );
  const live = h("span", { class: "live" }, "connecting\u2026");
  const layout = h("div", { class: "app-body" }, canvas);
  main.append(
    h(
      "section",
      { class: "page page-app" },
      head,
      banners,
      h(
        "div",
        { class: "tree-bar" },
        h("span", { class: "muted" }, "Resource tree"),
        h(
          "span",
          { class: "legend" },
          ...["Healthy", "Progressing", "Degraded", "Suspended", "Missing"].map((s) =>
            h("span", { class: `legend-item st-${s.toLowerCase()}` }, h("span", { class: "dot" }), s),
          ),
        ),
        h("span", { class: "spacer" }),
        live,
      ),
      layout,
    ),
  );

  function select(n: TreeNode | null): void {
    closePanel?.();
    closePanel = null;
    selected = n;
    if (n) closePanel = openPanel(layout, name, n, () => select(null));
    layout.classList.toggle("with-panel", !!n);
    redrawTree();
  }

  function selectByName(kind: string, objName: string): void {
    const n = tree.nodes.find((x) => x.kind === kind && x.name === objName);
    if (n) select(n);
  }

  function redrawTree(): void {
    if (!app) return;
    drawTree(canvas, app, tree, selected?.id ?? null, (n) => select(selected?.id === n.id ? null : n));
  }

  function renderHead(a: AppSummary): void {
    const deployed = deployedOf(a);
    clear(head);
    append(head, [
      h(
        "a",
        {
          class: "crumb",
          href: "/",
          onclick: (e: Event) => {
            e.preventDefault();
            navigate("/");
          },
        },
        "\u2190 Applications",
      ),
      h(
        "div",
        { class: "title-row" },
        h("h1", { testid: "app-title" }, a.name),
        badge(a.sync, "sync-badge"),
        badge(a.health, "health-badge", a.healthMessage),
        a.operation === "Running" ? h("span", { class: "pill pill-info" }, "syncing\u2026") : null,
        h("span", { class: "spacer" }),
        h(
          "div",
          { class: "actions" },
          a.paused ? action("Resume auto-sync", "resume-button", canAct, () => void resume(), true) : null,
          action(
            "Sync",
            "sync-button",
            canAct,
            () =>
              openSyncDialog(
                a,
                tree.nodes.filter((n) => n.role === "managed"),
                prunePolicy,
              ),
            !a.paused,
          ),
          h(
            "span",
            { class: "action" },
            h(
              "button",
              {
                class: "btn",
                testid: "history-button",
                onclick: () => openHistoryDialog(a, canAct, READONLY_HINT),
              },
              "History",
            ),
          ),
          action("Refresh", "refresh-button", canAct, () => void refresh()),
        ),
      ),
      h(
        "dl",
        { class: "facts" },
        fact(
          "Source",
          h(
            "span",
            { title: a.repoURL },
            a.repoURL.replace(/^https?:\/\//, ""),
            h("span", { class: "muted" }, ` / ${a.path}`),
          ),
        ),
        fact("Target", h("span", {}, a.targetRevision)),
        fact(
          "Deployed",
          h(
            "span",
            { testid: "app-revision" },
            deployed.sha ? h("code", { class: "sha" }, deployed.sha) : "\u2014",
            " ",
            deployed.message,
          ),
        ),
        a.revision && a.revision !== deployed.sha
          ? fact(
              `In Git (${a.targetRevision})`,
              h(
                "span",
                { testid: "git-revision" },
                h("code", { class: "sha" }, a.revision),
                " ",
                a.revisionMessage,
              ),
            )
          : null,
        fact("Last sync", h("span", { title: localTime(a.lastSyncedAt) }, ago(a.lastSyncedAt))),
        fact("Destination", h("span", {}, a.namespace)),
        a.project ? fact("Project", h("span", { testid: "app-project" }, a.project)) : null,
        fact("Auto-sync", h("span", {}, a.paused ? "paused" : a.autoSync ? "on" : "off")),
      ),
      canAct
        ? null
        : h(
            "p",
            { class: "hint", id: "readonly-hint", testid: "readonly-hint" },
            "Read-only: actions are disabled for your token.",
          ),
    ]);
  }

  function renderBanners(a: AppSummary, ex: Explain | null): void {
    clear(banners);
    if (a.paused) {
      banners.append(
        h(
          "div",
          { class: "banner banner-paused", testid: "paused-banner" },
          h("strong", {}, "Auto-sync is paused. "),
          a.pausedReason || "Resume it to let Git win again.",
        ),
      );
    }
    for (const c of a.conditions ?? []) banners.append(conditionBanner(c));
    if (a.health !== "Healthy" && ex) banners.append(explainBanner(a, ex, selectByName));
  }

  let explainData: Explain | null = null;
  async function refreshExplain(a: AppSummary): Promise<void> {
    const key = `${a.health}|${a.healthMessage}|${a.sync}`;
    if (key === explainKey) return;
    explainKey = key;
    if (a.health === "Healthy") {
      explainData = null;
      renderBanners(a, null);
      return;
    }
    try {
      explainData = await get<Explain>(`/apps/${enc}/explain`);
    } catch (err) {
      explainData = { status: a.health, text: err instanceof Error ? err.message : String(err), chain: [] };
    }
    if (app) renderBanners(app, explainData);
  }

  async function resume(): Promise<void> {
    try {
      await post(`/apps/${enc}/resume`);
      toast("Auto-sync resumed: Git wins again");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : String(err), "error");
    }
  }

  async function refresh(): Promise<void> {
    try {
      await post(`/apps/${enc}/refresh`);
      toast("Refreshing: re-reading Git and the cluster");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : String(err), "error");
    }
  }

  function onTree(data: TreeEvent): void {
    const headSig = JSON.stringify(data.app);
    const changedHead = !app || JSON.stringify(app) !== headSig;
    app = data.app;
    if (changedHead) {
      renderHead(app);
      renderBanners(app, explainData);
      void refreshExplain(app);
    }
    const sig = JSON.stringify(data.tree);
    if (sig !== treeSig) {
      treeSig = sig;
      tree = data.tree;
      if (selected && !tree.nodes.some((n) => n.id === selected?.id)) select(null);
      else redrawTree();
    } else if (changedHead) {
      // the Application node at the root shows the app's health: keep it in step with the header
      redrawTree();
    }
  }

  let close: () => void = () => undefined;
  get<Record<string, unknown>>(`/apps/${enc}`)
    .then((obj) => {
      const spec = (obj.spec ?? {}) as { syncPolicy?: { automated?: { prune?: boolean } } };
      prunePolicy = !!spec.syncPolicy?.automated?.prune;
      const states: Record<StreamState, string> = {
        connecting: "connecting\u2026",
        live: "live",
        reconnecting: "reconnecting\u2026",
      };
      close = stream<TreeEvent>(
        `/apps/${enc}/tree`,
        "tree",
        onTree,
        (s) => {
          live.textContent = states[s];
          live.className = `live live-${s}`;
        },
        {
          gone: () => {
            toast(`${name} was deleted`, "error");
            navigate("/");
          },
        },
      );
    })
    .catch((err: unknown) => {
      clear(canvas);
      const msg =
        err instanceof ApiError && err.status === 404
          ? `There is no application named \u201c${name}\u201d.`
          : String(err instanceof Error ? err.message : err);
      canvas.append(
        h(
          "div",
          { class: "empty", testid: "app-error" },
          msg,
          " ",
          h(
            "a",
            {
              href: "/",
              onclick: (e: Event) => {
                e.preventDefault();
                navigate("/");
              },
            },
            "Back to the list",
          ),
        ),
      );
    });

  return () => {
    close();
    closePanel?.();
  };
}

function fact(label: string, value: HTMLElement): HTMLElement {
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
}
