// History routes under /console/: the server answers index.html for every such path, so any
// screen can be linked and reloaded. In-app links are plain <a href> that this module
// intercepts; screens call navigate() for programmatic moves.

export const BASE = "/console/";
let renderer = null;

// An app's page. Global ids are base64; only characters that would end a path segment are
// escaped, so the link reads /console/apps/<id>.
export function appPath(id) {
  return `${BASE}apps/${String(id).replace(/[%/?#]/g, (c) => encodeURIComponent(c))}`;
}

export function parseRoute(pathname) {
  let rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname === "/console" ? "" : null;
  if (rest === null) return { name: "notFound" };
  rest = rest.replace(/\/+$/, "");
  if (rest === "") return { name: "myApps" };
  if (rest === "marketplace") return { name: "marketplace" };
  if (rest === "log") return { name: "log" };
  if (rest === "notifications") return { name: "notifications" };
  if (rest === "inbox") return { name: "inbox" };
  if (rest === "people") return { name: "people" };
  const app = /^apps\/([^/]+)$/.exec(rest);
  if (app) {
    try {
      return { name: "app", id: decodeURIComponent(app[1]) };
    } catch {
      return { name: "notFound" };
    }
  }
  return { name: "notFound" };
}

export function setRenderer(render) {
  renderer = render;
}

export function currentRoute() {
  return parseRoute(location.pathname);
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  if (renderer) renderer();
}

// Change the query string of the current screen without rendering it again (filters).
export function setSearch(params) {
  const search = params.toString();
  history.replaceState(history.state, "", location.pathname + (search ? `?${search}` : ""));
}

function onClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link || link.target || link.hasAttribute("download")) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

export function startRouter() {
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => {
    if (renderer) renderer();
  });
}
