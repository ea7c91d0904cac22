// Sign-in: paste a token; it is kept in sessionStorage (gone when the tab closes).

import { ApiError, checkToken, setToken } from "../api";
import { h } from "../dom";
import type { Session } from "../types";

export function mountLogin(root: HTMLElement, done: (who: Session) => void): () => void {
  const input = h("input", {
    type: "password",
    id: "token",
    class: "input",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "tth_…",
    testid: "token-input",
    required: true,
  });
  const error = h("p", { class: "form-error", role: "alert", testid: "login-error" });
  const button = h(
    "button",
    { class: "btn btn-primary btn-wide", type: "submit", testid: "login-submit" },
    "Sign in",
  );
  const form = h(
    "form",
    { class: "login-card", testid: "login-form" },
    h(
      "div",
      { class: "login-brand" },
      h("span", { class: "brand-mark big", "aria-hidden": "true" }),
      h("h1", {}, "Tether"),
    ),
    h("p", { class: "muted" }, "GitOps continuous delivery. Sign in with an API token."),
    h("label", { for: "token", class: "label" }, "API token"),
    input,
    error,
    button,
    h(
      "div",
      { class: "login-help" },
      h("p", {}, "No token yet? Someone with access to the cluster can create one:"),
      h("pre", { class: "code" }, "tether token create YOUR-NAME --role readonly"),
      h(
        "p",
        { class: "muted small" },
        "Use ",
        h("code", {}, "--role admin"),
        " to be able to sync, roll back and resume.",
      ),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    error.textContent = "";
    try {
      const who = await checkToken(token);
      setToken(token);
      done(who);
    } catch (err) {
      error.textContent =
        err instanceof ApiError && err.status === 401
          ? "That token is not valid (or was revoked). Check it was copied completely."
          : String(err instanceof Error ? err.message : err);
      button.disabled = false;
      input.select();
    }
  });
  root.append(h("div", { class: "login-page" }, form));
  input.focus();
  return () => undefined;
}
