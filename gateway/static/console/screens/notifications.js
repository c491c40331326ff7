// Screen 5, Notifications: the rules (who is told about which app events, how often). Super
// admins create, edit and delete them, with each userError shown on its field; everyone else
// reads them. Super admins also see the deliveries.
import { mutate, query } from "../api.js";
import { h, replace, uid } from "../dom.js";
import { AUDIENCE, CHANNEL, DELIVERY_STATUS, FREQUENCY, NOTIFICATION_TYPE, PERSON_CHANNEL, label } from "../format.js";
import { confirmAction, emptyState, errorBox, loadMoreButton, loading, successBox, time, userErrorsBox } from "../ui.js";

const ONLY_ADMINS = "Creating, editing and deleting notifications needs the MANAGE_NOTIFICATIONS permission. You can read them.";

function choices(table) {
  return Object.entries(table).map(([value, text]) => ({ value, text }));
}

function names(items) {
  return items.map((item) => item.name).join(", ");
}

// One labelled field with its error line; `control` is the input, select or fieldset.
function fieldErrorSlot(key, prefix) {
  return h("p", { class: "field-error", id: `${prefix}-${key}-error`, "data-error-for": key });
}

function ruleForm({ rule, options, onDone, onCancel }) {
  const prefix = uid("rule");
  const describedBy = (key) => `${prefix}-${key}-error`;
  const errors = {};
  for (const key of ["name", "type", "frequency", "allApps", "appIds", "audience", "userIds", "teamIds", "channels", "webhookUrl", "slackWebhookUrl"]) errors[key] = fieldErrorSlot(key, prefix);

  const nameInput = h("input", { type: "text", id: `${prefix}-name`, name: "name", value: rule ? rule.name : "", maxlength: "120", "aria-describedby": describedBy("name"), autocomplete: "off" });
  const select = (key, table, value) =>
    h("select", { id: `${prefix}-${key}`, name: key, "aria-describedby": describedBy(key) }, choices(table).map((c) => h("option", { value: c.value, selected: c.value === value }, c.text)));
  const typeSelect = select("type", NOTIFICATION_TYPE, rule ? rule.type : "APP_INSTALL");
  const frequencySelect = select("frequency", FREQUENCY, rule ? rule.frequency : "DAILY");

  const radio = (group, value, text, checked) => {
    const id = `${prefix}-${group}-${value}`;
    const input = h("input", { type: "radio", id, name: `${prefix}-${group}`, value, checked });
    return { input, element: h("span", { class: "check" }, input, h("label", { for: id }, text)) };
  };
  const checkList = (group, items, chosen, describe) => {
    const set = new Set(chosen);
    return items.map((item) => {
      const id = `${prefix}-${group}-${item.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const input = h("input", { type: "checkbox", id, value: item.id, checked: set.has(item.id) });
      return { input, element: h("li", { class: "check" }, input, h("label", { for: id }, describe(item))) };
    });
  };

  const allApps = radio("apps", "all", "All apps", rule ? rule.allApps : true);
  const someApps = radio("apps", "some", "Selected apps", rule ? !rule.allApps : false);
  const appBoxes = checkList("app", options.apps, rule ? rule.apps.map((a) => a.id) : [], (app) => app.name);
  const audiences = Object.keys(AUDIENCE).map((value) => radio("audience", value, AUDIENCE[value], (rule ? rule.audience : "SUPER_ADMINS") === value));
  const userBoxes = checkList("user", options.users, rule ? rule.users.map((u) => u.id) : [], (user) => [user.name, " ", h("span", { class: "hint inline" }, user.email)]);
  const teamBoxes = checkList("team", options.teams, rule ? rule.teams.map((t) => t.id) : [], (team) => team.name);
  const channelBoxes = checkList("channel", choices(PERSON_CHANNEL).map((c) => ({ id: c.value, name: c.text })), rule ? rule.channels : ["IN_APP"], (c) => c.name);
  // WEBHOOK and SLACK are on exactly when their URL is filled in (the URLs are credentials:
  // only editors read them, and only editors see this form).
  const urlInput = (key) => h("input", { type: "url", id: `${prefix}-${key}`, name: key, value: (rule && rule[key]) || "", placeholder: "https://…", "aria-describedby": describedBy(key), autocomplete: "off", spellcheck: "false" });
  const webhookInput = urlInput("webhookUrl");
  const slackInput = urlInput("slackWebhookUrl");

  function sync() {
    for (const box of appBoxes) box.input.disabled = !someApps.input.checked;
    const specific = audiences.find((a) => a.input.value === "SPECIFIC").input.checked;
    for (const box of [...userBoxes, ...teamBoxes]) box.input.disabled = !specific;
  }

  const general = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary" }, rule ? "Save changes" : "Create notification");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const headingId = `${prefix}-heading`;
  const fieldset = (key, legend, content) => h("fieldset", { class: "field", "aria-describedby": describedBy(key) }, h("legend", null, legend), content, errors[key]);
  const form = h(
    "form",
    { class: "rule-form", "aria-labelledby": headingId, novalidate: true },
    h("h3", { id: headingId }, rule ? `Edit “${rule.name}”` : "New notification"),
    h("div", { class: "field" }, h("label", { for: nameInput.id }, "Name"), nameInput, errors.name),
    h("div", { class: "field" }, h("label", { for: typeSelect.id }, "Notification type"), typeSelect, errors.type),
    h("div", { class: "field" }, h("label", { for: frequencySelect.id }, "Frequency"), frequencySelect, errors.frequency),
    fieldset("allApps", "Apps", [h("div", { class: "radios" }, allApps.element, someApps.element), errors.allApps]),
    fieldset("appIds", "Selected apps", options.apps.length > 0 ? h("ul", { class: "checks-list scroll" }, appBoxes.map((b) => b.element)) : emptyState("No apps are installed.")),
    fieldset("audience", "Who is notified", h("div", { class: "radios" }, audiences.map((a) => a.element))),
    fieldset("userIds", "Users", h("ul", { class: "checks-list scroll" }, userBoxes.map((b) => b.element))),
    fieldset("teamIds", "Teams", teamBoxes.length > 0 ? h("ul", { class: "checks-list scroll" }, teamBoxes.map((b) => b.element)) : emptyState("No teams.")),
    fieldset("channels", "Channels", h("ul", { class: "checks-list" }, channelBoxes.map((b) => b.element))),
    h("div", { class: "field" }, h("label", { for: webhookInput.id }, "Webhook URL"), webhookInput, h("p", { class: "hint" }, "Signed JSON is posted here once per digest. Leave empty for no webhook."), errors.webhookUrl),
    h("div", { class: "field" }, h("label", { for: slackInput.id }, "Slack incoming webhook URL"), slackInput, h("p", { class: "hint" }, "Leave empty for no Slack message."), errors.slackWebhookUrl),
    general,
    h("div", { class: "button-row" }, save, cancel),
  );
  form.addEventListener("change", sync);
  sync();
  cancel.addEventListener("click", onCancel);

  function showErrors(userErrors) {
    const controls = { name: nameInput, type: typeSelect, frequency: frequencySelect, webhookUrl: webhookInput, slackWebhookUrl: slackInput };
    const byKey = {};
    const rest = [];
    for (const error of userErrors) {
      const key = error.field && error.field[0] === "input" ? error.field[1] : null;
      if (key && errors[key]) (byKey[key] = byKey[key] || []).push(error.message);
      else rest.push(error);
    }
    for (const [key, slot] of Object.entries(errors)) {
      replace(slot, byKey[key] ? byKey[key].join(" ") : "");
      if (controls[key]) {
        if (byKey[key]) controls[key].setAttribute("aria-invalid", "true");
        else controls[key].removeAttribute("aria-invalid");
      }
    }
    replace(general, rest.length > 0 ? userErrorsBox(rest) : userErrors.length > 0 ? h("p", { class: "field-error", role: "alert" }, "Please correct the fields marked above.") : null);
    const first = Object.keys(byKey)[0];
    if (first && controls[first]) controls[first].focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = {
      name: nameInput.value,
      type: typeSelect.value,
      frequency: frequencySelect.value,
      allApps: allApps.input.checked,
      audience: audiences.find((a) => a.input.checked).input.value,
      channels: channelBoxes.filter((b) => b.input.checked).map((b) => b.input.value),
      webhookUrl: webhookInput.value.trim(),
      slackWebhookUrl: slackInput.value.trim(),
    };
    if (input.webhookUrl) input.channels.push("WEBHOOK");
    if (input.slackWebhookUrl) input.channels.push("SLACK");
    // Creating: an empty URL is simply no URL; editing: empty removes it.
    if (!rule && !input.webhookUrl) delete input.webhookUrl;
    if (!rule && !input.slackWebhookUrl) delete input.slackWebhookUrl;
    if (!input.allApps) input.appIds = appBoxes.filter((b) => b.input.checked).map((b) => b.input.value);
    if (input.audience === "SPECIFIC") {
      input.userIds = userBoxes.filter((b) => b.input.checked).map((b) => b.input.value);
      input.teamIds = teamBoxes.filter((b) => b.input.checked).map((b) => b.input.value);
    }
    save.disabled = true;
    replace(general);
    try {
      let payload;
      if (rule) payload = (await mutate("UpdateNotificationRule", { input: { id: rule.id, ...input } })).updateNotificationRule;
      else payload = (await mutate("CreateNotificationRule", { input })).createNotificationRule;
      if (payload.userErrors.length > 0) showErrors(payload.userErrors);
      else onDone(payload.rule, payload.webhookSecret);
    } catch (error) {
      replace(general, errorBox(error, "Could not save the notification"));
    } finally {
      save.disabled = false;
    }
  });
  return { element: form, focus: () => nameInput.focus() };
}

function ruleFacts(rule) {
  return h(
    "dl",
    { class: "facts" },
    h("dt", null, "Type"),
    h("dd", null, label(NOTIFICATION_TYPE, rule.type)),
    h("dt", null, "Frequency"),
    h("dd", null, label(FREQUENCY, rule.frequency)),
    h("dt", null, "Apps"),
    h("dd", null, rule.allApps ? "All apps" : names(rule.apps) || "None"),
    h("dt", null, "Who"),
    h("dd", null, label(AUDIENCE, rule.audience), rule.audience === "SPECIFIC" ? h("span", { class: "hint" }, [rule.users.length ? `Users: ${names(rule.users)}` : "", rule.teams.length ? `Teams: ${names(rule.teams)}` : ""].filter(Boolean).join(" · ")) : null),
    h("dt", null, "Channels"),
    h("dd", null, rule.channels.map((c) => label(CHANNEL, c)).join(", ")),
    rule.webhookHost ? [h("dt", null, "Webhook"), h("dd", { "data-webhook": "" }, rule.webhookUrl || rule.webhookHost)] : null,
    rule.slackWebhookUrl ? [h("dt", null, "Slack"), h("dd", null, rule.slackWebhookUrl)] : null,
    rule.lastDelivery ? [h("dt", null, "Last delivery"), h("dd", null, deliveryState(rule.lastDelivery))] : null,
    h("dt", null, "Created"),
    h("dd", null, time(rule.createdAt), rule.createdBy ? ` by ${rule.createdBy.name}` : "", rule.updatedAt !== rule.createdAt ? [" · updated ", time(rule.updatedAt)] : null),
  );
}

// A delivery's state in words, with the hooks browser tests read: `data-delivery-status`,
// `data-delivery-channel`.
function deliveryState(delivery) {
  return h(
    "span",
    { "data-delivery-status": delivery.status, "data-delivery-channel": delivery.channel },
    h("span", { class: `delivery delivery--${delivery.status.toLowerCase()}` }, label(DELIVERY_STATUS, delivery.status)),
    ` · ${label(CHANNEL, delivery.channel)}`,
    delivery.isTest ? " · test" : "",
    delivery.sentAt ? [" · ", time(delivery.sentAt)] : delivery.nextAttemptAt ? [" · next try ", time(delivery.nextAttemptAt)] : "",
    delivery.lastError ? h("span", { class: "hint" }, delivery.lastError) : null,
  );
}

// Shown once after a save or a rotation: the API never returns the secret again.
function secretBox(secret) {
  return h(
    "div",
    { class: "notice notice--info", role: "status" },
    h("p", null, "The webhook's signing secret. Copy it now: it is not shown again."),
    h("p", null, h("code", { "data-webhook-secret": "" }, secret)),
  );
}

function deliveryRow(delivery) {
  const n = delivery.notification;
  // WEBHOOK and SLACK deliveries have no recipient nor notification: the rule and its URL's host.
  const rule = n ? n.rule : delivery.rule;
  const type = n ? n.type : delivery.rule ? delivery.rule.type : null;
  const start = n ? n.periodStart : delivery.periodStart;
  const end = n ? n.periodEnd : delivery.periodEnd;
  return h(
    "tr",
    { "data-delivery-id": delivery.id },
    h("td", { "data-label": "Recipient" }, delivery.recipient ? [delivery.recipient.name, h("span", { class: "hint" }, delivery.recipient.email)] : delivery.target || "—"),
    h("td", { "data-label": "Digest" }, rule ? rule.name : h("span", { class: "muted" }, "Deleted rule"), delivery.isTest ? " (test)" : "", h("span", { class: "hint" }, type ? [label(NOTIFICATION_TYPE, type), " · "] : "", start ? [time(start), " – ", time(end)] : "")),
    h("td", { "data-label": "Channel" }, label(CHANNEL, delivery.channel)),
    h("td", { "data-label": "Status" }, h("span", { class: `delivery delivery--${delivery.status.toLowerCase()}` }, label(DELIVERY_STATUS, delivery.status)), delivery.lastError ? h("span", { class: "hint" }, delivery.lastError) : null),
    h("td", { "data-label": "Attempts" }, String(delivery.attempts)),
    h("td", { "data-label": "When" }, delivery.sentAt ? ["Sent ", time(delivery.sentAt)] : delivery.nextAttemptAt ? ["Next try ", time(delivery.nextAttemptAt)] : "—"),
  );
}

export function render(main) {
  const intro = h("div");
  const create = h("div", { class: "create-rule" });
  const rulesBox = h("div", null, loading("Loading notifications…"));
  const deliveriesBox = h("div");
  const message = h("div", { "aria-live": "polite" });
  replace(
    main,
    h("h1", null, "Notifications"),
    h("p", { class: "lead" }, "Who is told when apps are installed, disconnected or uninstalled, and how often: by email, in the app, or by webhook and Slack."),
    intro,
    message,
    h("section", { class: "panel", "aria-labelledby": "rules-heading" }, h("h2", { id: "rules-heading" }, "Notification rules"), create, rulesBox),
    h("section", { class: "panel", "aria-labelledby": "deliveries-heading" }, h("h2", { id: "deliveries-heading" }, "Deliveries"), deliveriesBox),
  );
  document.title = "Notifications · Connected apps";

  let generation = 0;
  let deliveryStatus = "";

  function renderDeliveries(connection, manages) {
    if (!manages) {
      replace(deliveriesBox, h("p", { class: "muted" }, "Deliveries are shown to people with the MANAGE_NOTIFICATIONS permission."));
      return;
    }
    const statusSelect = h("select", { id: "delivery-status" }, h("option", { value: "" }, "All"), Object.entries(DELIVERY_STATUS).map(([value, text]) => h("option", { value, selected: value === deliveryStatus }, text)));
    const tbody = h("tbody");
    const more = h("div");
    const count = h("p", { class: "list-status", role: "status" });
    const add = (page) => {
      for (const delivery of page.nodes) tbody.appendChild(deliveryRow(delivery));
      table.hidden = tbody.rows.length === 0;
      replace(count, tbody.rows.length === 0 ? "No deliveries." : `Showing ${tbody.rows.length} of ${page.totalCount}`);
      if (!page.pageInfo.hasNextPage) return replace(more);
      const cursor = page.pageInfo.endCursor;
      replace(more, loadMoreButton(async () => add((await query("DeliveriesPage", { after: cursor, status: deliveryStatus || null })).viewer.portal.deliveries)));
    };
    statusSelect.addEventListener("change", async () => {
      deliveryStatus = statusSelect.value;
      try {
        const page = (await query("DeliveriesPage", { after: null, status: deliveryStatus || null })).viewer.portal.deliveries;
        replace(tbody);
        add(page);
      } catch (error) {
        replace(more, errorBox(error, "Could not load the deliveries"));
      }
    });
    const table = h(
      "table",
      { class: "deliveries-table stack" },
      h("caption", { class: "visually-hidden" }, "Digest deliveries, newest first"),
      h("thead", null, h("tr", null, ["Recipient", "Digest", "Channel", "Status", "Attempts", "When"].map((t) => h("th", { scope: "col" }, t)))),
      tbody,
    );
    replace(deliveriesBox, h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "delivery-status" }, "Delivery status"), statusSelect)), count, table, more);
    add(connection);
  }

  function show(data) {
    const viewer = data.viewer;
    const portal = viewer.portal;
    const options = { apps: portal.connectedApps.nodes, users: portal.users.nodes, teams: portal.teams.nodes };
    const manages = viewer.user.permissions.includes("MANAGE_NOTIFICATIONS");
    replace(intro, manages ? null : h("p", { class: "notice notice--info" }, ONLY_ADMINS));

    const createButton = h("button", { type: "button", class: "primary", "data-action": "create-rule", disabled: !manages, "aria-describedby": manages ? null : "create-rule-hint" }, "Create notification");
    replace(create, createButton, manages ? null : h("p", { class: "hint", id: "create-rule-hint" }, ONLY_ADMINS));
    createButton.addEventListener("click", () => {
      const form = ruleForm({
        rule: null,
        options,
        onDone: (rule, secret) => {
          replace(message, successBox(`Created “${rule.name}”.`), secret ? secretBox(secret) : null);
          load();
        },
        onCancel: () => {
          replace(create, createButton);
          createButton.focus();
        },
      });
      replace(create, form.element);
      form.focus();
    });

    const rules = portal.notificationRules.nodes;
    if (rules.length === 0) {
      replace(rulesBox, emptyState("No notification rules yet."));
    } else {
      const list = h("ul", { class: "rules" });
      for (const rule of rules) {
        const item = h("li", { class: "rule", "data-rule-id": rule.id });
        const body = () => {
          const edit = h("button", { type: "button", class: "secondary", "data-action": "edit-rule", disabled: !rule.viewerCanEdit }, "Edit");
          edit.addEventListener("click", () => {
            const form = ruleForm({
              rule,
              options,
              onDone: (saved, secret) => {
                replace(message, successBox(`Saved “${saved.name}”.`), secret ? secretBox(secret) : null);
                load();
              },
              onCancel: () => {
                replace(item, ...body());
                item.querySelector("[data-action=edit-rule]").focus();
              },
            });
            replace(item, form.element);
            form.focus();
          });
          const remove = confirmAction({
            action: "delete-rule",
            text: "Delete",
            allowed: rule.viewerCanEdit,
            reason: null,
            question: `Delete “${rule.name}”? It sends nothing more; its past digests stay.`,
            confirmText: "Yes, delete",
            danger: true,
            run: async () => {
              const payload = (await mutate("DeleteNotificationRule", { input: { id: rule.id } })).deleteNotificationRule;
              if (payload.userErrors.length === 0) {
                replace(message, successBox(`Deleted “${rule.name}”.`));
                load();
              }
              return { userErrors: payload.userErrors };
            },
          });
          const result = h("div", { "aria-live": "polite", "data-test-result": "" });
          const sendTest = h("button", { type: "button", class: "secondary", "data-action": "send-test", disabled: !rule.viewerCanEdit }, "Send test");
          sendTest.addEventListener("click", async () => {
            sendTest.disabled = true;
            replace(result, loading("Sending a test…"));
            try {
              const payload = (await mutate("SendTestNotification", { input: { ruleId: rule.id } })).sendTestNotification;
              if (payload.userErrors.length > 0) replace(result, userErrorsBox(payload.userErrors));
              else replace(result, h("ul", { class: "test-deliveries" }, payload.deliveries.map((d) => h("li", null, deliveryState(d)))));
            } catch (error) {
              replace(result, errorBox(error, "Could not send the test"));
            } finally {
              sendTest.disabled = !rule.viewerCanEdit;
            }
          });
          const rotate = rule.webhookUrl
            ? confirmAction({
                action: "rotate-secret",
                text: "Rotate secret",
                allowed: rule.viewerCanEdit,
                reason: null,
                question: "Make a new signing secret? The current one stops working at once.",
                confirmText: "Yes, rotate",
                run: async () => {
                  const payload = (await mutate("RotateNotificationRuleSecret", { input: { ruleId: rule.id } })).rotateNotificationRuleSecret;
                  if (payload.userErrors.length === 0) replace(result, secretBox(payload.webhookSecret));
                  return { userErrors: payload.userErrors };
                },
              })
            : null;
          return [h("h3", null, rule.name), ruleFacts(rule), h("div", { class: "button-row" }, edit, remove, sendTest, rotate), result, rule.viewerCanEdit ? null : h("p", { class: "hint" }, ONLY_ADMINS)];
        };
        replace(item, ...body());
        list.appendChild(item);
      }
      replace(rulesBox, h("p", { class: "list-status" }, `${portal.notificationRules.totalCount} ${portal.notificationRules.totalCount === 1 ? "rule" : "rules"}`), list);
    }
    renderDeliveries(portal.deliveries, manages);
  }

  async function load() {
    generation += 1;
    const mine = generation;
    try {
      const data = await query("NotificationsPage", { deliveryStatus: deliveryStatus || null });
      if (mine === generation) show(data);
    } catch (error) {
      if (mine === generation) replace(rulesBox, errorBox(error, "Could not load the notifications"));
    }
  }
  load();

  return {
    refresh: load,
    dispose() {
      generation += 1;
    },
  };
}
