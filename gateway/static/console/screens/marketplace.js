// Screen 3, the Marketplace: listings not installed in this portal, each with what an install
// would grant, the tier notice where a scope needs an upgrade, and Install or Reinstall; for
// people who may not install it, "Request this app" (or their pending request, to cancel), and
// their own requests, updated live.
import { mutate, query } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { INSTALL_LEVEL, SCOPE_STATE, TIER, label, plural } from "../format.js";
import { subscribe } from "../live.js";
import { BASE, appPath } from "../router.js";
import { confirmAction, emptyState, errorBox, learningList, loadMoreButton, loading, time } from "../ui.js";
import { requestBadge, requestFields, requestItem } from "./requests.js";

const TIERS = ["FREE", "STARTER", "PROFESSIONAL", "ENTERPRISE"];

function highestTier(scopes) {
  return scopes.reduce((best, scope) => (TIERS.indexOf(scope.requiredTier) > TIERS.indexOf(best) ? scope.requiredTier : best), "FREE");
}

function tierNotice(listing, tier) {
  const needing = listing.requestedScopes.filter((scope) => scope.state === "NEEDS_UPGRADE");
  if (needing.length === 0) return null;
  const blocking = needing.some((scope) => scope.required);
  const target = label(TIER, highestTier(needing));
  return h(
    "div",
    { class: `notice ${blocking ? "notice--error" : "notice--warning"} tier-notice`, "data-tier-notice": "" },
    h(
      "p",
      null,
      blocking
        ? `This app needs the ${target} tier; your portal is on ${label(TIER, tier)}. Upgrade to install it.`
        : `${plural(needing.length, "scope needs", "scopes need")} the ${target} tier (your portal: ${label(TIER, tier)}). The app installs without ${needing.length === 1 ? "it" : "them"}; upgrade to enable ${needing.length === 1 ? "it" : "them"}.`,
    ),
    h("ul", { class: "inline-list" }, needing.map((scope) => h("li", null, h("code", null, scope.name), ` (${label(TIER, scope.requiredTier)})`))),
  );
}

function whyNot(listing, viewer, tier) {
  const blocking = listing.requestedScopes.filter((scope) => scope.required && scope.state === "NEEDS_UPGRADE");
  if (blocking.length > 0) return `Needs the ${label(TIER, highestTier(blocking))} tier; your portal is on ${label(TIER, tier)}.`;
  if (listing.installLevel !== "USER" && !viewer.permissions.includes("INSTALL_APPS")) return "Installing this app needs the INSTALL_APPS permission.";
  if (listing.installLevel === "USER") return "You are connected to this app already.";
  return "This app cannot be installed now.";
}

