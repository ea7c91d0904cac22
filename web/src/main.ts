// Entry point: the signed-in shell, a history-API router and the views it mounts.

import "./styles.css";
import { checkToken, clearToken, getToken, whenUnauthorized } from "./api";
import { clear, h } from "./dom";
import type { Session } from "./types";
import { mountAppPage } from "./views/app";
import { mountList } from "./views/list";
import { mountLogin } from "./views/login";
import { mountRegistries } from "./views/registries";

export type Cleanup = () => void;

const root = document.getElementById("app") as HTMLElement;
let session: Session | null = null;
let cleanup: Cleanup = () => undefined;

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

function link(path: string, label: string, testid: string): HTMLAnchorElement {
  const active =
    path === "/"
      ? location.pathname === "/" || location.pathname.startsWith("/apps")
      : location.pathname.startsWith(path);
  return h(
    "a",
    {
      href: path,
      class: active ? "nav-link active" : "nav-link",
      testid,
      onclick: (e: Event) => {
        e.preventDefault();
        navigate(path);
      },
    },
    label,
  );
}

function shell(who: Session): HTMLElement {
  const main = h("main", { class: "main" });
  const header = h(
    "header",
    { class: "topbar" },
    h(
      "a",
      {
        class: "brand",
        href: "/",
        onclick: (e: Event) => {
          e.preventDefault();
          navigate("/");
        },
      },
      h("span", { class: "brand-mark", "aria-hidden": "true" }),
      "Tether",
    ),
    h(
      "nav",
      { class: "nav" },
      link("/", "Applications", "nav-apps"),
      link("/registries", "Registry credentials", "nav-registries"),
    ),
    h(
      "div",
      { class: "who", testid: "session" },
      h("span", { class: "who-user" }, who.user),
      h(
        "span",
        {
          class: `role role-${who.role}`,
          title: who.role === "admin" ? "can sync and roll back" : "can look, not act",
        },
        who.role,
      ),
      h(
        "button",
        {
          class: "btn btn-quiet",
          testid: "sign-out",
          onclick: () => {
            clearToken();
            session = null;
            navigate("/login");
          },
        },
        "Sign out",
      ),
    ),
  );
  root.append(header, main);
  return main;
}

async function render(): Promise<void> {
  cleanup();
  cleanup = () => undefined;
  clear(root);
  const path = location.pathname;
  const token = getToken();
  if (path === "/login" || !token) {
    if (path !== "/login")
      history.replaceState(null, "", `/login?next=${encodeURIComponent(path + location.search)}`);
    cleanup = mountLogin(root, (who) => {
      session = who;
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("/login") ? next : "/", true);
    });
    return;
  }
  if (!session) {
    try {
      session = await checkToken(token);
    } catch {
      clearToken();
      navigate("/login", true);
      return;
    }
  }
  const main = shell(session);
  const appMatch = /^\/apps\/([^/]+)\/?$/.exec(path);
  if (appMatch) cleanup = mountAppPage(main, decodeURIComponent(appMatch[1]), session);
  else if (path.startsWith("/registries")) cleanup = mountRegistries(main, session);
  else cleanup = mountList(main);
}

whenUnauthorized(() => {
  clearToken();
  session = null;
  navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
});
window.addEventListener("popstate", () => void render());
void render();
