// Screen 6, the Inbox: the viewer's in-app digests, newest first; the unread count; mark one
// or all read; new digests arrive live (the header's NotificationReceived subscription).
import { mutate, query } from "../api.js";
import { emit, on } from "../bus.js";
import { h, replace, setText } from "../dom.js";
import { ACTIVITY, FREQUENCY, NOTIFICATION_TYPE, REQUEST_NOTICE, REQUEST_STATUS, label, plural } from "../format.js";
import { BASE, appPath } from "../router.js";
import { emptyState, errorBox, loadMoreButton, loading, time, userErrorsBox } from "../ui.js";

const SHOWN_ENTRIES = 10;

function entryItem(entry) {
  return h("li", null, time(entry.occurredAt), " · ", label(ACTIVITY, entry.activity), " · ", h("a", { href: appPath(entry.app.id) }, entry.app.name), entry.user ? ` · by ${entry.user.name}` : "");
}

// An install request as an INSTALL_REQUEST notice lists it: what, for whom, where it stands.
function requestEntry(request) {
  return h(
    "li",
    { "data-notice-request": request.id, "data-request-status": request.status },
    request.listing.name,
    request.accountName ? ` (${request.accountName})` : "",
    ` · asked by ${request.requestedBy.name} · `,
    label(REQUEST_STATUS, request.status),
    request.decidedBy && request.status !== "PENDING" ? ` by ${request.decidedBy.name}` : "",
    request.decisionNote ? ` · “${request.decisionNote}”` : "",
    request.status === "APPROVED" && request.app ? [" · ", h("a", { href: appPath(request.app.id) }, `Open ${request.app.name}`)] : null,
  );
}

function requestNotice(n) {
  const requests = n.installRequests || [];
  const notice = n.installRequestNotice;
  const first = requests[0];
  let title = label(REQUEST_NOTICE, notice) || "Install request";
  if (notice === "NEW" && first) title = `${first.requestedBy.name} asks for ${first.listing.name}`;
  if (notice === "OUTCOME" && first) title = `Your request for ${first.listing.name}: ${label(REQUEST_STATUS, first.status).toLowerCase()}`;
  const summary =
    notice === "REMINDER"
      ? `${plural(requests.length, "request has", "requests have")} waited more than a day for a decision`
      : notice === "NEW"
        ? "A new request waits for a reviewer"
        : "The decision on your request";
  return {
    title,
    facts: [label(NOTIFICATION_TYPE, n.type), " · ", summary, " · ", time(n.periodEnd)],
    body: [
      h("ul", { class: "digest-entries" }, requests.map(requestEntry)),
      h("p", null, h("a", { href: `${BASE}people${notice === "OUTCOME" ? "?status=ALL" : ""}`, "data-people-link": "" }, notice === "OUTCOME" ? "See your requests on People" : "Review on People")),
    ],
  };
}