// The confirmation's controls: which optional scopes to grant, and the account of a
// multi-account app.
function installFields(listing) {
  return () => {
    const prefix = uid("install");
    const boxes = listing.requestedScopes.map((scope) => {
      const id = `${prefix}-${scope.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const grantable = scope.state !== "NEEDS_UPGRADE";
      const input = h("input", { type: "checkbox", id, value: scope.name, checked: grantable, disabled: !grantable || scope.required });
      const note = scope.required ? " (required)" : grantable ? "" : ` (needs ${label(TIER, scope.requiredTier)})`;
      return { scope, input, element: h("li", { class: "check" }, input, h("label", { for: id }, h("code", null, scope.name), note, h("span", { class: "hint" }, scope.description))) };
    });
    const accountId = `${prefix}-account`;
    const account = listing.installLevel === "MULTI_ACCOUNT" ? h("input", { type: "text", id: accountId, name: "accountName", autocomplete: "off", "aria-describedby": `${accountId}-error` }) : null;
    const accountError = h("p", { class: "field-error", id: `${accountId}-error` });
    const scopesError = h("p", { class: "field-error" });
    return {
      element: h(
        "div",
        null,
        account ? h("div", { class: "field" }, h("label", { for: accountId }, "Account name"), account, accountError) : null,
        boxes.length > 0 ? h("fieldset", { class: "field" }, h("legend", null, "Scopes to grant"), h("ul", { class: "checks-list" }, boxes.map((box) => box.element)), scopesError) : null,
      ),
      values: () => {
        const chosen = boxes.filter((box) => box.input.checked).map((box) => box.scope.name);
        const all = boxes.filter((box) => box.scope.state !== "NEEDS_UPGRADE").map((box) => box.scope.name);
        return { scopes: chosen.length === all.length ? null : chosen, accountName: account ? account.value.trim() : null };
      },
      showErrors: (errors) => {
        const about = (name) => errors.filter((e) => e.field && e.field.includes(name));
        const accountErrors = account ? about("accountName") : [];
        const scopeErrors = boxes.length > 0 ? about("scopes") : [];
        replace(accountError, accountErrors.map((e) => e.message).join(" "));
        replace(scopesError, scopeErrors.map((e) => e.message).join(" "));
        if (account) {
          account.setAttribute("aria-invalid", String(accountErrors.length > 0));
          if (accountErrors.length > 0) account.focus();
        }
        return errors.filter((e) => !accountErrors.includes(e) && !scopeErrors.includes(e));
      },
    };
  };
}

// What the viewer who may not install a listing can do: ask for it, or see (and cancel) the
// request they made. `show(state)` re-renders it: {pending} or {outcome} from a live change.
function requestArea(listing, onChanged) {
  const area = h("div", { class: "request-area" });
  function show({ pending, outcome }) {
    if (outcome && outcome.status === "APPROVED") {
      replace(area, h("p", { class: "notice notice--success", "data-request-outcome": "APPROVED" }, "Your request was approved: installed. ", outcome.app ? h("a", { href: appPath(outcome.app.id) }, `Open ${outcome.app.name}`) : null));
      return;
    }
    if (pending) {
      replace(
        area,
        h("p", { class: "pending-request", "data-pending-request": pending.id }, requestBadge("PENDING"), " Requested — pending review", h("span", { class: "hint" }, "Asked ", time(pending.createdAt), " · expires ", time(pending.expiresAt))),
        confirmAction({
          action: "cancel-request",
          text: "Cancel request",
          allowed: pending.viewerCanCancel,
          reason: "This request can no longer be cancelled.",
          danger: true,
          question: `Cancel your request for ${listing.name}? Reviewers are not told.`,
          confirmText: "Yes, cancel it",
          run: async () => {
            const payload = (await mutate("CancelInstallRequest", { input: { requestId: pending.id } })).cancelInstallRequest;
            if (payload.userErrors.length === 0 && payload.request) onChanged(payload.request);
            return { userErrors: payload.userErrors };
          },
        }),
      );
      return;
    }
    replace(
      area,
      outcome ? h("p", { class: "hint", "data-request-outcome": outcome.status }, "Your last request: ", requestBadge(outcome.status), outcome.decisionNote ? ` “${outcome.decisionNote}”` : "") : null,
      confirmAction({
        action: "request",
        text: "Request this app",
        allowed: true,
        question: `Ask the people who install apps to install ${listing.name}${listing.installLevel === "MULTI_ACCOUNT" ? " for an account" : ""}.`,
        confirmText: "Send request",
        fields: requestFields(listing),
        run: async ({ justification, accountName }) => {
          const input = { listingId: listing.id, justification };
          if (listing.installLevel === "MULTI_ACCOUNT") input.accountName = accountName;
          const payload = (await mutate("RequestAppInstall", { input })).requestAppInstall;
          if (payload.userErrors.length === 0 && payload.request) onChanged(payload.request);
          return { userErrors: payload.userErrors };
        },
      }),
    );
  }
  return { area, show };
}

function listingCard(listing, viewer, tier, reinstall, requests) {
  let request = null;
  if (!listing.viewerCanInstall && (listing.viewerPendingRequest || listing.viewerCanRequest)) {
    request = requestArea(listing, requests.changed);
    request.show({ pending: listing.viewerPendingRequest });
    requests.areas.set(listing.id, request);
  }
  const verb = reinstall ? "Reinstall" : listing.installLevel === "USER" ? "Connect" : listing.installLevel === "MULTI_ACCOUNT" ? "Add account" : "Install";
  return h(
    "li",
    { class: "listing panel", "data-listing-id": listing.id, "data-slug": listing.slug },
    h("h2", null, listing.name),
    h("p", { class: "hint" }, `${listing.vendor} · ${listing.category} · ${label(INSTALL_LEVEL, listing.installLevel)}`),
    h("p", null, listing.description),
    tierNotice(listing, tier),
    listing.requestedScopes.length > 0
      ? h(
          "details",
          { class: "scopes-details" },
          h("summary", null, `Scopes it asks for (${listing.requestedScopes.length})`),
          h("ul", { class: "scope-list" }, listing.requestedScopes.map((scope) => h("li", null, h("code", null, scope.name), ` — ${label(SCOPE_STATE, scope.state)}`, scope.required ? ", required" : "", h("span", { class: "hint" }, scope.description)))),
        )
      : null,
    confirmAction({
      action: "install",
      text: reinstall ? "Reinstall" : "Install",
      allowed: listing.viewerCanInstall,
      reason: listing.viewerCanInstall ? null : whyNot(listing, viewer, tier),
      question: `${verb} ${listing.name}?`,
      confirmText: `Yes, ${verb.toLowerCase()}`,
      fields: installFields(listing),
      run: async ({ scopes, accountName }) => {
        const input = { listingId: listing.id };
        if (scopes) input.scopes = scopes;
        if (accountName !== null) input.accountName = accountName;
        const payload = (await mutate("InstallApp", { input })).installApp;
        const app = payload.app;
        return {
          userErrors: payload.userErrors,
          disable: listing.installLevel !== "MULTI_ACCOUNT",
          done: app ? h("p", null, `${app.name} is installed. `, h("a", { href: appPath(app.id) }, `Open ${app.name}`)) : "Installed.",
        };
      },
    }),
    request ? request.area : null,
  );
}

export function render(main) {
  const searchInput = h("input", { type: "search", id: "market-search", name: "search", autocomplete: "off" });
  const categorySelect = h("select", { id: "market-category", name: "category" }, h("option", { value: "" }, "All categories"));
  const toolbar = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Search the marketplace" },
    h("div", { class: "field" }, h("label", { for: "market-search" }, "Search apps"), searchInput),
    h("div", { class: "field" }, h("label", { for: "market-category" }, "Category"), categorySelect),
  );
  const status = h("p", { class: "list-status", role: "status" });
  const list = h("ul", { class: "listings" });
  const listBox = h("div", null, loading("Loading the marketplace…"));
  const more = h("div");
  const learn = h("div");
  const mineList = h("ul", { class: "requests" });
  const mineSection = h(
    "section",
    { class: "panel", "aria-labelledby": "my-requests-heading", hidden: true },
    h("h2", { id: "my-requests-heading" }, "Your install requests"),
    h("p", { class: "hint" }, "The newest of your requests. ", h("a", { href: `${BASE}people` }, "All requests on People")),
    mineList,
  );
  replace(
    main,
    h("h1", null, "Marketplace"),
    h("p", { class: "lead" }, "Apps you can add to your portal. Each shows what it would be allowed to access on your tier."),
    toolbar,
    status,
    mineSection,
    listBox,
    more,
    h("section", { class: "panel", "aria-labelledby": "academy-heading" }, h("h2", { id: "academy-heading" }, "Learn about integrations"), learn),
  );
  document.title = "Marketplace · Connected apps";

  const categories = new Set();
  let generation = 0;
  let shown = 0;
  let viewerId = null;
  const myRequests = new Map();

  // A request of the viewer's as a mutation or the subscription left it: its row under "Your
  // install requests", and its listing's card.
  function changed(request) {
    if (viewerId === null || request.requestedBy.id !== viewerId) return;
    const item = requestItem(request, { onChanged: changed, compact: true });
    const old = myRequests.get(request.id);
    if (old) old.replaceWith(item);
    else mineList.prepend(item);
    myRequests.set(request.id, item);
    mineSection.hidden = false;
    const area = requests.areas.get(request.listing.id);
    if (area) area.show(request.status === "PENDING" ? { pending: request } : { outcome: request });
  }
  const requests = { areas: new Map(), changed };

  function showMine(viewer) {
    viewerId = viewer.user.id;
    myRequests.clear();
    replace(mineList);
    for (const request of viewer.portal.requests.nodes) {
      if (request.requestedBy.id !== viewerId) continue;
      const item = requestItem(request, { onChanged: changed, compact: true });
      myRequests.set(request.id, item);
      mineList.appendChild(item);
    }
    mineSection.hidden = myRequests.size === 0;
  }

  function addCategories(listings) {
    for (const listing of listings) {
      if (categories.has(listing.category)) continue;
      categories.add(listing.category);
      const options = [...categorySelect.options].slice(1);
      const before = options.find((option) => option.value.localeCompare(listing.category) > 0) || null;
      categorySelect.insertBefore(h("option", { value: listing.category }, listing.category), before);
    }
  }

  async function fetchPage(after) {
    const variables = { first: 50, after };
    if (searchInput.value.trim()) variables.search = searchInput.value.trim();
    if (categorySelect.value) variables.category = categorySelect.value;
    return (await query("MarketplacePage", variables)).viewer;
  }

  function addPage(viewer) {
    const portal = viewer.portal;
    const reinstalls = new Set(portal.uninstalls.nodes.filter((entry) => entry.app.uninstalledAt).map((entry) => entry.app.listing.id));
    const page = portal.marketplace;
    addCategories(page.nodes);
    for (const listing of page.nodes) list.appendChild(listingCard(listing, viewer.user, portal.tier, reinstalls.has(listing.id), requests));
    shown += page.nodes.length;
    replace(listBox, shown > 0 ? list : emptyState("No listings match."));
    replace(status, `Showing ${shown} of ${plural(page.totalCount, "app", "apps")} · your portal is on the ${label(TIER, portal.tier)} tier`);
    if (!page.pageInfo.hasNextPage) replace(more);
    else {
      const cursor = page.pageInfo.endCursor;
      replace(
        more,
        loadMoreButton(async () => {
          const mine = generation;
          const next = await fetchPage(cursor);
          if (mine === generation) addPage(next);
        }),
      );
    }
  }

  async function reload() {
    generation += 1;
    const mine = generation;
    try {
      const viewer = await fetchPage(null);
      if (mine !== generation) return;
      shown = 0;
      replace(list);
      requests.areas.clear();
      showMine(viewer);
      addPage(viewer);
      replace(learn, learningList(viewer.portal.learningResources));
    } catch (error) {
      if (mine !== generation) return;
      replace(listBox, errorBox(error, "Could not load the marketplace"));
    }
  }

  let timer = 0;
  searchInput.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 250);
  });
  categorySelect.addEventListener("change", reload);
  toolbar.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    reload();
  });
  // A refused subscription leaves the page as loaded (a reload shows what changed).
  const stop = subscribe("InstallRequestChanged", {}, (data) => changed(data.installRequestChanged), () => {});
  reload();

  return {
    refresh: reload,
    dispose() {
      generation += 1;
      clearTimeout(timer);
      stop();
    },
  };
}
