import { createHash } from 'node:crypto';

/**
 * The dashboard's HTML: the login page (public: its one inline script and style are allowed by
 * their hashes in its CSP) and the app shell (no inline code: `/app.js` and `/app.css`, so the
 * CSP of every other response is `script-src 'self'`). Nothing from the broker is ever put into
 * HTML here: the script renders data with `textContent`.
 */

/** CSP of every response but the login page. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const LOGIN_STYLE = `
body{font:15px/1.4 system-ui,sans-serif;background:#f4f6f4;color:#1d2a1f;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:20rem}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin-bottom:.3rem}
input{width:100%;box-sizing:border-box;padding:.5rem;margin-bottom:1rem;font:inherit}
button{padding:.5rem 1.2rem;font:inherit;background:#2f6b3a;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{color:#a11;margin:1rem 0 0}`;

/** Fills the token from `#token=...` (the URL `celeriac dashboard` prints), clears it from the address bar, and submits. */
const LOGIN_SCRIPT = `(function () {
  var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, '', location.pathname);
  document.getElementById('token').value = decodeURIComponent(m[1]);
  document.getElementById('login').submit();
})();`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/** CSP of the login page: only its own inline script and style. */
export const LOGIN_CSP = `default-src 'none'; script-src ${hash(LOGIN_SCRIPT)}; style-src ${hash(LOGIN_STYLE)}; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

/** The login page; `failed` adds a fixed "wrong token" line (no request data is echoed). */
export function loginPage(failed: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>Celeriac dashboard: log in</title><style>${LOGIN_STYLE}</style></head>
<body><main><h1>Celeriac dashboard</h1>
<form method="post" action="/login" id="login"><label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit" id="login-submit">Log in</button></form>
${failed ? '<p class="error" id="login-error">Wrong token.</p>' : ''}</main>
<script>${LOGIN_SCRIPT}</script></body></html>`;
}

/** HTML-escape (only for the CSRF token, which is base64url anyway). */
function attr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The app shell; the page script fills it from the API and the live feed. */
export function appPage(csrfToken: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="csrf-token" content="${attr(csrfToken)}">
<link rel="icon" href="data:,"><title>Celeriac dashboard</title><link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script></head>
<body>
<header><h1>Celeriac <span id="app-name"></span></h1>
<nav><a href="#overview" id="tab-overview">Overview</a><a href="#tasks" id="tab-tasks">Tasks</a><a href="#dlq" id="tab-dlq">Dead letters <span id="dlq-count" class="count"></span></a></nav>
<span id="live" class="live">connecting</span><button id="logout" type="button">Log out</button></header>
<main>
<section id="view-overview">
<div class="cards"><div class="card"><b id="card-workers">-</b><span>workers online</span></div><div class="card"><b id="card-tasks">-</b><span>tasks tracked</span></div>
<div class="card"><b id="card-rate">-</b><span>succeeded / s (1 min)</span></div><div class="card"><b id="card-dlq">-</b><span>dead letters</span></div></div>
<p id="overview-errors" class="error"></p>
<div class="charts"><figure><figcaption>Throughput, tasks/s (last 5 min): <span class="ok">succeeded</span> <span class="bad">failed</span></figcaption><svg id="chart-throughput" viewBox="0 0 600 140" role="img" aria-label="throughput"></svg></figure>
<figure><figcaption>Runtime, ms: <span class="p50">p50</span> <span class="p95">p95</span></figcaption><svg id="chart-latency" viewBox="0 0 600 140" role="img" aria-label="latency"></svg></figure></div>
<h2>Workers</h2><table id="workers"><thead><tr><th>Worker</th><th>Status</th><th>Queues</th><th>Slots</th><th>Load</th><th>Succeeded</th><th>Failed</th><th>Retried</th><th>Heartbeat</th></tr></thead><tbody></tbody></table>
<h2>Queues</h2><table id="queues"><thead><tr><th>Queue</th><th>Depth</th><th>In flight</th><th>Redelivered</th><th>Rate /s</th><th>Depth change /s</th><th>Consumers</th></tr></thead><tbody></tbody></table>
<h2>Rate limit</h2><form id="rate-limit-form" class="inline"><input name="task" placeholder="task name" list="task-names" required><input name="rate" placeholder="100/s, 10/m (empty: configured rate)"><button type="submit">Apply</button></form>
</section>
<section id="view-tasks" hidden>
<form id="task-filter" class="inline"><input name="q" placeholder="search id or name" type="search"><input name="name" placeholder="task name" list="task-names">
<select name="state"><option value="">any state</option><option>PENDING</option><option>RECEIVED</option><option>STARTED</option><option>PROGRESS</option><option>RETRY</option><option>SUCCESS</option><option>FAILURE</option><option>REVOKED</option><option>REJECTED</option></select></form>
<table id="tasks"><thead><tr><th>Task id</th><th>Name</th><th>State</th><th>Queue</th><th>Worker</th><th>Received</th><th>Runtime</th><th>Retries</th><th>Error</th></tr></thead><tbody></tbody></table>
<div id="task-detail" hidden><h2>Task <span id="detail-id"></span></h2><dl id="detail-fields"></dl>
<div class="inline"><button id="revoke" type="button">Revoke</button><label><input type="checkbox" id="revoke-terminate"> terminate if running</label></div></div>
</section>
<section id="view-dlq" hidden>
<form id="dlq-filter" class="inline"><input name="queue" placeholder="queue (all)"><button type="submit">Refresh</button><button type="button" id="dlq-replay-all">Replay all</button><button type="button" id="dlq-purge" class="danger">Purge</button></form>
<table id="dlq"><thead><tr><th>Seq</th><th>Time</th><th>Queue</th><th>Task id</th><th>Name</th><th>Reason</th><th>Error</th><th>Attempts</th><th>Arguments</th><th></th></tr></thead><tbody></tbody></table>
<p id="dlq-empty" hidden>No dead letters.</p>
</section>
</main>
<datalist id="task-names"></datalist><div id="toast" role="status"></div>
</body></html>`;
}