export function render(main) {
  const unreadText = h("p", { class: "unread-summary", role: "status" });
  const markAll = h("button", { type: "button", class: "secondary", "data-action": "mark-all-read", disabled: true }, "Mark all as read");
  const unreadOnly = h("input", { type: "checkbox", id: "inbox-unread-only" });
  const actionResult = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "digests" });
  const listBox = h("div", null, loading("Loading your inbox…"));
  const more = h("div");
  replace(
    main,
    h("h1", null, "Inbox"),
    h("div", { class: "toolbar" }, unreadText, h("div", { class: "field field--check" }, unreadOnly, h("label", { for: "inbox-unread-only" }, "Unread only")), h("div", { class: "field field--button" }, markAll)),
    actionResult,
    listBox,
    more,
  );
  document.title = "Inbox · Connected apps";

  let generation = 0;
  let unread = 0;
  const items = new Map();

  function setUnread(count) {
    unread = count;
    setText(unreadText, count === 0 ? "No unread digests." : `${plural(count, "unread digest", "unread digests")}.`);
    markAll.disabled = count === 0;
    emit("unread-count", count);
  }

  function markedRead(notification) {
    const item = items.get(notification.id);
    if (!item || item.read) return;
    item.read = true;
    item.element.classList.remove("digest--unread");
    item.element.setAttribute("data-read", "true");
    replace(item.state, "Read ", time(notification.readAt));
    item.button.disabled = true;
    if (unreadOnly.checked) {
      item.element.remove();
      items.delete(notification.id);
    }
  }

  async function markRead(input, button) {
    button.disabled = true;
    replace(actionResult);
    try {
      const payload = (await mutate("MarkNotificationsRead", { input })).markNotificationsRead;
      if (payload.userErrors.length > 0) {
        replace(actionResult, userErrorsBox(payload.userErrors));
        button.disabled = false;
        return;
      }
      for (const notification of payload.notifications) markedRead(notification);
      // `all` names at most the newest 100 it marked: the rest shown here were marked too.
      if (input.all) for (const id of [...items.keys()]) markedRead({ id, readAt: new Date().toISOString() });
      const fresh = await query("UnreadCount", {});
      setUnread(fresh.viewer.notifications.totalCount);
    } catch (error) {
      replace(actionResult, errorBox(error, "Could not mark as read"));
      button.disabled = false;
    }
  }

  function digestItem(n) {
    const state = h("span", { class: "digest-state" }, n.readAt ? ["Read ", time(n.readAt)] : "Unread");
    const button = h("button", { type: "button", class: "secondary small", "data-action": "mark-read", disabled: Boolean(n.readAt) }, "Mark as read");
    const shown = n.entries.slice(0, SHOWN_ENTRIES);
    const rest = n.entries.slice(SHOWN_ENTRIES);
    const notice = n.type === "INSTALL_REQUEST" ? requestNotice(n) : null;
    const element = h(
      "li",
      { class: `digest panel${n.readAt ? "" : " digest--unread"}`, "data-notification-id": n.id, "data-read": n.readAt ? "true" : "false", "data-notice": n.installRequestNotice || null },
      h("h2", null, notice ? notice.title : n.rule ? n.rule.name : "Deleted notification rule"),
      notice
        ? [h("p", { class: "hint" }, notice.facts), notice.body]
        : [
            h(
              "p",
              { class: "hint" },
              label(NOTIFICATION_TYPE, n.type),
              n.rule ? ` · ${label(FREQUENCY, n.rule.frequency)}` : "",
              " · ",
              time(n.periodStart),
              " – ",
              time(n.periodEnd),
              " · ",
              plural(n.entryCount, "event", "events"),
            ),
            h("ul", { class: "digest-entries" }, shown.map(entryItem)),
            rest.length > 0 ? h("details", null, h("summary", null, `${rest.length} more`), h("ul", { class: "digest-entries" }, rest.map(entryItem))) : null,
            n.entryCount > n.entries.length ? h("p", { class: "hint" }, `The digest lists the newest ${n.entries.length} of ${n.entryCount} events; the App log has them all.`) : null,
          ],
      h("div", { class: "button-row" }, state, button),
    );
    button.addEventListener("click", () => markRead({ ids: [n.id] }, button));
    items.set(n.id, { element, state, button, read: Boolean(n.readAt) });
    return element;
  }

  function renderMore(pageInfo) {
    if (!pageInfo.hasNextPage) return replace(more);
    const cursor = pageInfo.endCursor;
    replace(
      more,
      loadMoreButton(async () => {
        const mine = generation;
        const data = await query("InboxPage", { after: cursor, unreadOnly: unreadOnly.checked || null });
        if (mine !== generation) return;
        for (const n of data.viewer.notifications.nodes) if (!items.has(n.id)) list.appendChild(digestItem(n));
        renderMore(data.viewer.notifications.pageInfo);
      }),
    );
  }

  async function load() {
    generation += 1;
    const mine = generation;
    try {
      const data = await query("InboxPage", { after: null, unreadOnly: unreadOnly.checked || null });
      if (mine !== generation) return;
      items.clear();
      replace(list, data.viewer.notifications.nodes.map(digestItem));
      replace(listBox, items.size > 0 ? list : emptyState(unreadOnly.checked ? "No unread digests." : "No digests yet. They arrive when a notification rule that includes you has something to report."));
      setUnread(data.viewer.unread.totalCount);
      renderMore(data.viewer.notifications.pageInfo);
    } catch (error) {
      if (mine === generation) replace(listBox, errorBox(error, "Could not load your inbox"));
    }
  }

  markAll.addEventListener("click", () => markRead({ all: true }, markAll));
  unreadOnly.addEventListener("change", load);
  const stop = on("notification-received", (n) => {
    if (items.has(n.id)) return;
    const element = digestItem(n);
    element.classList.add("flash");
    list.prepend(element);
    replace(listBox, list);
    if (!n.readAt) setUnread(unread + 1);
  });
  load();

  return {
    refresh: load,
    dispose() {
      generation += 1;
      stop();
    },
  };
}
