// Small display helpers: relative times, status badges, status colours.

import { h } from "./dom";

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.round((now - then) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function until(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "no expiry";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.round((then - now) / 1000);
  if (s <= 0) return `expired ${ago(iso, now)}`;
  if (s < 3600) return `in ${Math.ceil(s / 60)} min`;
  if (s < 86400 * 2) return `in ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `in ${Math.floor(s / 86400)} days`;
}

export function localTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export const HEALTH = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];
export const SYNC = ["Synced", "OutOfSync", "Unknown"];

const ICONS: Record<string, string> = {
  Healthy: "\u2713",
  Progressing: "\u21bb",
  Degraded: "\u2715",
  Suspended: "\u275a\u275a",
  Missing: "?",
  Unknown: "\u00b7",
  Synced: "\u2713",
  OutOfSync: "\u0394",
};

export function statusClass(status: string): string {
  return `st-${(status || "Unknown").toLowerCase()}`;
}

export function badge(status: string, testid: string, title = ""): HTMLSpanElement {
  const label = status === "OutOfSync" ? "Out of sync" : status || "Unknown";
  return h(
    "span",
    { class: `badge ${statusClass(status)}`, testid, title: title || null, "data-status": status },
    h("span", { class: "badge-icon", "aria-hidden": "true" }, ICONS[status] ?? "\u00b7"),
    label,
  );
}

export function shortSha(sha: string): string {
  return sha ? sha.slice(0, 7) : "";
}
