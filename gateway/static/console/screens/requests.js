// Install requests as People and the Marketplace show them: what was asked, by whom, why, and
// where it stands; reviewers approve (confirmed) or deny (with a required note), the requester
// cancels their own pending request. Each userError shows on its field or next to the action.
import { mutate } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { INSTALL_LEVEL, REQUEST_STATUS, label } from "../format.js";
import { appPath } from "../router.js";
import { confirmAction, time } from "../ui.js";

export function requestBadge(status) {
  return h("span", { class: `badge request-status request-status--${status.toLowerCase()}`, "data-request-status-text": "" }, label(REQUEST_STATUS, status));
}

// The confirmation's text field (the deny note), with its error line: {element, values(), showErrors()}.
function noteField({ key, text, required, multiline }) {
  return () => {
    const id = uid(key);
    const attrs = { id, name: key, maxlength: "500", "aria-describedby": `${id}-error`, required: required || null, autocomplete: "off" };
    const input = multiline ? h("textarea", { ...attrs, rows: "3" }) : h("input", { ...attrs, type: "text" });
    const error = h("p", { class: "field-error", id: `${id}-error`, "data-error-for": key });
    return {
      element: h("div", { class: "field" }, h("label", { for: id }, text), input, error),
      values: () => ({ [key]: input.value.trim() }),
      showErrors: (errors) => {
        const mine = errors.filter((e) => e.field && e.field.includes(key));
        replace(error, mine.map((e) => e.message).join(" "));
        if (mine.length > 0) {
          input.setAttribute("aria-invalid", "true");
          input.focus();
        } else input.removeAttribute("aria-invalid");
        return errors.filter((e) => !mine.includes(e));
      },
    };
  };
}

function decision(request) {
  if (request.status === "PENDING") return ["Expires ", time(request.expiresAt)];
  const by = request.decidedBy ? ` by ${request.decidedBy.name}` : "";
  const when = request.decidedAt ? [" ", time(request.decidedAt)] : null;
  return [
    label(REQUEST_STATUS, request.status),
    request.status === "EXPIRED" ? "" : by,
    when,
    request.decisionNote ? h("span", { class: "decision-note", "data-decision-note": "" }, `“${request.decisionNote}”`) : null,
    request.status === "APPROVED" && request.app ? h("span", { class: "hint" }, h("a", { href: appPath(request.app.id) }, `Open ${request.app.name}`)) : null,
  ];
}

function facts(request) {
  const listing = request.listing;
  return h(
    "dl",
    { class: "facts" },
    h("dt", null, "Requested by"),
    h("dd", { "data-requested-by": "" }, request.requestedBy.name, h("span", { class: "hint" }, request.requestedBy.email)),
    h("dt", null, "Why"),
    h("dd", { class: "justification" }, request.justification),
    h("dt", null, "Scopes"),
    h("dd", null, request.scopes ? (request.scopes.length > 0 ? h("ul", { class: "inline-list" }, request.scopes.map((s) => h("li", null, h("code", null, s)))) : "None") : "Every scope the tier allows"),
    request.accountName ? [h("dt", null, "Account"), h("dd", null, request.accountName)] : null,
    h("dt", null, "Asked"),
    h("dd", null, time(request.createdAt), ` · ${label(INSTALL_LEVEL, listing.installLevel)}`),
    h("dt", null, "Decision"),
    h("dd", { "data-decision": "" }, decision(request)),
  );
}

// One request as a list item; onChanged(request) gets the request as a mutation left it.
export function requestItem(request, { onChanged, compact = false } = {}) {
  const item = h("li", { class: "request panel", "data-request-id": request.id, "data-request-status": request.status });
  const title = compact ? h("h3", null, request.listing.name) : h("h3", null, request.listing.name, h("span", { class: "hint inline" }, ` · ${request.listing.vendor}`));
  const done = (payload) => {
    if (payload.userErrors.length === 0 && payload.request && onChanged) onChanged(payload.request);
    return { userErrors: payload.userErrors };
  };
  const actions = [];
  if (request.status === "PENDING" && request.viewerCanDecide) {
    actions.push(
      confirmAction({
        action: "approve",
        text: "Approve",
        allowed: true,
        question: `Approve and install ${request.listing.name}${request.accountName ? ` for ${request.accountName}` : ""}? It is installed at once, with you as its installer.`,
        confirmText: "Yes, approve and install",
        run: async () => done((await mutate("ApproveInstallRequest", { input: { requestId: request.id } })).approveInstallRequest),
      }),
      confirmAction({
        action: "deny",
        text: "Deny",
        allowed: true,
        danger: true,
        question: `Deny ${request.requestedBy.name}'s request for ${request.listing.name}? They see your note.`,
        confirmText: "Deny",
        fields: noteField({ key: "note", text: "Note for the requester (required)", required: true, multiline: true }),
        run: async ({ note }) => done((await mutate("DenyInstallRequest", { input: { requestId: request.id, note } })).denyInstallRequest),
      }),
    );
  }
  if (request.status === "PENDING" && request.viewerCanCancel) {
    actions.push(
      confirmAction({
        action: "cancel-request",
        text: "Cancel request",
        allowed: true,
        danger: true,
        question: `Cancel your request for ${request.listing.name}? Reviewers are not told.`,
        confirmText: "Yes, cancel it",
        run: async () => done((await mutate("CancelInstallRequest", { input: { requestId: request.id } })).cancelInstallRequest),
      }),
    );
  }
  replace(item, h("div", { class: "request-head" }, title, requestBadge(request.status)), facts(request), actions.length > 0 ? h("div", { class: "button-row request-actions" }, actions) : null);
  return item;
}

// The justification (and account) fields of "Request this app": {element, values(), showErrors()}.
export function requestFields(listing) {
  return () => {
    const why = noteField({ key: "justification", text: "Why you need it (required, up to 500 characters)", required: true, multiline: true })();
    const account = listing.installLevel === "MULTI_ACCOUNT" ? noteField({ key: "accountName", text: "Account name", required: true })() : null;
    return {
      element: h("div", null, why.element, account ? account.element : null),
      values: () => ({ ...why.values(), ...(account ? account.values() : {}) }),
      showErrors: (errors) => why.showErrors(account ? account.showErrors(errors) : errors),
    };
  };
}
