// Registry credentials: who refreshes which pull secret, when it expires, what failed.

import { ApiError, get, post } from "../api";
import { clear, h } from "../dom";
import { ago, localTime, until } from "../format";
import type { RegistryCredential, RegistryNamespace, Session } from "../types";
import { toast } from "./dialogs";

function expiryCell(iso: string | null | undefined): HTMLElement {
  const expired = !!iso && Date.parse(iso) <= Date.now();
  const soon = !!iso && !expired && Date.parse(iso) - Date.now() < 3600_000;
  return h(
    "span",
    { class: expired ? "text-bad" : soon ? "text-warn" : "", title: localTime(iso) },
    until(iso),
  );
}

function nsRow(ns: RegistryNamespace): HTMLElement {
  const ok = ns.ready !== false && !ns.lastError;
  return h(
    "tr",
    { testid: `registry-ns-${ns.namespace}` },
    h(
      "td",
      {},
      h("span", {
        class: `dot-inline ${ok ? "st-healthy" : ns.ready === false ? "st-degraded" : "st-progressing"}`,
      }),
      ns.namespace,
    ),
    h("td", {}, h("code", {}, ns.secretName ?? "")),
    h("td", {}, expiryCell(ns.expiresAt)),
    h("td", { class: ns.lastError ? "text-bad wrap" : "muted" }, ns.lastError || "none"),
  );
}

function card(cred: RegistryCredential, canAct: boolean): HTMLElement {
  const check = h(
    "button",
    {
      class: "btn btn-small",
      testid: `registry-check-${cred.name}`,
      disabled: !canAct,
      title: canAct ? "try the credential against the registry now" : "read-only token",
    },
    "Check now",
  );
  check.addEventListener("click", async () => {
    check.disabled = true;
    try {
      const res = await post<{ ok?: boolean; message?: string }>(
        `/registries/${encodeURIComponent(cred.name)}/check`,
      );
      toast(res.message ?? (res.ok ? "credential works" : "check failed"), res.ok === false ? "error" : "ok");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : String(err), "error");
    }
    check.disabled = false;
  });
  const namespaces = cred.namespaces ?? [];
  return h(
    "article",
    { class: "card", testid: `registry-${cred.name}` },
    h(
      "div",
      { class: "card-head" },
      h(
        "div",
        {},
        h("h2", {}, cred.name),
        h(
          "div",
          { class: "muted" },
          h("code", {}, cred.registry ?? ""),
          cred.provider ? ` \u00b7 ${cred.provider}` : "",
        ),
      ),
      h("span", { class: "spacer" }),
      h(
        "dl",
        { class: "facts compact" },
        h("div", { class: "fact" }, h("dt", {}, "Expires"), h("dd", {}, expiryCell(cred.expiresAt))),
        h(
          "div",
          { class: "fact" },
          h("dt", {}, "Last refresh"),
          h("dd", { title: localTime(cred.lastRefresh) }, ago(cred.lastRefresh)),
        ),
      ),
      check,
    ),
    cred.lastError
      ? h("p", { class: "banner banner-degraded" }, h("strong", {}, "Last error: "), cred.lastError)
      : null,
    namespaces.length
      ? h(
          "table",
          { class: "grid-table" },
          h(
            "thead",
            {},
            h("tr", {}, ...["Namespace", "Pull secret", "Expires", "Last error"].map((t) => h("th", {}, t))),
          ),
          h("tbody", {}, ...namespaces.map(nsRow)),
        )
      : h("p", { class: "muted" }, "No namespace selected yet."),
  );
}

export function mountRegistries(main: HTMLElement, who: Session): () => void {
  const body = h("div", { class: "cards" }, h("p", { class: "muted" }, "Loading\u2026"));
  main.append(
    h(
      "section",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", {}, "Registry credentials")),
      h(
        "p",
        { class: "muted lead" },
        "Pull secrets Tether keeps fresh in each namespace. Expiring credentials break the next scale-out with ImagePullBackOff.",
      ),
      body,
    ),
  );
  let stopped = false;
  async function load(): Promise<void> {
    try {
      const creds = await get<RegistryCredential[]>("/registries");
      if (stopped) return;
      clear(body);
      if (!creds.length)
        body.append(h("p", { class: "empty" }, "No RegistryCredential resources in this cluster."));
      for (const c of creds) body.append(card(c, who.role === "admin"));
    } catch (err) {
      clear(body);
      body.append(h("p", { class: "form-error" }, err instanceof Error ? err.message : String(err)));
    }
  }
  void load();
  const timer = window.setInterval(() => void load(), 30_000);
  return () => {
    stopped = true;
    window.clearInterval(timer);
  };
}
