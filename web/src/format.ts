// Small display helpers: relative times, status badges, status colours.

import { h } from "./dom";
import type { AppSummary } from "./types";

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.round((now - then) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 60) return `${Math.floor(s / 86400)} d ago`;
  if (s < 86400 * 730) return `${Math.floor(s / (86400 * 30))} months ago`;
  return `${Math.floor(s / (86400 * 365))} years ago`;
}

export function until(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "no expiry";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const s = Math.round((then - now) / 1000);
  if (s <= 0) return `expired ${ago(iso, now)}`;
  if (s < 3600) return `in ${Math.ceil(s / 60)} min`;
  if (s < 86400 * 2) return `in ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s < 86400 * 60) return `in ${Math.floor(s / 86400)} days`;
  return `in ${Math.floor(s / (86400 * 30))} months`;
}

export function localTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export const HEALTH = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];
export const SYNC = ["Synced", "OutOfSync", "Unknown"];

export function statusClass(status: string): string {
  return `st-${(status || "Unknown").toLowerCase()}`;
}

export function badge(status: string, testid: string, title = ""): HTMLSpanElement {
  const label = status === "OutOfSync" ? "Out of sync" : status || "Unknown";
  return h(
    "span",
    { class: `badge ${statusClass(status)}`, testid, title: title || null, "data-status": status },
    label,
  );
}

export function shortSha(sha: string): string {
  return sha ? sha.slice(0, 7) : "";
}

/** Text with `backtick` spans shown as code (diagnosis next steps name commands that way). */
export function withCode(text: string): (string | HTMLElement)[] {
  return text
    .split(/(`[^`]+`)/)
    .filter(Boolean)
    .map((part) =>
      part.startsWith("`") && part.endsWith("`") ? h("code", { class: "cmd" }, part.slice(1, -1)) : part,
    );
}

/** Long generated names (Pods) keep their start and their unique suffix. */
export function middleTruncate(name: string, max = 30): string {
  if (name.length <= max) return name;
  const tail = Math.min(10, Math.floor(max / 3));
  return `${name.slice(0, max - tail - 1)}\u2026${name.slice(-tail)}`;
}

/** What runs now: the last deployment, or (older APIs) the compared revision. */
export function deployedOf(a: AppSummary): { sha: string; message: string } {
  return a.deployedRevision
    ? { sha: a.deployedRevision, message: a.deployedMessage ?? "" }
    : { sha: a.revision, message: a.revisionMessage };
}
