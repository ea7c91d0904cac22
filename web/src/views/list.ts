// The application list: live, filterable, and windowed so 1,000+ apps stay smooth.
//
// The stream sends the whole summary list (coalesced server-side); only the
// rows in view exist in the DOM, and a row is rebuilt only when its data
// changed, so an update costs about as much as the screen shows.

import { stream, type StreamState } from "../api";
import { clear, h } from "../dom";
import { ago, badge, deployedOf, HEALTH, localTime, statusClass, SYNC } from "../format";
import { navigate } from "../main";
import type { AppSummary } from "../types";

const ROW = 60;
const OVERSCAN = 8;

interface Filters {
  q: string;
  health: string;
  sync: string;
}

function readFilters(): Filters {
  const p = new URLSearchParams(location.search);
  return { q: p.get("q") ?? "", health: p.get("health") ?? "", sync: p.get("sync") ?? "" };
}

function writeFilters(f: Filters): void {
  const p = new URLSearchParams();
  if (f.q) p.set("q", f.q);
  if (f.health) p.set("health", f.health);
  if (f.sync) p.set("sync", f.sync);
  const qs = p.toString();
  history.replaceState(null, "", qs ? `/?${qs}` : "/");
}

function matches(a: AppSummary, f: Filters): boolean {
  if (f.health && a.health !== f.health) return false;
  if (f.sync && a.sync !== f.sync) return false;
  if (!f.q) return true;
  const q = f.q.toLowerCase();
  return `${a.name} ${a.namespace} ${a.repoURL} ${a.path}`.toLowerCase().includes(q);
}

