// Action dialogs (sync, history with rollback) and toasts for their results.

import { ApiError, get, post } from "../api";
import { clear, h } from "../dom";
import { ago, localTime, shortSha } from "../format";
import type { AppSummary, HistoryEntry, TreeNode } from "../types";
import { toYaml } from "../yaml";

export function toast(message: string, kind: "ok" | "error" = "ok"): void {
  let host = document.querySelector<HTMLElement>(".toasts");
  if (!host) {
    host = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(host);
  }
  const el = h("div", { class: `toast toast-${kind}`, testid: "toast" }, message);
  host.append(el);
  window.setTimeout(() => el.remove(), kind === "error" ? 9000 : 5000);
}

function modal(testid: string, title: string, ...content: HTMLElement[]): HTMLDialogElement {
  const dialog = h(
    "dialog",
    { class: "dialog", testid },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", {}, title),
      h("button", { class: "btn btn-quiet", "aria-label": "Close", onclick: () => dialog.close() }, "\u2715"),
    ),
    ...content,
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function message(result: Record<string, unknown>, fallback: string): string {
  return typeof result.message === "string" && result.message ? result.message : fallback;
}

/** An operation that finished without success (the API answers 200 with its final state). */
function failed(result: Record<string, unknown>): boolean {
  return result.phase === "Failed" || result.phase === "Error";
}

function refOf(n: TreeNode): string {
  return n.group ? `${n.group}/${n.kind}/${n.name}` : `${n.kind}/${n.name}`;
}

export function openSyncDialog(app: AppSummary, managed: TreeNode[], prunePolicy: boolean): void {
  const revision = h("input", {
    class: "input",
    id: "sync-revision",
    placeholder: app.targetRevision || "HEAD",
    testid: "sync-revision",
    spellcheck: "false",
  });
  const prune = h("input", {
    type: "checkbox",
    id: "sync-prune",
    testid: "sync-prune",
    checked: prunePolicy,
  });
  const dryRun = h("input", { type: "checkbox", id: "sync-dry-run", testid: "sync-dry-run" });
  const boxes = managed.map((n) => ({
    ref: refOf(n),
    box: h("input", { type: "checkbox", value: refOf(n), testid: `sync-resource-${n.kind}-${n.name}` }),
    node: n,
  }));
  const error = h("p", { class: "form-error", role: "alert" });
  const result = h("div", { class: "dialog-result" });
  const confirm = h("button", { class: "btn btn-primary", testid: "sync-confirm", type: "submit" }, "Sync");
  const form = h(
    "form",
    { class: "dialog-body", method: "dialog" },
    h("label", { class: "label", for: "sync-revision" }, "Revision"),
    revision,
    h(
      "p",
      { class: "hint" },
      `Branch, tag or commit. Empty: ${app.targetRevision || "HEAD"} (the app's target revision).`,
    ),
    h(
      "label",
      { class: "check" },
      prune,
      h("span", {}, h("strong", {}, "Prune"), " \u2014 delete objects that are no longer in Git"),
    ),
    h(
      "label",
      { class: "check" },
      dryRun,
      h("span", {}, h("strong", {}, "Dry run"), " \u2014 show what would change, change nothing"),
    ),
    boxes.length
      ? h(
          "fieldset",
          { class: "resources" },
          h("legend", {}, "Only these objects ", h("span", { class: "muted" }, "(none checked: all)")),
          h(
            "div",
            { class: "resource-list" },
            ...boxes.map(({ box, node }) =>
              h(
                "label",
                { class: "check small" },
                box,
                h("span", {}, h("span", { class: "muted" }, `${node.kind}/`), node.name),
              ),
            ),
          ),
        )
      : null,
    error,
    result,
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { class: "btn", type: "button", onclick: () => dialog.close() }, "Cancel"),
      confirm,
    ),
  );
  const dialog = modal("sync-dialog", `Sync ${app.name}`, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    confirm.disabled = true;
    const body: Record<string, unknown> = { prune: prune.checked, dryRun: dryRun.checked };
    if (revision.value.trim()) body.revision = revision.value.trim();
    const chosen = boxes.filter((b) => b.box.checked).map((b) => b.ref);
    if (chosen.length) body.resources = chosen;
    try {
      const res = await post<Record<string, unknown>>(`/apps/${encodeURIComponent(app.name)}/sync`, body);
      if (dryRun.checked) {
        clear(result);
        result.append(
          h("p", { class: "label" }, "Dry run: nothing was changed"),
          h("pre", { class: "code" }, toYaml(res)),
        );
        confirm.disabled = false;
      } else {
        dialog.close();
        toast(
          failed(res)
            ? `Sync of ${app.name} failed: ${message(res, "no details")}`
            : message(res, `Sync of ${app.name} started`),
          failed(res) ? "error" : "ok",
        );
      }
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      confirm.disabled = false;
    }
  });
  revision.focus();
}

