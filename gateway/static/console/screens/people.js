// Screen 7, People: the portal's users with their teams and permissions (super admins hold all
// four); super admins change other people's permissions, never their own nor another super
// admin's. Install requests: reviewers (INSTALL_APPS holders, super admins) see and decide all
// of them, anyone else sees their own; they change live. Super admins set the request policy.
import { mutate, query } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { PERMISSION, REQUEST_STATUS, label, plural } from "../format.js";
import { subscribe } from "../live.js";
import { setSearch } from "../router.js";
import { emptyState, errorBox, loadMoreButton, loading, successBox, time, userErrorsBox } from "../ui.js";
import { requestItem } from "./requests.js";

const PERMISSIONS = Object.keys(PERMISSION);

// Whether the viewer may is the API's answer (viewerCanSetPermissions); only the words are ours.
function lockReason(viewer, user) {
  if (user.viewerCanSetPermissions) return null;
  if (!viewer.isSuperAdmin) return "Only super admins change permissions.";
  if (user.id === viewer.id) return "You cannot change your own permissions.";
  return "Super admins hold every permission; theirs cannot be changed.";
}

function changed(user) {
  if (!user.permissionsChangedAt) return h("p", { class: "hint", "data-permissions-changed": "" }, "Permissions never changed.");
  return h("p", { class: "hint", "data-permissions-changed": "" }, "Changed ", user.permissionsChangedBy ? `by ${user.permissionsChangedBy.name} ` : "", time(user.permissionsChangedAt));
}

