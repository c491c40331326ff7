// Screen 1, My Apps: the summary counts (each filters the list), filters, search, the list of
// installed apps in the API's order with "load more" (each with when it was last used and its
// 30-day usage), and live status updates in place.
import { query } from "../api.js";
import { h, replace, setText } from "../dom.js";
import { INSTALL_LEVEL, formatNumber, label, plural } from "../format.js";
import { subscribe } from "../live.js";
import { appPath, setSearch } from "../router.js";
import { badge, emptyState, errorBox, lastUsed, loadMoreButton, loading, sparkline, statusBadge, time } from "../ui.js";

const WITH_STATUS = ["CONNECTED", "DISCONNECTED", "ERROR"];
// Each summary count and the list it filters to. The API filters by status and "needs
// attention"; update/upgrade available have no filter argument, so those two take the
// needs-attention apps and keep the flagged ones here.
const SUMMARY = [
  { key: "total", text: "Total", filter: { statuses: WITH_STATUS } },
  { key: "connected", text: "Connected", filter: { statuses: ["CONNECTED"] } },
  { key: "disconnected", text: "Disconnected", filter: { statuses: ["DISCONNECTED"] } },
  { key: "errored", text: "Errored", filter: { statuses: ["ERROR"] } },
  { key: "updateAvailable", text: "Update available", filter: { statuses: WITH_STATUS, needsAttention: true }, keep: (app) => app.updateAvailable },
  { key: "upgradeAvailable", text: "Upgrade available", filter: { statuses: WITH_STATUS, needsAttention: true }, keep: (app) => app.upgradeAvailable },
];
const LEVELS = ["PORTAL", "USER", "MULTI_ACCOUNT"];
const PAGE = 50;
// "Unused": no calls in this many days (Entra's unused-app recommendation uses 90).
const UNUSED_DAYS = 90;

function statusCell(app) {
  return [statusBadge(app.status), app.installLevel === "MULTI_ACCOUNT" ? h("span", { class: "hint" }, "Multi-account apps show their status under Manage connections") : null];
}

function levelCell(app) {
  const count = app.connections ? app.connections.totalCount : null;
  let detail = null;
  if (app.installLevel === "USER" && count !== null) detail = plural(count, "connection", "connections");
  if (app.installLevel === "MULTI_ACCOUNT" && count !== null) detail = plural(count, "account", "accounts");
  return [label(INSTALL_LEVEL, app.installLevel), detail ? h("span", { class: "hint" }, detail) : null];
}

function flagsCell(app) {
  const alerts = app.alerts || [];
  const flags = [
    app.updateAvailable ? badge("Update available", "update") : null,
    app.upgradeAvailable ? badge("Upgrade available", "upgrade") : null,
    alerts.length > 0 ? badge(plural(alerts.length, "open alert", "open alerts"), "alert") : null,
  ].filter(Boolean);
  if (alerts.length > 0) flags.push(h("span", { class: "alert-line" }, alerts[0].message));
  return flags.length > 0 ? flags : h("span", { class: "muted" }, "Nothing to do");
}

function usageCell(app) {
  return [lastUsed(app.lastUsedAt), app.usage ? sparkline(app.usage) : null];
}

function appRow(app) {
  return h(
    "tr",
    { "data-app-id": app.id, "data-status": app.status || "" },
    h("th", { scope: "row", "data-label": "App", class: "cell-name" }, h("a", { href: appPath(app.id), "data-app-link": "" }, app.name)),
    h("td", { "data-label": "Status", class: "cell-status" }, statusCell(app)),
    h("td", { "data-label": "Install level" }, levelCell(app)),
    h("td", { "data-label": "Installed by", class: "cell-installed" }, app.installedBy ? app.installedBy.name : h("span", { class: "muted" }, "Unknown"), h("br"), time(app.installedAt)),
    h("td", { "data-label": "Last used", class: "cell-usage" }, usageCell(app)),
    h("td", { "data-label": "Attention", class: "cell-flags" }, flagsCell(app)),
  );
}

function updateRow(row, app) {
  row.setAttribute("data-status", app.status || "");
  replace(row.querySelector(".cell-status"), statusCell(app));
  replace(row.querySelector(".cell-flags"), flagsCell(app));
  row.classList.remove("flash");
  void row.offsetWidth; // restart the highlight
  row.classList.add("flash");
}

