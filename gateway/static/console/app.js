// The console's entry point: sign-in, the header (navigation, viewer, inbox badge, live state)
// and the screen for the current history route.
import { query } from "./api.js";
import { emit, on } from "./bus.js";
import { h, replace, setText } from "./dom.js";
import { TIER, label } from "./format.js";
import { onReconnect, stopLive, subscribe } from "./live.js";
import { BASE, currentRoute, setRenderer, startRouter } from "./router.js";
import { clearToken, getToken, onSessionExpired, takeTokenFromFragment } from "./session.js";
import { errorBox } from "./ui.js";
import * as appScreen from "./screens/app.js";
import * as inboxScreen from "./screens/inbox.js";
import * as logScreen from "./screens/log.js";
import * as marketplaceScreen from "./screens/marketplace.js";
import * as myAppsScreen from "./screens/my-apps.js";
import * as notificationsScreen from "./screens/notifications.js";
import * as peopleScreen from "./screens/people.js";
import { renderSignIn } from "./screens/signin.js";

const SCREENS = {
  myApps: { module: myAppsScreen, nav: "myApps" },
  app: { module: appScreen, nav: "myApps" },
  marketplace: { module: marketplaceScreen, nav: "marketplace" },
  log: { module: logScreen, nav: "log" },
  notifications: { module: notificationsScreen, nav: "notifications" },
  inbox: { module: inboxScreen, nav: "inbox" },
  people: { module: peopleScreen, nav: "people" },
};

const NAV = [
  ["myApps", "My apps", BASE],
  ["marketplace", "Marketplace", `${BASE}marketplace`],
  ["log", "App log", `${BASE}log`],
  ["notifications", "Notifications", `${BASE}notifications`],
  ["inbox", "Inbox", `${BASE}inbox`],
  ["people", "People", `${BASE}people`],
];

const root = document.getElementById("app");
let shell = null;
let current = null;
let rendered = false;

function liveText(state, detail) {
  if (state === "connected") return "Live";
  if (state === "reconnecting") return "Reconnecting…";
  if (state === "connecting") return "Connecting…";
  if (state === "stopped") return detail || "Live updates stopped";
  return "";
}

function buildShell() {
  const viewerName = h("span", { class: "viewer-name" });
  const viewerPortal = h("span", { class: "viewer-portal muted" });
  const live = h("span", { class: "live-state", role: "status" });
  const inboxCount = h("span", { class: "badge badge--count" });
  const signOut = h("button", { type: "button", class: "secondary small" }, "Sign out");
  const links = NAV.map(([key, text, href]) =>
    h("a", { href, "data-nav": key }, text, key === "inbox" ? [" ", inboxCount, h("span", { class: "visually-hidden" }, " unread")] : null),
  );
  const header = h(
    "header",
    { class: "site-header" },
    h(
      "div",
      { class: "header-top" },
      h("a", { class: "brand", href: BASE }, "Connected apps"),
      h("div", { class: "viewer" }, h("span", { class: "viewer-who" }, viewerName, " ", viewerPortal), live, signOut),
    ),
    h("nav", { "aria-label": "Console" }, h("ul", null, links.map((link) => h("li", null, link)))),
  );
  const problem = h("div", { class: "shell-problem" });
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(root, h("a", { class: "skip-link", href: "#main" }, "Skip to content"), header, problem, main);

  signOut.addEventListener("click", () => {
    teardown();
    clearToken();
    showSignIn(null);
  });

  const state = { header, main, links, problem, viewer: null, cleanups: [] };

  function setUnread(count) {
    inboxCount.setAttribute("data-unread-count", String(count));
    setText(inboxCount, count);
    inboxCount.classList.toggle("badge--zero", count === 0);
  }

  async function loadViewer() {
    try {
      const data = await query("ConsoleShell", {});
      state.viewer = data.viewer;
      setText(viewerName, data.viewer.user.name);
      setText(viewerPortal, `${data.viewer.portal.name} · ${label(TIER, data.viewer.portal.tier)}`);
      setUnread(data.viewer.unread.totalCount);
      replace(problem);
    } catch (error) {
      if (getToken()) replace(problem, errorBox(error, "Could not load your account"));
    }
  }

  async function refreshUnread() {
    try {
      const data = await query("UnreadCount", {});
      setUnread(data.viewer.notifications.totalCount);
    } catch {
      // the badge keeps its last number; the screens report errors
    }
  }

  function onNotification(data) {
    emit("notification-received", data.notificationReceived);
    refreshUnread();
  }

  state.refresh = loadViewer;
  state.cleanups.push(
    on("live-state", ({ state: liveState, detail }) => {
      setText(live, liveText(liveState, detail));
      live.className = `live-state live-state--${liveState}`;
    }),
    on("unread-changed", refreshUnread),
    on("unread-count", setUnread),
    subscribe("NotificationReceived", {}, onNotification, (error) => replace(problem, errorBox(error, "Live inbox updates stopped"))),
    onReconnect(() => {
      loadViewer();
      if (current && current.refresh) current.refresh();
    }),
  );
  loadViewer();
  return state;
}

function notFound(main) {
  replace(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, "There is no console page at this address. ", h("a", { href: BASE }, "Go to My apps")));
  document.title = "Not found · Connected apps";
}

function teardown() {
  if (current && current.dispose) current.dispose();
  current = null;
  if (shell) for (const cleanup of shell.cleanups) cleanup();
  shell = null;
  stopLive();
}

function showSignIn(message) {
  renderSignIn(root, {
    message,
    onSignedIn: () => {
      rendered = false;
      renderRoute();
    },
  });
}

function renderRoute() {
  if (!getToken()) {
    teardown();
    showSignIn(null);
    return;
  }
  if (!shell) shell = buildShell();
  if (current && current.dispose) current.dispose();
  current = null;
  const route = currentRoute();
  const screen = SCREENS[route.name];
  for (const link of shell.links) {
    if (screen && link.dataset.nav === screen.nav) link.setAttribute("aria-current", route.name === "app" ? "true" : "page");
    else link.removeAttribute("aria-current");
  }
  const main = shell.main;
  replace(main);
  if (!screen) notFound(main);
  else {
    try {
      current = screen.module.render(main, { route, shell }) || null;
    } catch (error) {
      replace(main, h("h1", null, "Something went wrong"), errorBox(error, "The screen could not be shown"));
    }
  }
  if (rendered) {
    window.scrollTo(0, 0);
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }
  rendered = true;
}

onSessionExpired(() => {
  teardown();
  showSignIn("Your session expired. Sign in again to continue.");
});

takeTokenFromFragment();
setRenderer(renderRoute);
startRouter();
renderRoute();
