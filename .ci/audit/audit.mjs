// The graphql-http server audit (GraphQL over HTTP, DESIGN §2) against a served gateway.
// Usage: GATEWAY_AUDIT_URL=http://127.0.0.1:PORT/graphql GATEWAY_AUDIT_TOKEN=... node audit.mjs
// Prints every result and exits 1 unless every audit is ok (no warn, notice or error).
import { createRequire } from 'node:module';
import { auditServer } from 'graphql-http';

const { version } = createRequire(import.meta.url)('graphql-http/package.json');

const url = process.env.GATEWAY_AUDIT_URL;
const token = process.env.GATEWAY_AUDIT_TOKEN;
if (!url || !token) {
  console.error('audit: set GATEWAY_AUDIT_URL and GATEWAY_AUDIT_TOKEN');
  process.exit(2);
}

// Every request of the audit is an authenticated one: the gateway answers 401 before anything
// else, and the audit is about what happens after authentication.
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn });
const tally = {};
for (const result of results) {
  tally[result.status] = (tally[result.status] ?? 0) + 1;
  let line = `${result.status.toUpperCase().padEnd(6)} ${result.id} ${result.name}`;
  if (result.status !== 'ok') {
    let body = '';
    try {
      body = await result.response.text();
    } catch {
      // the audit may have consumed the body already
    }
    line += `\n         reason: ${result.reason}`;
    line += `\n         response: ${result.response.status} ${result.response.headers.get('content-type') ?? '(no content-type)'} ${body.slice(0, 300)}`;
  }
  console.log(line);
}
const summary = ['ok', 'notice', 'warn', 'error'].map((s) => `${tally[s] ?? 0} ${s}`).join(', ');
console.log(`graphql-http ${version} server audit of ${url}: ${results.length} audits: ${summary}`);
process.exit(results.every((r) => r.status === 'ok') ? 0 : 1);