function personItem(user, viewer) {
  const item = h("li", { class: "person panel", "data-user-id": user.id });
  const reason = lockReason(viewer, user);
  const prefix = uid("perm");
  const reasonId = `${prefix}-reason`;
  const boxes = PERMISSIONS.map((permission) => {
    const id = `${prefix}-${permission}`;
    const input = h("input", { type: "checkbox", id, name: "permission", value: permission, checked: user.isSuperAdmin || user.permissions.includes(permission), disabled: Boolean(reason) });
    return { input, element: h("li", { class: "check" }, input, h("label", { for: id }, label(PERMISSION, permission), " ", h("code", { class: "hint inline" }, permission))) };
  });
  const fieldError = h("p", { class: "field-error", id: `${prefix}-error` });
  const result = h("div", { class: "action-result", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", "data-action": "save-permissions", disabled: Boolean(reason), "aria-describedby": reason ? reasonId : null }, "Save permissions");
  const form = h(
    "form",
    { class: "permissions-form", novalidate: true },
    h("fieldset", { class: "field", "aria-describedby": `${prefix}-error` }, h("legend", null, `Permissions of ${user.name}`), h("ul", { class: "checks-list permissions" }, boxes.map((b) => b.element)), fieldError),
    h("div", { class: "button-row" }, save),
    reason ? h("p", { class: "hint", id: reasonId }, reason) : null,
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (reason) return;
    save.disabled = true;
    replace(result);
    replace(fieldError);
    try {
      const permissions = boxes.filter((b) => b.input.checked).map((b) => b.input.value);
      const payload = (await mutate("SetUserPermissions", { input: { userId: user.id, permissions } })).setUserPermissions;
      if (payload.userErrors.length > 0) {
        const mine = payload.userErrors.filter((e) => e.field && e.field.includes("permissions"));
        replace(fieldError, mine.map((e) => e.message).join(" "));
        const rest = payload.userErrors.filter((e) => !mine.includes(e));
        if (rest.length > 0) replace(result, userErrorsBox(rest));
        save.disabled = false;
        return;
      }
      const fresh = personItem(payload.user, viewer);
      item.replaceWith(fresh);
      replace(fresh.querySelector(".action-result"), successBox(`Saved the permissions of ${payload.user.name}.`));
      fresh.querySelector("[data-action=save-permissions]").focus();
    } catch (error) {
      replace(result, errorBox(error, "Could not save the permissions"));
      save.disabled = false;
    }
  });
  const teams = user.teams.length > 0 ? `Teams: ${user.teams.map((t) => t.name).join(", ")}` : "No team";
  replace(
    item,
    h("h3", null, user.name, user.isSuperAdmin ? h("span", { class: "badge badge--role" }, "Super admin") : null, user.id === viewer.id ? h("span", { class: "badge badge--info" }, "You") : null),
    h("p", { class: "hint" }, user.email, " · ", teams),
    form,
    changed(user),
  );
  return item;
}

function policyForm(policy, viewer) {
  const facts = `Requests wait ${plural(policy.durationDays, "day", "days")} for a decision; reminders are ${policy.remindersEnabled ? "on" : "off"}.`;
  if (!viewer.isSuperAdmin) return [h("p", null, facts), h("p", { class: "hint" }, "Only super admins change how requests are handled.")];
  const days = h("input", { type: "number", id: "policy-days", name: "durationDays", min: "1", max: "90", step: "1", value: policy.durationDays, "aria-describedby": "policy-days-error" });
  const reminders = h("input", { type: "checkbox", id: "policy-reminders", name: "remindersEnabled", checked: policy.remindersEnabled });
  const daysError = h("p", { class: "field-error", id: "policy-days-error" });
  const result = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", "data-action": "save-policy" }, "Save policy");
  const form = h(
    "form",
    { class: "policy-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "policy-days" }, "Days a request waits before it expires (1 to 90)"), days, daysError),
    h("div", { class: "field field--check" }, reminders, h("label", { for: "policy-reminders" }, "Remind reviewers daily of requests waiting more than 24 hours")),
    h("div", { class: "button-row" }, save),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    replace(result);
    replace(daysError);
    days.removeAttribute("aria-invalid");
    const value = Number(days.value);
    try {
      if (!Number.isInteger(value) || days.value.trim() === "") {
        replace(daysError, "Enter a whole number of days from 1 to 90.");
        days.setAttribute("aria-invalid", "true");
        days.focus();
        return;
      }
      const payload = (await mutate("UpdateInstallRequestPolicy", { input: { durationDays: value, remindersEnabled: reminders.checked } })).updateInstallRequestPolicy;
      const mine = payload.userErrors.filter((e) => e.field && e.field.includes("durationDays"));
      const rest = payload.userErrors.filter((e) => !mine.includes(e));
      replace(daysError, mine.map((e) => e.message).join(" "));
      if (mine.length > 0) {
        days.setAttribute("aria-invalid", "true");
        days.focus();
      }
      if (rest.length > 0) replace(result, userErrorsBox(rest));
      else if (payload.policy) replace(result, successBox(`Saved. New requests wait ${plural(payload.policy.durationDays, "day", "days")}; reminders are ${payload.policy.remindersEnabled ? "on" : "off"}.`));
    } catch (error) {
      replace(result, errorBox(error, "Could not save the policy"));
    } finally {
      save.disabled = false;
    }
  });
  return [h("p", null, facts), form];
}

export function render(main) {
  const params = new URLSearchParams(location.search);
  const initial = params.get("status");
  const statusSelect = h(
    "select",
    { id: "request-status", name: "status" },
    Object.entries(REQUEST_STATUS).map(([value, text]) => h("option", { value, selected: value === (initial || "PENDING") }, text)),
    h("option", { value: "ALL", selected: initial === "ALL" }, "All"),
  );
  const requestsIntro = h("p", { class: "hint" });
  const requestsStatus = h("p", { class: "list-status", role: "status" });
  const requestList = h("ul", { class: "requests" });
  const requestsBox = h("div", null, loading("Loading install requests…"));
  const requestsMore = h("div");
  const policyBox = h("div");
  const peopleStatus = h("p", { class: "list-status", role: "status" });
  const peopleList = h("ul", { class: "people" });
  const peopleBox = h("div", null, loading("Loading people…"));
  const peopleMore = h("div");
  const problem = h("div");
  replace(
    main,
    h("h1", null, "People"),
    h("p", { class: "lead" }, "Who is in the portal, what each may do, and the requests to install apps."),
    problem,
    h(
      "section",
      { class: "panel", "aria-labelledby": "requests-heading", "data-section": "install-requests" },
      h("h2", { id: "requests-heading" }, "Install requests"),
      requestsIntro,
      h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "request-status" }, "Status"), statusSelect)),
      requestsStatus,
      requestsBox,
      requestsMore,
    ),
    h("section", { class: "panel", "aria-labelledby": "people-heading" }, h("h2", { id: "people-heading" }, "People and permissions"), peopleStatus, peopleBox, peopleMore),
    h("section", { class: "panel", "aria-labelledby": "policy-heading" }, h("h2", { id: "policy-heading" }, "Request policy"), policyBox),
  );
  document.title = "People · Connected apps";

  let generation = 0;
  let viewer = null;
  let total = 0;
  const rows = new Map();

  const status = () => (statusSelect.value === "ALL" ? null : statusSelect.value);

  function countText() {
    const what = status() ? `${label(REQUEST_STATUS, status()).toLowerCase()} request` : "request";
    replace(requestsStatus, rows.size === 0 ? `No ${what}s.` : `Showing ${rows.size} of ${plural(total, what, `${what}s`)}`);
    replace(requestsBox, rows.size > 0 ? requestList : emptyState(status() === "PENDING" ? "Nothing waits for a decision." : "No requests to show."));
  }

  // A request as a mutation or the subscription left it: its row in place, or a new row when
  // it matches the filter (rows that leave the filter stay, with their new status, until a reload).
  function upsert(request, fresh) {
    const old = rows.get(request.id);
    if (!old && status() && request.status !== status()) return;
    const item = requestItem(request, { onChanged: (r) => upsert(r, false) });
    if (old) old.replaceWith(item);
    else {
      if (fresh) item.classList.add("flash");
      requestList.prepend(item);
      total += 1;
    }
    rows.set(request.id, item);
    countText();
  }

  function addRequests(page) {
    total = page.totalCount;
    for (const request of page.nodes) {
      if (rows.has(request.id)) continue;
      const item = requestItem(request, { onChanged: (r) => upsert(r, false) });
      rows.set(request.id, item);
      requestList.appendChild(item);
    }
    countText();
    if (!page.pageInfo.hasNextPage) return replace(requestsMore);
    const cursor = page.pageInfo.endCursor;
    const mine = generation;
    replace(
      requestsMore,
      loadMoreButton(async () => {
        const next = (await query("InstallRequestsPage", { after: cursor, status: status() })).viewer.portal.installRequests;
        if (mine === generation) addRequests(next);
      }),
    );
  }

  function addPeople(page) {
    for (const user of page.nodes) peopleList.appendChild(personItem(user, viewer));
    const shown = peopleList.children.length;
    replace(peopleStatus, `Showing ${shown} of ${plural(page.totalCount, "person", "people")}`);
    replace(peopleBox, shown > 0 ? peopleList : emptyState("Nobody yet."));
    if (!page.pageInfo.hasNextPage) return replace(peopleMore);
    const cursor = page.pageInfo.endCursor;
    replace(peopleMore, loadMoreButton(async () => addPeople((await query("PeopleUsersPage", { after: cursor })).viewer.portal.users)));
  }

  async function load() {
    generation += 1;
    const mine = generation;
    try {
      const data = await query("PeoplePage", { status: status() });
      if (mine !== generation) return;
      viewer = data.viewer.user;
      const reviewer = viewer.isSuperAdmin || viewer.permissions.includes("INSTALL_APPS");
      replace(
        requestsIntro,
        reviewer ? "You review requests: every request of the portal is listed, and you may approve or deny the pending ones." : "Your own requests. People with the INSTALL_APPS permission review them; you may cancel a pending one. Ask from the Marketplace.",
      );
      rows.clear();
      replace(requestList);
      addRequests(data.viewer.portal.installRequests);
      replace(peopleList);
      addPeople(data.viewer.portal.users);
      replace(policyBox, policyForm(data.viewer.portal.installRequestPolicy, viewer));
      replace(problem);
    } catch (error) {
      if (mine === generation) replace(problem, errorBox(error, "Could not load People"));
    }
  }

  async function reloadRequests() {
    generation += 1;
    const mine = generation;
    const params = new URLSearchParams(location.search);
    if (statusSelect.value === "PENDING") params.delete("status");
    else params.set("status", statusSelect.value);
    setSearch(params);
    replace(requestsBox, loading("Loading install requests…"));
    try {
      const page = (await query("InstallRequestsPage", { status: status() })).viewer.portal.installRequests;
      if (mine !== generation) return;
      rows.clear();
      replace(requestList);
      addRequests(page);
    } catch (error) {
      if (mine === generation) replace(requestsBox, errorBox(error, "Could not load the install requests"));
    }
  }

  statusSelect.addEventListener("change", reloadRequests);
  const stop = subscribe(
    "InstallRequestChanged",
    {},
    (data) => upsert(data.installRequestChanged, true),
    (error) => replace(problem, errorBox(error, "Live request updates stopped")),
  );
  load();

  return {
    refresh: load,
    dispose() {
      generation += 1;
      stop();
    },
  };
}