function repoLabel(a: AppSummary): string {
  const repo = a.repoURL.replace(/^https?:\/\//, "").replace(/\.git$/, "");
  return a.path && a.path !== "." ? `${repo} / ${a.path}` : repo;
}

function autoSyncCell(a: AppSummary): HTMLElement {
  if (a.paused)
    return h("span", { class: "pill pill-warn", title: a.pausedReason || "auto-sync paused" }, "Paused");
  return a.autoSync
    ? h("span", { class: "pill" }, "Auto")
    : h("span", { class: "pill pill-quiet" }, "Manual");
}

function revisionCell(a: AppSummary): HTMLElement {
  // what runs now; while out of sync Git holds something else, said in the tooltip
  const deployed = deployedOf(a);
  const ahead = a.revision && a.revision !== deployed.sha;
  const title = ahead
    ? `deployed: ${deployed.sha} ${deployed.message}\nin Git: ${a.revision} ${a.revisionMessage}`
    : deployed.message;
  return h(
    "span",
    { class: "cell cell-rev", title },
    deployed.sha ? h("code", { class: "sha" }, deployed.sha) : h("span", { class: "muted" }, "\u2014"),
    h("span", { class: "rev-msg" }, deployed.message),
    ahead ? h("span", { class: "rev-git", testid: "git-ahead" }, `Git: ${a.revision}`) : null,
  );
}

function rowFor(a: AppSummary): HTMLAnchorElement {
  return h(
    "a",
    {
      class: `row ${statusClass(a.health)}`,
      href: `/apps/${encodeURIComponent(a.name)}`,
      testid: `app-row-${a.name}`,
      role: "row",
      onclick: (e: Event) => {
        const m = e as MouseEvent;
        if (m.metaKey || m.ctrlKey || m.shiftKey || m.button !== 0) return;
        e.preventDefault();
        navigate(`/apps/${encodeURIComponent(a.name)}`);
      },
    },
    h(
      "span",
      { class: "cell cell-name" },
      h("span", { class: "app-name" }, a.name),
      h("span", { class: "sub", title: a.repoURL }, `${a.namespace} \u00b7 ${repoLabel(a)}`),
    ),
    h("span", { class: "cell" }, badge(a.sync, "sync-badge")),
    h("span", { class: "cell" }, badge(a.health, "health-badge", a.healthMessage)),
    revisionCell(a),
    h("span", { class: "cell muted", title: localTime(a.lastSyncedAt) }, ago(a.lastSyncedAt)),
    h("span", { class: "cell" }, autoSyncCell(a)),
  );
}

function chips(
  label: string,
  values: string[],
  counts: Map<string, number>,
  active: string,
  testid: string,
  choose: (value: string) => void,
): HTMLElement {
  const group = h("div", { class: "chips", role: "group", "aria-label": label, testid });
  group.append(h("span", { class: "chips-label" }, label));
  for (const value of values) {
    const count = counts.get(value) ?? 0;
    if (!count && value !== active) continue;
    group.append(
      h(
        "button",
        {
          class: `chip ${statusClass(value)}${value === active ? " on" : ""}`,
          "aria-pressed": value === active ? "true" : "false",
          testid: `${testid}-${value}`,
          onclick: () => choose(value === active ? "" : value),
        },
        value === "OutOfSync" ? "Out of sync" : value,
        h("span", { class: "chip-count" }, count.toLocaleString()),
      ),
    );
  }
  return group;
}

export function mountList(main: HTMLElement): () => void {
  let apps: AppSummary[] = [];
  let shown: AppSummary[] = [];
  let loaded = false;
  const filters = readFilters();
  const rowEls = new Map<string, { el: HTMLElement; sig: string }>();

  const search = h("input", {
    class: "input search",
    type: "search",
    placeholder: "Search name, namespace, repository…",
    value: filters.q,
    testid: "search",
    "aria-label": "Search applications",
  });
  const live = h("span", { class: "live", testid: "live-state" }, "connecting…");
  const count = h("span", { class: "count", testid: "app-count" });
  const filterBar = h("div", { class: "filters" });
  const inner = h("div", { class: "rows-inner" });
  const empty = h("div", { class: "empty", testid: "empty" });
  const scroller = h("div", { class: "rows", role: "rowgroup", testid: "app-list" }, inner, empty);
  const head = h(
    "div",
    { class: "row row-head", role: "row" },
    ...["Application", "Sync", "Health", "Revision", "Last sync", "Auto-sync"].map((t) =>
      h("span", { class: "cell", role: "columnheader" }, t),
    ),
  );

  main.append(
    h(
      "section",
      { class: "page page-list" },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, "Applications"),
        count,
        h("span", { class: "spacer" }),
        live,
      ),
      h("div", { class: "toolbar" }, search, filterBar),
      h("div", { class: "table", role: "table", "aria-label": "Applications" }, head, scroller),
    ),
  );

  function renderFilters(): void {
    const health = new Map<string, number>();
    const sync = new Map<string, number>();
    for (const a of apps) {
      health.set(a.health, (health.get(a.health) ?? 0) + 1);
      sync.set(a.sync, (sync.get(a.sync) ?? 0) + 1);
    }
    clear(filterBar);
    filterBar.append(
      chips("Health", HEALTH, health, filters.health, "filter-health", (v) => {
        filters.health = v;
        update();
      }),
      chips("Sync", SYNC, sync, filters.sync, "filter-sync", (v) => {
        filters.sync = v;
        update();
      }),
    );
  }

  function renderRows(force = false): void {
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(shown.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    const keep = new Set<string>();
    for (let i = first; i < last; i++) {
      const a = shown[i];
      const sig = JSON.stringify(a);
      keep.add(a.name);
      let entry = rowEls.get(a.name);
      if (!entry || entry.sig !== sig || force) {
        const el = rowFor(a);
        if (entry) entry.el.replaceWith(el);
        else inner.append(el);
        entry = { el, sig };
        rowEls.set(a.name, entry);
      }
      entry.el.style.transform = `translateY(${i * ROW}px)`;
    }
    for (const [name, entry] of rowEls) {
      if (!keep.has(name)) {
        entry.el.remove();
        rowEls.delete(name);
      }
    }
  }

  function update(): void {
    filters.q = search.value.trim();
    writeFilters(filters);
    shown = apps.filter((a) => matches(a, filters));
    inner.style.height = `${shown.length * ROW}px`;
    const total = apps.length.toLocaleString();
    count.textContent =
      shown.length === apps.length ? `${total}` : `${shown.length.toLocaleString()} of ${total}`;
    empty.textContent = !loaded
      ? "Loading applications…"
      : apps.length === 0
        ? "No applications yet. Apply an Application resource to the cluster and it shows up here."
        : shown.length === 0
          ? "No application matches these filters."
          : "";
    empty.hidden = loaded && shown.length > 0;
    renderFilters();
    renderRows();
  }

  let raf = 0;
  scroller.addEventListener(
    "scroll",
    () => {
      if (!raf)
        raf = requestAnimationFrame(() => {
          raf = 0;
          renderRows();
        });
    },
    { passive: true },
  );
  search.addEventListener("input", () => {
    scroller.scrollTop = 0;
    update();
  });
  const onResize = (): void => renderRows();
  window.addEventListener("resize", onResize);

  const states: Record<StreamState, string> = {
    connecting: "connecting…",
    live: "live",
    reconnecting: "reconnecting…",
  };
  const close = stream<AppSummary[]>(
    "/apps",
    "apps",
    (data) => {
      apps = data;
      loaded = true;
      update();
    },
    (s) => {
      live.textContent = states[s];
      live.className = `live live-${s}`;
    },
  );
  const tick = window.setInterval(() => renderRows(true), 30_000);
  update();
  search.focus();
  return () => {
    close();
    window.clearInterval(tick);
    window.removeEventListener("resize", onResize);
    if (raf) cancelAnimationFrame(raf);
  };
}
