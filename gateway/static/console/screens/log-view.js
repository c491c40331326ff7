// An app log with its filters (activity, app, user, time window), "load more" by cursor and
// new entries appearing live: the App log screen, and the App page with its app fixed.
import { mutate, query } from "../api.js";
import { h, replace, setText, uid } from "../dom.js";
import { ACTIVITY, SEVERITY, label } from "../format.js";
import { subscribe } from "../live.js";
import { appPath } from "../router.js";
import { emptyState, errorBox, loadMoreButton, loading, scopeDiff, time, userErrorsBox } from "../ui.js";

const WINDOWS = [
  ["", "Any time"],
  ["1", "Last 24 hours"],
  ["7", "Last 7 days"],
  ["30", "Last 30 days"],
  ["90", "Last 90 days"],
  ["custom", "Custom…"],
];
const DAY_MS = 24 * 60 * 60 * 1000;

function entryRow(entry, showApp) {
  return h(
    "tr",
    { "data-log-id": entry.id, "data-occurred-at": entry.occurredAt },
    h("td", { "data-label": "When" }, time(entry.occurredAt)),
    h(
      "td",
      { "data-label": "Activity" },
      h("span", { class: `activity activity--${entry.activity.toLowerCase()}` }, label(ACTIVITY, entry.activity)),
      // An error's entry tells the reason it announced, as it was then.
      entry.alertReason
        ? h("span", { class: "hint", "data-alert-reason": entry.alertReason.code }, label(SEVERITY, entry.alertReason.severity), " ", h("code", null, entry.alertReason.code), ": ", entry.alertReason.message)
        : null,
      // So does a change of scopes: what it granted and took away, or what the listing changed.
      scopeDiff(entry.scopeChanges),
    ),
    showApp ? h("td", { "data-label": "App" }, h("a", { href: appPath(entry.app.id) }, entry.app.name)) : null,
    h("td", { "data-label": "By" }, entry.user ? [entry.user.name, h("span", { class: "hint" }, entry.user.email)] : h("span", { class: "muted" }, "The integration platform")),
  );
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function logView({ appId = null, headingId }) {
  const showApp = appId === null;
  const prefix = uid("log");
  const activityBoxes = Object.keys(ACTIVITY).map((activity) => {
    const id = `${prefix}-activity-${activity.toLowerCase()}`;
    const input = h("input", { type: "checkbox", id, name: "activity", value: activity });
    return { activity, input, element: h("span", { class: "check" }, input, h("label", { for: id }, label(ACTIVITY, activity))) };
  });
  const appSelect = showApp ? h("select", { id: `${prefix}-app`, name: "app" }, h("option", { value: "" }, "All apps")) : null;
  const userSelect = h("select", { id: `${prefix}-user`, name: "user" }, h("option", { value: "" }, "Everyone"));
  const windowSelect = h("select", { id: `${prefix}-window`, name: "window" }, WINDOWS.map(([value, text]) => h("option", { value }, text)));
  const sinceInput = h("input", { type: "datetime-local", id: `${prefix}-since`, name: "since", disabled: true });
  const untilInput = h("input", { type: "datetime-local", id: `${prefix}-until`, name: "until", disabled: true });
  const reset = h("button", { type: "button", class: "secondary" }, "Clear filters");
  const filters = h(
    "form",
    { class: "toolbar log-filters", "aria-label": "Filter the log" },
    h("fieldset", { class: "field checks" }, h("legend", null, "Activity"), activityBoxes.map((box) => box.element)),
    showApp ? h("div", { class: "field" }, h("label", { for: appSelect.id }, "App"), appSelect) : null,
    h("div", { class: "field" }, h("label", { for: userSelect.id }, "User"), userSelect),
    h("div", { class: "field" }, h("label", { for: windowSelect.id }, "Time window"), windowSelect),
    h("div", { class: "field" }, h("label", { for: sinceInput.id }, "From (inclusive)"), sinceInput),
    h("div", { class: "field" }, h("label", { for: untilInput.id }, "Until (exclusive)"), untilInput),
    h("div", { class: "field field--button" }, reset),
  );
  // Export: the whole filtered log as a file, through a one-time link (a download cannot send
  // the bearer token). CSV starts with a byte order mark, for spreadsheet programs.
  const exportFormat = h(
    "select",
    { id: `${prefix}-export-format`, name: "export-format", "data-export-format": "" },
    h("option", { value: "CSV" }, "CSV"),
    h("option", { value: "NDJSON" }, "NDJSON"),
  );
  const exportButton = h("button", { type: "button", class: "secondary", "data-action": "export" }, "Export");
  const exportStatus = h("div", { "data-export-status": "", role: "status" });
  const exporter = h(
    "div",
    { class: "toolbar log-export" },
    h("div", { class: "field" }, h("label", { for: exportFormat.id }, "Export as"), exportFormat),
    h("div", { class: "field field--button" }, exportButton),
    exportStatus,
  );
  const status = h("p", { class: "list-status", role: "status" });
  const liveProblem = h("div");
  const tbody = h("tbody", { "aria-live": "polite", "aria-relevant": "additions" });
  const table = h(
    "table",
    { class: "log-table stack" },
    h("caption", { class: "visually-hidden" }, "Log entries, newest first"),
    h("thead", null, h("tr", null, ["When", "Activity", showApp ? "App" : null, "By"].filter(Boolean).map((text) => h("th", { scope: "col" }, text)))),
    tbody,
  );
  const listBox = h("div", null, loading("Loading the log…"));
  const more = h("div");
  const element = h("div", { class: "log-view", "aria-labelledby": headingId || null }, filters, exporter, status, liveProblem, listBox, more);

  let generation = 0;
  let hasNextPage = false;
  let endCursor = null;
  let unsubscribe = () => {};
  const seen = new Set();

  function currentFilter() {
    const result = {};
    const activities = activityBoxes.filter((box) => box.input.checked).map((box) => box.activity);
    if (activities.length > 0) result.activities = activities;
    if (appId) result.appIds = [appId];
    else if (appSelect.value) result.appIds = [appSelect.value];
    if (userSelect.value) result.userIds = [userSelect.value];
    const windowValue = windowSelect.value;
    if (windowValue === "custom") {
      if (sinceInput.value) result.since = new Date(sinceInput.value).toISOString();
      if (untilInput.value) result.until = new Date(untilInput.value).toISOString();
    } else if (windowValue) {
      result.since = new Date(Date.now() - Number(windowValue) * DAY_MS).toISOString();
    }
    return result;
  }

  function describe() {
    const count = tbody.rows.length;
    setText(status, count === 0 ? "" : `Showing ${count} ${count === 1 ? "entry" : "entries"}, newest first${hasNextPage ? "; more below" : ""}.`);
  }

  function renderMore() {
    if (!hasNextPage) {
      replace(more);
      return;
    }
    replace(
      more,
      loadMoreButton(async () => {
        const mine = generation;
        const connection = await fetchPage(endCursor);
        if (mine !== generation) return;
        addPage(connection);
      }),
    );
  }

  async function fetchPage(after) {
    const data = await query("AppLogPage", { first: 50, after, filter: currentFilter() });
    return data.viewer.portal.appLog;
  }

  function addPage(connection) {
    for (const edge of connection.edges) {
      if (seen.has(edge.node.id)) continue;
      seen.add(edge.node.id);
      tbody.appendChild(entryRow(edge.node, showApp));
    }
    hasNextPage = connection.pageInfo.hasNextPage;
    endCursor = connection.pageInfo.endCursor;
    replace(listBox, tbody.rows.length > 0 ? table : emptyState("No log entries match these filters."));
    describe();
    renderMore();
  }

  // A live entry goes where its time puts it among the loaded ones (events can be back-dated).
  function insertLive(entry) {
    if (seen.has(entry.id)) return;
    const at = Date.parse(entry.occurredAt);
    const rows = [...tbody.rows];
    const before = rows.find((row) => Date.parse(row.dataset.occurredAt) < at);
    if (!before && hasNextPage) return; // it belongs to a page not loaded yet
    seen.add(entry.id);
    const row = entryRow(entry, showApp);
    row.classList.add("flash");
    tbody.insertBefore(row, before || null);
    replace(listBox, table);
    describe();
  }

  function resubscribe() {
    unsubscribe();
    replace(liveProblem);
    unsubscribe = subscribe("AppLogAppended", { filter: currentFilter() }, (data) => insertLive(data.appLogAppended), (error) => replace(liveProblem, errorBox(error, "Live log updates stopped")));
  }

  async function reload() {
    generation += 1;
    const mine = generation;
    listBox.setAttribute("aria-busy", "true");
    resubscribe();
    try {
      const connection = await fetchPage(null);
      if (mine !== generation) return;
      seen.clear();
      replace(tbody);
      addPage(connection);
    } catch (error) {
      if (mine !== generation) return;
      replace(listBox, errorBox(error, "Could not load the log"));
      replace(more);
    } finally {
      if (mine === generation) listBox.removeAttribute("aria-busy");
    }
  }

  async function loadOptions() {
    try {
      const data = await query("LogFilterOptions", {});
      const portal = data.viewer.portal;
      if (appSelect) for (const app of portal.connectedApps.nodes) appSelect.appendChild(h("option", { value: app.id }, app.name));
      for (const user of portal.users.nodes) userSelect.appendChild(h("option", { value: user.id }, user.name));
    } catch (error) {
      filters.appendChild(errorBox(error, "Could not load the apps and people to filter by"));
    }
  }

  async function exportLog() {
    exportButton.disabled = true;
    replace(exportStatus);
    try {
      const format = exportFormat.value;
      const data = await mutate("CreateAppLogExport", { input: { format, filter: currentFilter(), bom: format === "CSV" } });
      const payload = data.createAppLogExport;
      if (payload.userErrors.length > 0) {
        replace(exportStatus, userErrorsBox(payload.userErrors));
        return;
      }
      // The link works once, for a minute: follow it now. The answer is an attachment, so the
      // browser downloads it and the page stays.
      const link = h("a", { href: payload.url, download: "", hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      replace(exportStatus, h("p", { class: "hint", "data-export-started": format }, "Your download has started."));
    } catch (error) {
      replace(exportStatus, errorBox(error, "Could not export the log"));
    } finally {
      exportButton.disabled = false;
    }
  }
  exportButton.addEventListener("click", exportLog);

  filters.addEventListener("change", (event) => {
    if (event.target === windowSelect) {
      const custom = windowSelect.value === "custom";
      sinceInput.disabled = !custom;
      untilInput.disabled = !custom;
      if (custom && !sinceInput.value) sinceInput.value = localInputValue(new Date(Date.now() - 7 * DAY_MS));
    }
    reload();
  });
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  reset.addEventListener("click", () => {
    filters.reset();
    sinceInput.disabled = true;
    untilInput.disabled = true;
    reload();
  });

  loadOptions();
  reload();

  return {
    element,
    refresh: reload,
    dispose() {
      generation += 1;
      unsubscribe();
    },
  };
}