export function openHistoryDialog(app: AppSummary, canAct: boolean, readonlyHint: string): void {
  const body = h("div", { class: "dialog-body" }, h("p", { class: "muted" }, "Loading\u2026"));
  const dialog = modal("history-dialog", `History of ${app.name}`, body);
  dialog.classList.add("dialog-wide");
  get<HistoryEntry[]>(`/apps/${encodeURIComponent(app.name)}/history`)
    .then((entries) => {
      clear(body);
      if (!entries.length) {
        body.append(h("p", { class: "muted" }, "No deployments recorded yet."));
        return;
      }
      const latest = entries.reduce((a, b) => (b.id > a.id ? b : a));
      const rows = [...entries]
        .sort((a, b) => b.id - a.id)
        .map((entry) => {
          // the last deployment is what runs now, whatever Git holds (after a rollback: an older commit)
          const current = entry.id === latest.id;
          const same = !current && entry.revision === latest.revision;
          const button = h(
            "button",
            {
              class: "btn btn-small",
              testid: `rollback-${entry.id}`,
              disabled: !canAct || current || same,
              title: !canAct
                ? readonlyHint
                : current
                  ? "this is what runs now"
                  : same
                    ? `${shortSha(entry.revision)} is what runs now`
                    : `deploy ${shortSha(entry.revision)} again`,
            },
            "Rollback",
          );
          let armed = false;
          button.addEventListener("click", async () => {
            if (!armed) {
              armed = true;
              button.textContent = "Confirm rollback";
              button.classList.add("btn-danger");
              return;
            }
            button.disabled = true;
            try {
              const res = await post<Record<string, unknown>>(
                `/apps/${encodeURIComponent(app.name)}/rollback`,
                { id: entry.id },
              );
              dialog.close();
              const rolled = `Rolled ${app.name} back to ${shortSha(entry.revision)}`;
              toast(
                failed(res)
                  ? `${rolled} failed: ${message(res, "no details")}`
                  : `${rolled}: ${message(res, "done")}`,
                failed(res) ? "error" : "ok",
              );
            } catch (err) {
              toast(err instanceof ApiError ? err.message : String(err), "error");
              button.disabled = false;
            }
          });
          return h(
            "tr",
            { testid: `history-${entry.id}` },
            h("td", { class: "num" }, String(entry.id)),
            h(
              "td",
              { class: "grow" },
              h("code", { class: "sha" }, shortSha(entry.revision)),
              " ",
              entry.message,
              current ? h("span", { class: "tag tag-current" }, "current") : null,
            ),
            h("td", { title: localTime(entry.deployedAt) }, ago(entry.deployedAt)),
            h("td", {}, entry.initiatedBy || "\u2014"),
            h("td", { class: "right" }, current ? null : button),
          );
        });
      body.append(
        h(
          "table",
          { class: "grid-table" },
          h("thead", {}, h("tr", {}, ...["#", "Revision", "Deployed", "By", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, ...rows),
        ),
      );
      if (!canAct) body.append(h("p", { class: "hint" }, readonlyHint));
    })
    .catch((err: unknown) => {
      clear(body);
      body.append(h("p", { class: "form-error" }, err instanceof ApiError ? err.message : String(err)));
    });
}
