// Pieces every screen uses: status badges, dates, error boxes, "load more", and actions with
// an in-page confirmation step (no browser dialog) whose userErrors appear next to the
// action.
import { h, replace, uid } from "./dom.js";
import { STATUS, formatDateTime, formatDuration, label } from "./format.js";

export function time(iso) {
  return iso ? h("time", { datetime: iso }, formatDateTime(iso)) : null;
}

export function statusBadge(status) {
  if (!status) return h("span", { class: "status status--none", "data-status-text": "" }, "No status");
  return h("span", { class: `status status--${status.toLowerCase()}`, "data-status-text": "" }, label(STATUS, status));
}

export function badge(text, kind) {
  return h("span", { class: `badge badge--${kind}` }, text);
}

// A log entry's scope changes: the names added and the names removed, each said in words
// (not by colour alone), or nothing when the change touched no scope.
export function scopeDiff(changes) {
  if (!changes || (changes.added.length === 0 && changes.removed.length === 0)) return null;
  const names = (list) => list.map((name, i) => [i > 0 ? ", " : "", h("code", null, name)]);
  return h(
    "span",
    { class: "hint scope-diff", "data-scope-changes": "" },
    changes.added.length > 0 ? h("span", { class: "scope-added", "data-scope-added": changes.added.join(" ") }, "Added: ", names(changes.added)) : null,
    changes.added.length > 0 && changes.removed.length > 0 ? " " : null,
    changes.removed.length > 0 ? h("span", { class: "scope-removed", "data-scope-removed": changes.removed.join(" ") }, "Removed: ", names(changes.removed)) : null,
  );
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

// An API failure as words a person can act on, with the error code.
export function errorBox(error, context) {
  const code = (error && error.code) || "ERROR";
  const message = (error && error.message) || String(error);
  return h(
    "div",
    { class: "notice notice--error", role: "alert" },
    h("p", null, context ? `${context}: ` : "", message),
    h("p", { class: "error-code" }, "Error code: ", h("code", null, code)),
  );
}

export function userErrorsBox(userErrors) {
  return h(
    "div",
    { class: "notice notice--error", role: "alert" },
    h("ul", { class: "user-errors" }, userErrors.map((e) => h("li", null, e.message, " ", h("span", { class: "error-code" }, `(${e.code})`)))),
  );
}

export function successBox(...children) {
  return h("div", { class: "notice notice--success", role: "status" }, ...children);
}

export function emptyState(text) {
  return h("p", { class: "empty" }, text);
}

// "Load more": calls load(); shows its progress and errors in place.
export function loadMoreButton(load, text = "Load more") {
  const message = h("div", { class: "load-more-message" });
  const button = h("button", { type: "button", class: "secondary" }, text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Loading…";
    replace(message);
    try {
      await load();
    } catch (error) {
      replace(message, errorBox(error, "Could not load more"));
    } finally {
      button.disabled = false;
      button.textContent = text;
    }
  });
  return h("div", { class: "load-more" }, button, message);
}

// An action button with a confirmation step in the page (no browser dialog).
//   action: data-action value; text: the button's label; allowed: false renders it disabled
//   reason: why it is disabled (shown as text, tied with aria-describedby)
//   question: the confirmation's text; confirmText: the confirm button's label
//   fields(): optional extra controls for the confirmation, {element, values(),
//     showErrors(userErrors) -> the errors it could not place on a field}
//   run(values) -> {userErrors, done, disable}: the mutation; `done` (a node or text) shows on
//   success, `disable` turns the button off afterwards
export function confirmAction({ action, text, allowed, reason, question, confirmText, danger = false, fields, run }) {
  const reasonId = uid("reason");
  const button = h(
    "button",
    {
      type: "button",
      class: danger ? "danger" : "primary",
      "data-action": action,
      disabled: !allowed,
      "aria-describedby": !allowed && reason ? reasonId : null,
      "aria-expanded": "false",
    },
    text,
  );
  const panel = h("div", { class: "confirm" });
  const result = h("div", { class: "action-result", "aria-live": "polite" });
  const wrapper = h("div", { class: "action" }, button, !allowed && reason ? h("p", { class: "hint", id: reasonId }, reason) : null, panel, result);

  function close() {
    replace(panel);
    button.setAttribute("aria-expanded", "false");
  }

  button.addEventListener("click", () => {
    if (button.disabled) return;
    replace(result);
    const extra = fields ? fields() : null;
    const confirm = h("button", { type: "submit", class: danger ? "danger" : "primary", "data-confirm": action }, confirmText || text);
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const questionId = uid("confirm");
    const form = h(
      "form",
      { class: "confirm-panel", "aria-labelledby": questionId, novalidate: true },
      h("p", { id: questionId, class: "confirm-question" }, question),
      extra ? extra.element : null,
      h("div", { class: "button-row" }, confirm, cancel),
    );
    cancel.addEventListener("click", () => {
      close();
      button.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      confirm.disabled = true;
      cancel.disabled = true;
      confirm.textContent = "Working…";
      replace(result);
      try {
        const outcome = await run(extra ? extra.values() : {});
        const userErrors = (outcome && outcome.userErrors) || [];
        if (userErrors.length > 0) {
          // Errors on a field of the confirmation show there; the others next to the action.
          const rest = extra && extra.showErrors ? extra.showErrors(userErrors) : userErrors;
          replace(result, rest.length > 0 ? userErrorsBox(rest) : h("p", { class: "field-error", role: "alert" }, "Please correct the field marked above."));
          confirm.disabled = false;
          cancel.disabled = false;
          confirm.textContent = confirmText || text;
          return;
        }
        close();
        if (outcome && outcome.disable) button.disabled = true;
        if (outcome && outcome.done) replace(result, successBox(outcome.done));
      } catch (error) {
        replace(result, errorBox(error, "The action failed"));
        confirm.disabled = false;
        cancel.disabled = false;
        confirm.textContent = confirmText || text;
      }
    });
    replace(panel, form);
    button.setAttribute("aria-expanded", "true");
    confirm.focus();
  });
  return wrapper;
}

// A labelled <select> for one enum or list of options [{value, text}].
export function selectField({ id, text, options, value, includeAll, name }) {
  const select = h(
    "select",
    { id, name: name || id },
    includeAll ? h("option", { value: "" }, includeAll) : null,
    options.map((option) => h("option", { value: option.value, selected: option.value === value }, option.text)),
  );
  return { element: h("div", { class: "field" }, h("label", { for: id }, text), select), select };
}

// Learning resources (videos and articles) as links.
export function learningList(resources) {
  if (!resources || resources.length === 0) return emptyState("No learning resources yet.");
  return h(
    "ul",
    { class: "resources" },
    resources.map((resource) =>
      h(
        "li",
        null,
        h("a", { href: resource.url, rel: "noopener noreferrer", target: "_blank" }, resource.title),
        h("span", { class: "hint" }, resource.topic, resource.durationSeconds ? ` · video, ${formatDuration(resource.durationSeconds)}` : " · article"),
      ),
    ),
  );
}