export function render(main) {
  const params = new URLSearchParams(location.search);
  const state = {
    show: SUMMARY.some((s) => s.key === params.get("show")) ? params.get("show") : "",
    attention: params.get("attention") === "1",
    search: params.get("q") || "",
    level: LEVELS.includes(params.get("level")) ? params.get("level") : "",
    unused: params.get("unused") === "1",
  };
  const apps = new Map();
  let generation = 0;
  let endCursor = null;
  let summaryButtons = null;

  const summaryBox = h("div", { class: "summary-box" }, loading("Loading the app summary…"));
  const searchInput = h("input", { type: "search", id: "apps-search", name: "q", value: state.search, autocomplete: "off" });
  const levelSelect = h(
    "select",
    { id: "apps-level", name: "level" },
    h("option", { value: "" }, "All install levels"),
    LEVELS.map((level) => h("option", { value: level, selected: level === state.level }, label(INSTALL_LEVEL, level))),
  );
  const attention = h("input", { type: "checkbox", id: "apps-attention", name: "attention", checked: state.attention });
  const unused = h("input", { type: "checkbox", id: "apps-unused", name: "unused", "data-filter": "unused", checked: state.unused });
  const clear = h("button", { type: "button", class: "secondary" }, "Clear filters");
  const toolbar = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Filter apps" },
    h("div", { class: "field" }, h("label", { for: "apps-search" }, "Search apps"), searchInput),
    h("div", { class: "field" }, h("label", { for: "apps-level" }, "Install level"), levelSelect),
    h("div", { class: "field field--check" }, attention, h("label", { for: "apps-attention" }, "Needs attention only")),
    h("div", { class: "field field--check" }, unused, h("label", { for: "apps-unused" }, `Unused for ${UNUSED_DAYS} days`)),
    h("div", { class: "field field--button" }, clear),
  );
  const listStatus = h("p", { class: "list-status", role: "status" });
  const notice = h("div", { class: "live-notice" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "apps-table stack" },
    h("caption", { class: "visually-hidden" }, "Installed apps"),
    h("thead", null, h("tr", null, ["App", "Status", "Install level", "Installed by", "Last used", "Attention"].map((text) => h("th", { scope: "col" }, text)))),
    tbody,
  );
  const listBox = h("div", { class: "list-box" }, loading("Loading apps…"));
  const more = h("div");

  replace(
    main,
    h("h1", null, "My apps"),
    h("section", { "aria-labelledby": "summary-heading", class: "panel" }, h("h2", { id: "summary-heading" }, "App summary"), summaryBox),
    h("section", { "aria-labelledby": "apps-heading", class: "panel" }, h("h2", { id: "apps-heading" }, "Installed apps"), toolbar, listStatus, notice, listBox, more),
  );
  document.title = "My apps · Connected apps";

  function spec() {
    return SUMMARY.find((s) => s.key === state.show) || null;
  }

  function filter() {
    const chosen = spec();
    const result = chosen ? { ...chosen.filter } : {};
    if (state.attention) result.needsAttention = true;
    if (state.search.trim()) result.search = state.search.trim();
    if (state.level) result.installLevels = [state.level];
    if (state.unused) result.unusedForDays = UNUSED_DAYS;
    return result;
  }

  function saveSearch() {
    const next = new URLSearchParams();
    if (state.show) next.set("show", state.show);
    if (state.attention) next.set("attention", "1");
    if (state.search.trim()) next.set("q", state.search.trim());
    if (state.level) next.set("level", state.level);
    if (state.unused) next.set("unused", "1");
    setSearch(next);
  }

  function renderSummary(summary) {
    if (!summaryButtons) {
      summaryButtons = new Map();
      const items = SUMMARY.map((item) => {
        const labelId = `summary-${item.key}-label`;
        const buttonId = `summary-${item.key}`;
        const button = h("button", { type: "button", id: buttonId, class: "summary-count", "data-summary": item.key, "aria-pressed": "false", "aria-labelledby": `${labelId} ${buttonId}` });
        button.addEventListener("click", () => {
          state.show = state.show === item.key ? "" : item.key;
          reload();
        });
        summaryButtons.set(item.key, button);
        return h("li", { class: `summary-item summary-item--${item.key}` }, h("span", { class: "summary-label", id: labelId }, item.text), button);
      });
      replace(summaryBox, h("ul", { class: "summary-list" }, items), h("p", { class: "hint" }, "Select a count to show those apps. Multi-account apps are not counted."));
    }
    for (const item of SUMMARY) setText(summaryButtons.get(item.key), summary[item.key]);
    markSummary();
  }

  function markSummary() {
    if (!summaryButtons) return;
    for (const [key, button] of summaryButtons) button.setAttribute("aria-pressed", String(key === state.show));
  }

  // One page: with a `keep` rule, pages are read until a page's worth of apps is kept.
  async function fetchPage(after) {
    const chosen = spec();
    const keep = chosen && chosen.keep;
    const kept = [];
    let cursor = after;
    let connection;
    let data;
    let reads = 0;
    do {
      data = await query("MyAppsPage", { first: keep ? 100 : PAGE, after: cursor, filter: filter() });
      connection = data.viewer.portal.connectedApps;
      const nodes = connection.edges.map((edge) => edge.node);
      kept.push(...(keep ? nodes.filter(keep) : nodes));
      cursor = connection.pageInfo.endCursor;
      reads += 1;
    } while (keep && kept.length < PAGE && connection.pageInfo.hasNextPage && reads < 20);
    const summary = data.viewer.portal.appSummary;
    return { apps: kept, pageInfo: connection.pageInfo, summary, total: keep ? summary[chosen.key] : connection.totalCount };
  }

  function describe(total) {
    const parts = [`Showing ${formatNumber(tbody.rows.length)} of ${plural(total, "app", "apps")}`];
    const chosen = spec();
    if (chosen) parts.push(`count: ${chosen.text}`);
    if (state.attention) parts.push("needs attention");
    if (state.level) parts.push(label(INSTALL_LEVEL, state.level));
    if (state.unused) parts.push(`unused for ${UNUSED_DAYS} days`);
    if (state.search.trim()) parts.push(`name contains “${state.search.trim()}”`);
    setText(listStatus, parts.join(" · "));
  }

  function renderMore(pageInfo, total) {
    endCursor = pageInfo.endCursor;
    if (!pageInfo.hasNextPage) {
      replace(more);
      return;
    }
    replace(
      more,
      loadMoreButton(async () => {
        const mine = generation;
        const page = await fetchPage(endCursor);
        if (mine !== generation) return;
        for (const app of page.apps) {
          if (apps.has(app.id)) continue;
          apps.set(app.id, app);
          tbody.appendChild(appRow(app));
        }
        renderSummary(page.summary);
        describe(page.total);
        renderMore(page.pageInfo, page.total);
      }),
    );
  }

  async function reload() {
    generation += 1;
    const mine = generation;
    saveSearch();
    markSummary();
    listBox.setAttribute("aria-busy", "true");
    try {
      const page = await fetchPage(null);
      if (mine !== generation) return;
      apps.clear();
      replace(notice);
      replace(tbody, page.apps.map((app) => {
        apps.set(app.id, app);
        return appRow(app);
      }));
      replace(listBox, page.apps.length > 0 ? table : emptyState("No apps match these filters."));
      renderSummary(page.summary);
      describe(page.total);
      renderMore(page.pageInfo, page.total);
    } catch (error) {
      if (mine !== generation) return;
      replace(listBox, errorBox(error, "Could not load your apps"));
      if (!summaryButtons) replace(summaryBox, errorBox(error, "Could not load the app summary"));
    } finally {
      if (mine === generation) listBox.removeAttribute("aria-busy");
    }
  }

  async function refreshSummary() {
    try {
      const data = await query("AppSummary", {});
      renderSummary(data.viewer.portal.appSummary);
    } catch {
      // the next list load reports it
    }
  }

  let searchTimer = 0;
  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = searchInput.value;
      reload();
    }, 250);
  });
  toolbar.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    state.search = searchInput.value;
    reload();
  });
  levelSelect.addEventListener("change", () => {
    state.level = levelSelect.value;
    reload();
  });
  attention.addEventListener("change", () => {
    state.attention = attention.checked;
    reload();
  });
  unused.addEventListener("change", () => {
    state.unused = unused.checked;
    reload();
  });
  clear.addEventListener("click", () => {
    Object.assign(state, { show: "", attention: false, search: "", level: "", unused: false });
    searchInput.value = "";
    levelSelect.value = "";
    attention.checked = false;
    unused.checked = false;
    reload();
  });

  function onStatusChange(data) {
    const change = data.appStatusChanged;
    const app = change.app;
    const row = tbody.querySelector(`tr[data-app-id="${CSS.escape(app.id)}"]`);
    if (row) {
      if (app.uninstalledAt) {
        row.remove();
        apps.delete(app.id);
        replace(notice, h("div", { class: "notice notice--info", role: "status" }, h("p", null, `${app.name} was uninstalled.`)));
      } else {
        const merged = { ...apps.get(app.id), ...app };
        apps.set(app.id, merged);
        updateRow(row, merged);
      }
    } else if (!app.uninstalledAt && change.previousStatus === null) {
      const show = h("button", { type: "button", class: "secondary small", on: { click: () => reload() } }, "Refresh the list");
      replace(notice, h("div", { class: "notice notice--info", role: "status" }, h("p", null, `${app.name} was installed. `, show)));
    }
    refreshSummary();
  }

  const unsubscribe = subscribe("AppStatusChanged", {}, onStatusChange, (error) => replace(notice, errorBox(error, "Live status updates stopped")));
  reload();

  return {
    refresh: reload,
    dispose() {
      generation += 1;
      clearTimeout(searchTimer);
      unsubscribe();
    },
  };
}
