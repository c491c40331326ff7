// Screen 2, one app: status and open alerts, what the viewer may do (reauthorize, uninstall,
// connect), its scopes, its connections, its log, and its learning resources.
import { mutate, query } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { INSTALL_LEVEL, SCOPE_STATE, SEVERITY, TIER, label, pendingText, plural } from "../format.js";
import { subscribe } from "../live.js";
import { BASE } from "../router.js";
import { badge, confirmAction, emptyState, errorBox, lastUsed, learningList, loadMoreButton, loading, sparkline, statusBadge, time, usageWords } from "../ui.js";
import { logView } from "./log-view.js";

function acknowledgement(alert, reload) {
  if (alert.acknowledgedAt) {
    return h(
      "p",
      { class: "hint", "data-acknowledged": "true" },
      "Acknowledged ",
      alert.acknowledgedBy ? `by ${alert.acknowledgedBy.name} ` : "",
      time(alert.acknowledgedAt),
      alert.acknowledgeNote ? ` · “${alert.acknowledgeNote}”` : "",
    );
  }
  const noteId = uid("ack-note");
  return confirmAction({
    action: "acknowledge",
    text: "Acknowledge",
    allowed: alert.viewerCanAcknowledge,
    reason: "This needs the APPROVE_SCOPES or UNINSTALL_APPS permission.",
    question: "Acknowledge this alert? The app stays in error, but leaves “Needs attention” until the problem changes.",
    confirmText: "Yes, acknowledge",
    fields: () => {
      const input = h("input", { type: "text", id: noteId, name: "note", maxlength: "500", autocomplete: "off", "aria-describedby": `${noteId}-error` });
      const error = h("p", { class: "field-error", id: `${noteId}-error` });
      return {
        element: h("div", { class: "field" }, h("label", { for: noteId }, "Note (optional)"), input, error),
        values: () => ({ note: input.value.trim() || null }),
        showErrors: (errors) => {
          const mine = errors.filter((e) => e.field && e.field.includes("note"));
          replace(error, mine.map((e) => e.message).join(" "));
          if (mine.length > 0) {
            input.setAttribute("aria-invalid", "true");
            input.focus();
          }
          return errors.filter((e) => !mine.includes(e));
        },
      };
    },
    run: async ({ note }) => {
      const payload = (await mutate("AcknowledgeAlert", { input: { alertId: alert.id, note } })).acknowledgeAlert;
      if (payload.userErrors.length === 0) reload();
      return { userErrors: payload.userErrors, done: "Acknowledged." };
    },
  });
}

function alertsSection(app, reload) {
  const alerts = app.alerts || [];
  if (alerts.length === 0) return emptyState("No open alerts.");
  return h(
    "ul",
    { class: "alerts" },
    alerts.map((alert) =>
      h(
        "li",
        { class: `alert alert--${alert.severity.toLowerCase()}`, "data-alert-code": alert.code },
        h("p", { class: "alert-head" }, badge(label(SEVERITY, alert.severity), alert.severity.toLowerCase()), " ", h("code", null, alert.code), " · raised ", time(alert.raisedAt)),
        h("p", { class: "alert-message" }, alert.message),
        acknowledgement(alert, reload),
      ),
    ),
  );
}

function scopesSection(app, tier) {
  if (app.scopes.length === 0) return emptyState("This app requests no scopes.");
  const reauth = app.scopes.filter((scope) => scope.state === "NEEDS_REAUTHORIZATION").length;
  const upgrade = app.scopes.filter((scope) => scope.state === "NEEDS_UPGRADE");
  return [
    reauth > 0 ? h("p", { class: "notice notice--info" }, `Reauthorize to enable ${plural(reauth, "scope", "scopes")}.`) : null,
    upgrade.length > 0
      ? h("p", { class: "notice notice--warning" }, `Your portal's ${label(TIER, tier)} tier does not include ${plural(upgrade.length, "scope", "scopes")}: upgrade to enable them.`)
      : null,
    h(
      "table",
      { class: "scopes-table stack" },
      h("caption", { class: "visually-hidden" }, "Scopes the app requests"),
      h("thead", null, h("tr", null, ["Scope", "State", "Required tier", "Required"].map((text) => h("th", { scope: "col" }, text)))),
      h(
        "tbody",
        null,
        app.scopes.map((scope) =>
          h(
            "tr",
            { "data-scope": scope.name, "data-scope-state": scope.state },
            h("th", { scope: "row", "data-label": "Scope" }, h("code", null, scope.name), h("span", { class: "hint" }, scope.description)),
            h("td", { "data-label": "State" }, h("span", { class: `scope-state scope-state--${scope.state.toLowerCase()}` }, label(SCOPE_STATE, scope.state))),
            h("td", { "data-label": "Required tier" }, label(TIER, scope.requiredTier)),
            h("td", { "data-label": "Required" }, scope.required ? "Required" : "Optional"),
          ),
        ),
      ),
    ),
  ];
}

