// Words and dates for the API's values. Dates use the viewer's locale and time zone.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const numberFormat = new Intl.NumberFormat();

export function formatDateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateTime.format(date);
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateOnly.format(date);
}

export function formatNumber(value) {
  return numberFormat.format(value);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const minutes = Math.floor(seconds / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  return `${minutes}:${rest}`;
}

export function plural(count, one, many) {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

export const STATUS = { CONNECTED: "Connected", DISCONNECTED: "Disconnected", ERROR: "Error" };
export const INSTALL_LEVEL = { PORTAL: "Account-wide", USER: "Per user", MULTI_ACCOUNT: "Multi-account" };
export const ACTIVITY = {
  INSTALLED: "Installed",
  UNINSTALLED: "Uninstalled",
  REINSTALLED: "Reinstalled",
  DISCONNECTED: "Disconnected",
  RECONNECTED: "Reconnected",
  REAUTHORIZED: "Reauthorized",
  ERROR_RAISED: "Error raised",
  ERROR_RESOLVED: "Error resolved",
  SCOPES_CHANGED: "Scopes changed",
};
export const SCOPE_STATE = {
  GRANTED: "Granted",
  NEEDS_UPGRADE: "Needs upgrade",
  NEEDS_REAUTHORIZATION: "Needs reauthorization",
};
export const TIER = { FREE: "Free", STARTER: "Starter", PROFESSIONAL: "Professional", ENTERPRISE: "Enterprise" };
export const SEVERITY = { INFO: "Info", WARNING: "Warning", ERROR: "Error" };
export const NOTIFICATION_TYPE = {
  APP_INSTALL: "App install",
  APP_DISCONNECT: "App disconnect",
  APP_UNINSTALL: "App uninstall",
  APP_ERROR: "App error",
  INSTALL_REQUEST: "Install request",
};
export const FREQUENCY = { HOURLY: "Hourly", DAILY: "Daily", WEEKLY: "Weekly", MONTHLY: "Monthly" };
export const AUDIENCE = {
  SUPER_ADMINS: "Super admins only",
  EVERYONE: "Everyone",
  SPECIFIC: "Specific users and teams",
};
export const CHANNEL = { EMAIL: "Email", IN_APP: "In-app", WEBHOOK: "Webhook", SLACK: "Slack" };
// The channels that reach people (checkboxes on the rule form); WEBHOOK and SLACK follow their URLs.
export const PERSON_CHANNEL = { EMAIL: "Email", IN_APP: "In-app" };
export const DELIVERY_STATUS = { PENDING: "Pending", SENT: "Sent", RETRYING: "Retrying", FAILED: "Failed" };

export const PERMISSION = {
  INSTALL_APPS: "Install apps",
  APPROVE_SCOPES: "Approve scopes",
  UNINSTALL_APPS: "Uninstall apps",
  MANAGE_NOTIFICATIONS: "Manage notifications",
};
export const REQUEST_STATUS = { PENDING: "Pending", APPROVED: "Approved", DENIED: "Denied", CANCELLED: "Cancelled", EXPIRED: "Expired" };
export const REQUEST_NOTICE = { NEW: "New install request", REMINDER: "Install requests waiting", OUTCOME: "Your install request" };

// "a, b and c": scope names in a sentence.
export function listText(names) {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// What a reauthorize would do, as a sentence: "Reauthorizing will add a and b, and remove c."
export function pendingText({ added, removed }) {
  const parts = [];
  if (added.length > 0) parts.push(`add ${listText(added)}`);
  if (removed.length > 0) parts.push(`remove ${listText(removed)}`);
  return parts.length > 0 ? `Reauthorizing will ${parts.join(", and ")}.` : "";
}

export function label(table, value) {
  return (value && table[value]) || value || "";
}
