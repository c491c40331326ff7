// Screen 4, the App log: every app's lifecycle events, filtered, paged, and live.
import { h, replace } from "../dom.js";
import { logView } from "./log-view.js";

export function render(main) {
  const view = logView({ headingId: "log-heading" });
  replace(
    main,
    h("h1", { id: "log-heading" }, "App log"),
    h("p", { class: "lead" }, "Installs, uninstalls, reinstalls, disconnections, reconnections and reauthorizations of your portal's apps. New entries appear as they happen."),
    view.element,
  );
  document.title = "App log · Connected apps";
  return view;
}