export function render(main, { route }) {
  const id = route.id;
  const top = h("div", null, loading("Loading the app…"));
  const logHeading = uid("app-log");
  const logSection = h("section", { class: "panel", "aria-labelledby": logHeading });
  const bottom = h("div");
  replace(main, h("p", { class: "breadcrumb" }, h("a", { href: BASE }, "← My apps")), top, logSection, bottom);
  document.title = "App · Connected apps";

  let log = null;
  let generation = 0;
  let viewer = null;
  let app = null;
  let unsubscribe = null;

  function connectionsSection(connections) {
    const isUser = app.installLevel === "USER";
    const list = h("ul", { class: "connections" });
    const more = h("div");
    const add = (nodes) => {
      for (const connection of nodes) {
        const own = connection.user && viewer.user.id === connection.user.id;
        const who = app.installLevel === "MULTI_ACCOUNT" ? connection.accountName || "Unnamed account" : connection.user ? connection.user.name : "Unknown user";
        list.appendChild(
          h(
            "li",
            { "data-connection-id": connection.id },
            h("div", null, h("strong", null, who), own ? badge("You", "role") : null, h("span", { class: "hint" }, connection.user && app.installLevel === "MULTI_ACCOUNT" ? `added by ${connection.user.name} · ` : connection.user ? `${connection.user.email} · ` : "", "connected ", time(connection.connectedAt))),
            confirmAction({
              action: "remove-connection",
              text: own && isUser ? "Disconnect me" : "Remove",
              allowed: app.viewerCanUninstall || Boolean(own),
              reason: "Only you, or someone with the UNINSTALL_APPS permission, can remove this connection.",
              question: connections.totalCount === 1 ? `Remove ${who}? It is the last connection: the app will be uninstalled.` : `Remove the connection of ${who}?`,
              confirmText: "Yes, remove",
              danger: true,
              run: async () => {
                const data = await mutate("RemoveAppConnection", { input: { connectionId: connection.id } });
                const payload = data.removeAppConnection;
                if (payload.userErrors.length === 0) load();
                return { userErrors: payload.userErrors, done: "Connection removed." };
              },
            }),
          ),
        );
      }
    };
    add(connections.nodes);
    const showMore = (pageInfo) => {
      if (!pageInfo.hasNextPage) return replace(more);
      let cursor = pageInfo.endCursor;
      replace(
        more,
        loadMoreButton(async () => {
          const data = await query("AppConnectionsPage", { id, after: cursor });
          const page = data.node.connections;
          add(page.nodes);
          cursor = page.pageInfo.endCursor;
          showMore(page.pageInfo);
        }, "More connections"),
      );
    };
    showMore(connections.pageInfo);
    return [
      h("p", null, plural(connections.totalCount, isUser ? "user connected" : "account connected", isUser ? "users connected" : "accounts connected")),
      connections.totalCount > 0 ? list : emptyState("No connections."),
      more,
    ];
  }

  function actionsSection() {
    const holds = (permission) => viewer.user.permissions.includes(permission);
    const requires = (permission) => `This needs the ${permission} permission.`;
    const actions = [];
    const installed = !app.uninstalledAt;
    // What a reauthorize would do now: the scopes it grants and the grants it drops.
    const pending = pendingText(app.pendingScopeChanges);
    const reauthorize = confirmAction({
      action: "reauthorize",
      text: "Reauthorize",
      allowed: app.viewerCanReauthorize,
      reason: !installed ? "The app is uninstalled." : !holds("APPROVE_SCOPES") ? requires("APPROVE_SCOPES") : !pending ? "No scope needs reauthorization and no grant is out of date." : null,
      question: `Reauthorize ${app.name}? ${pending}`,
      confirmText: "Yes, reauthorize",
      run: async () => {
        const payload = (await mutate("ReauthorizeApp", { input: { appId: app.id } })).reauthorizeApp;
        if (payload.userErrors.length === 0) load();
        return { userErrors: payload.userErrors, done: "Reauthorized." };
      },
    });
    // Next to the button, so the choice is made knowing what it grants and takes away.
    if (installed && pending) reauthorize.insertBefore(h("p", { class: "hint pending-scopes", "data-pending-scope-changes": "" }, pending), reauthorize.children[1] || null);
    actions.push(reauthorize);
    if (installed && app.installLevel === "USER") {
      const listing = app.listing;
      actions.push(
        confirmAction({
          action: "connect",
          text: "Connect my account",
          allowed: listing.viewerCanInstall,
          reason: "You are connected already, or the app needs a higher tier.",
          question: `Connect your user to ${app.name}?`,
          confirmText: "Yes, connect",
          run: async () => {
            const payload = (await mutate("InstallApp", { input: { listingId: listing.id } })).installApp;
            if (payload.userErrors.length === 0) load();
            return { userErrors: payload.userErrors, done: "Connected." };
          },
        }),
      );
    }
    if (installed && app.installLevel === "MULTI_ACCOUNT") {
      const listing = app.listing;
      const accountId = uid("account");
      actions.push(
        confirmAction({
          action: "add-account",
          text: "Add an account",
          allowed: listing.viewerCanInstall,
          reason: requires("INSTALL_APPS"),
          question: `Connect another ${listing.name} account?`,
          confirmText: "Add account",
          fields: () => {
            const input = h("input", { type: "text", id: accountId, name: "accountName", autocomplete: "off", "aria-describedby": `${accountId}-error` });
            const error = h("p", { class: "field-error", id: `${accountId}-error` });
            return {
              element: h("div", { class: "field" }, h("label", { for: accountId }, "Account name"), input, error),
              values: () => ({ accountName: input.value.trim() }),
              showErrors: (errors) => {
                const mine = errors.filter((e) => e.field && e.field.includes("accountName"));
                replace(error, mine.map((e) => e.message).join(" "));
                if (mine.length > 0) {
                  input.setAttribute("aria-invalid", "true");
                  input.focus();
                }
                return errors.filter((e) => !mine.includes(e));
              },
            };
          },
          run: async ({ accountName }) => {
            const payload = (await mutate("InstallApp", { input: { listingId: listing.id, accountName } })).installApp;
            if (payload.userErrors.length === 0) load();
            return { userErrors: payload.userErrors, done: "Account added." };
          },
        }),
      );
    }
    actions.push(
      confirmAction({
        action: "uninstall",
        text: "Uninstall",
        allowed: app.viewerCanUninstall,
        reason: !installed ? "The app is uninstalled." : requires("UNINSTALL_APPS"),
        question: `Uninstall ${app.name} for the whole portal? Its connections and grants go; its history stays.`,
        confirmText: "Yes, uninstall",
        danger: true,
        run: async () => {
          const payload = (await mutate("UninstallApp", { input: { appId: app.id } })).uninstallApp;
          if (payload.userErrors.length === 0) load();
          return { userErrors: payload.userErrors, done: "Uninstalled." };
        },
      }),
    );
    return h("div", { class: "actions" }, actions);
  }

  function show(data) {
    viewer = data.viewer;
    app = data.node;
    document.title = `${app.name} · Connected apps`;
    const listing = app.listing;
    const multi = app.installLevel === "MULTI_ACCOUNT";
    const manageLink = app.manageConnectionsUrl ? h("a", { href: app.manageConnectionsUrl, class: "button-link", rel: "noopener noreferrer", target: "_blank" }, "Manage connections") : null;
    replace(
      top,
      h(
        "div",
        { class: "app-head", "data-app-id": app.id, "data-status": app.status || "" },
        h("h1", null, app.name),
        h("p", { class: "lead" }, `${listing.vendor} · ${listing.category} · ${label(INSTALL_LEVEL, app.installLevel)}`),
        h("p", null, listing.description),
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "status-heading" },
        h("h2", { id: "status-heading" }, "Status"),
        app.uninstalledAt
          ? h("div", { class: "notice notice--warning" }, h("p", null, "Uninstalled ", time(app.uninstalledAt), ". ", h("a", { href: `${BASE}marketplace` }, "Reinstall it from the Marketplace")))
          : null,
        h(
          "dl",
          { class: "facts" },
          h("dt", null, "Status"),
          h("dd", { class: "cell-status" }, statusBadge(app.status), multi ? h("span", { class: "hint" }, "Multi-account apps show their status under Manage connections. ", manageLink) : null),
          h("dt", null, "Installed"),
          h("dd", null, time(app.installedAt), app.installedBy ? ` by ${app.installedBy.name}` : ""),
          h("dt", null, "Last used"),
          h("dd", null, lastUsed(app.lastUsedAt)),
          h("dt", null, "Usage, last 30 days"),
          h("dd", { "data-usage": "" }, h("span", { "data-usage-words": "", "data-calls": app.usage.calls, "data-errors": app.usage.errors }, usageWords(app.usage)), sparkline(app.usage)),
          h("dt", null, "Updates"),
          h("dd", null, app.updateAvailable ? badge("Update available", "update") : null, app.upgradeAvailable ? badge("Upgrade available", "upgrade") : null, !app.updateAvailable && !app.upgradeAvailable ? "Up to date" : null),
        ),
        h("h3", null, "Open alerts"),
        alertsSection(app, load),
      ),
      h("section", { class: "panel", "aria-labelledby": "actions-heading" }, h("h2", { id: "actions-heading" }, "Actions"), actionsSection()),
      h("section", { class: "panel", "aria-labelledby": "scopes-heading" }, h("h2", { id: "scopes-heading" }, "Access (scopes)"), scopesSection(app, viewer.portal.tier)),
      app.installLevel === "PORTAL"
        ? null
        : h(
            "section",
            { class: "panel", "aria-labelledby": "connections-heading" },
            h("h2", { id: "connections-heading" }, multi ? "Connected accounts" : "Connected users"),
            manageLink ? h("p", null, manageLink) : null,
            connectionsSection(app.connections),
          ),
    );
    replace(bottom, h("section", { class: "panel", "aria-labelledby": "learn-heading" }, h("h2", { id: "learn-heading" }, "Learn more"), learningList(app.learningResources)));
    if (!unsubscribe) {
      const problem = (error) => top.prepend(errorBox(error, "Live status updates stopped"));
      unsubscribe = subscribe("AppStatusChanged", { appIds: [app.id] }, () => load(), problem);
    }
    if (!log) {
      log = logView({ appId: app.id, headingId: logHeading });
      replace(logSection, h("h2", { id: logHeading }, "App log"), log.element);
    }
  }

  async function load() {
    generation += 1;
    const mine = generation;
    try {
      const data = await query("AppPage", { id });
      if (mine !== generation) return;
      if (!data.node || data.node.__typename !== "ConnectedApp") {
        replace(top, h("h1", null, "App not found"), h("p", null, "No app of your portal has this address. ", h("a", { href: BASE }, "Back to My apps")));
        document.title = "App not found · Connected apps";
        return;
      }
      show(data);
    } catch (error) {
      if (mine !== generation) return;
      if (!app) replace(top, h("h1", null, "App"), errorBox(error, "Could not load the app"));
      else top.prepend(errorBox(error, "Could not refresh the app"));
    }
  }

  load();

  return {
    refresh() {
      load();
      if (log) log.refresh();
    },
    dispose() {
      generation += 1;
      if (unsubscribe) unsubscribe();
      if (log) log.dispose();
    },
  };
}
