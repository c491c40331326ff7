// The sign-in screen: paste a token, or (debug gateways only) pick a demo user.
import { h, replace } from "../dom.js";
import { setToken } from "../session.js";
import { errorBox } from "../ui.js";

function role(user) {
  if (user.isSuperAdmin) return "Super admin";
  return user.permissions.length > 0 ? user.permissions.join(", ") : "Member";
}

async function demoUsers(list) {
  let response;
  try {
    response = await fetch("/debug/demo-users", { headers: { Accept: "application/json" }, cache: "no-store", credentials: "omit" });
  } catch {
    return;
  }
  if (response.status !== 200) return; // 404 without debug, 403 away from loopback
  let body;
  try {
    body = await response.json();
  } catch {
    return;
  }
  const users = Array.isArray(body.users) ? body.users : [];
  if (users.length === 0) return;
  const portals = new Map();
  for (const user of users) {
    if (!portals.has(user.portal)) portals.set(user.portal, []);
    portals.get(user.portal).push(user);
  }
  replace(
    list,
    h("h2", { id: "demo-users-heading" }, "Demo users"),
    h("p", { class: "hint" }, "This gateway runs in debug mode: sign in as one of the demo portals' people."),
    [...portals.entries()].map(([portal, people]) =>
      h(
        "section",
        { class: "demo-portal", "aria-label": portal },
        h("h3", null, portal),
        h(
          "ul",
          { class: "demo-users" },
          people.map((user) =>
            h(
              "li",
              null,
              h("span", { class: "demo-user" }, h("strong", null, user.name), " ", h("span", { class: "muted" }, user.email), " ", h("span", { class: "badge badge--role" }, role(user))),
              h("button", { type: "button", class: "secondary", "data-demo-user": user.email, on: { click: () => list.dispatchEvent(new CustomEvent("signin", { detail: user.token })) } }, `Sign in as ${user.name}`),
            ),
          ),
        ),
      ),
    ),
  );
}

// Renders into `root`; calls onSignedIn() once a token is stored.
export function renderSignIn(root, { message, onSignedIn }) {
  const textarea = h("textarea", { id: "token-input", name: "token", rows: 4, autocomplete: "off", spellcheck: "false", "aria-describedby": "token-hint" });
  const problem = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "signin-form", novalidate: true },
    h("label", { for: "token-input" }, "Access token"),
    h("p", { id: "token-hint", class: "hint" }, "Paste a JWT for this gateway (for example from `gateway token --email …`)."),
    textarea,
    h("div", { class: "button-row" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
    problem,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = textarea.value.trim();
    if (!token) {
      replace(problem, errorBox({ message: "Paste a token first", code: "TOKEN_MISSING" }));
      textarea.focus();
      return;
    }
    setToken(token);
    onSignedIn();
  });
  const demo = h("div", { class: "demo" });
  demo.addEventListener("signin", (event) => {
    setToken(event.detail);
    onSignedIn();
  });
  const main = h(
    "main",
    { id: "main", class: "signin", tabindex: "-1" },
    h("h1", null, "Sign in to Connected apps"),
    message ? h("div", { class: "notice notice--warning", role: "alert" }, h("p", null, message)) : null,
    form,
    demo,
  );
  replace(root, main);
  document.title = "Sign in · Connected apps";
  demoUsers(demo);
  if (message) main.focus();
  else textarea.focus();
}
