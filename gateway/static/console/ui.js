// Pieces every screen uses: status badges, dates, error boxes, "load more", and actions with
// an in-page confirmation step (no browser dialog) whose userErrors appear next to the
// action.
import { h, replace, uid } from "./dom.js";
import { STATUS, formatDate, formatDateTime, formatDuration, label, plural } from "./format.js";

export function time(iso) {
  return iso ? h("time", { datetime: iso }, formatDateTime(iso)) : null;
}

// When the app was last used, or "Never used"; `[data-last-used]` holds the API's time.
export function lastUsed(iso) {
  return h("span", { class: "last-used", "data-last-used": iso || "" }, iso ? time(iso) : h("span", { class: "muted" }, "Never used"));
}

const SVG = "http://www.w3.org/2000/svg";
const SPARK_WIDTH = 120;
const SPARK_HEIGHT = 28;

// A usage window's daily calls as an inline SVG line, oldest day on the left (the API lists
// today first). Built with DOM calls and classes only: the page's CSP forbids inline styles.
export function sparkline(usage) {
  const days = [...usage.days].reverse();
  const peak = Math.max(1, ...days.map((d) => d.calls));
  const step = days.length > 1 ? SPARK_WIDTH / (days.length - 1) : 0;
  const points = days.map((d, i) => `${(i * step).toFixed(1)},${(SPARK_HEIGHT - 2 - (d.calls / peak) * (SPARK_HEIGHT - 4)).toFixed(1)}`);
  const words = `${plural(usage.calls, "call", "calls")} in the last ${plural(days.length, "day", "days")}`;
  const svg = document.createElementNS(SVG, "svg");
  for (const [name, value] of Object.entries({ class: "sparkline", viewBox: `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`, width: SPARK_WIDTH, height: SPARK_HEIGHT, role: "img", "aria-label": words, "data-usage-sparkline": "", "data-calls": usage.calls })) {
    svg.setAttribute(name, String(value));
  }
  const title = document.createElementNS(SVG, "title");
  title.textContent = days.length > 0 ? `${words} (from ${formatDate(days[0].date)})` : words;
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", usage.calls > 0 ? "sparkline-line" : "sparkline-line sparkline-line--idle");
  line.setAttribute("points", points.join(" "));
  svg.append(title, line);
  return svg;
}

// A usage window in words: calls, errors and the error rate.
export function usageWords(usage) {
  if (usage.calls === 0) return "No calls";
  const rate = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 }).format(usage.errorRate);
  return `${plural(usage.calls, "call", "calls")} · ${plural(usage.errors, "error", "errors")} (${rate})`;
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
