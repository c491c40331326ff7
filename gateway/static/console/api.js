// The GraphQL API over HTTP: persisted documents only. Each call names its operation, whose
// document is documents/<OperationName>.graphql and whose id comes from the generated
// documents.js; the console never sends a query text.
import documentIds from "./documents.js";
import { expireSession, getToken } from "./session.js";

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.name = "ApiError";
    this.code = code || "ERROR";
    this.status = status || 0;
  }
}

export function documentId(operationName) {
  const id = documentIds[operationName];
  if (!id) throw new ApiError(`The console has no document named ${operationName}`, "CONSOLE_DOCUMENT_MISSING");
  return id;
}

async function send(operationName, variables) {
  const token = getToken();
  if (!token) throw new ApiError("Your session expired", "UNAUTHENTICATED", 401);
  const body = JSON.stringify({ documentId: documentId(operationName), operationName, variables: variables || {} });
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json;q=0.9",
        Authorization: `Bearer ${token}`,
      },
      body,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(`The gateway could not be reached (${error.message})`, "NETWORK_ERROR");
  }
  if (response.status === 401) {
    expireSession();
    throw new ApiError("Your session expired", "UNAUTHENTICATED", 401);
  }
  let result;
  try {
    result = await response.json();
  } catch {
    throw new ApiError(`The gateway answered HTTP ${response.status} without a GraphQL response`, `HTTP_${response.status}`, response.status);
  }
  const errors = Array.isArray(result.errors) ? result.errors : [];
  if (errors.length > 0) {
    const first = errors[0];
    const code = (first.extensions && first.extensions.code) || `HTTP_${response.status}`;
    let message = first.message || "The request failed";
    if (code === "RATE_LIMITED") {
      const wait = response.headers.get("Retry-After");
      if (wait) message += ` Try again in ${wait} s.`;
    }
    if (code === "UNAUTHENTICATED") expireSession();
    throw new ApiError(message, code, response.status);
  }
  if (!response.ok || !result.data) {
    throw new ApiError(`The gateway answered HTTP ${response.status}`, `HTTP_${response.status}`, response.status);
  }
  return result.data;
}

// query("MyAppsPage", {first: 50}) -> data
export function query(operationName, variables) {
  return send(operationName, variables);
}

// mutate("UninstallApp", {input: {appId}}) -> data (its payload carries userErrors)
export function mutate(operationName, variables) {
  return send(operationName, variables);
}
