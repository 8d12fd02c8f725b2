// The console's shell: session, calls, routing and the live stream.
import { h } from './dom.js';
import { overviewPage } from './overview.js';
import { devicesPage, devicePage } from './devices.js';
import { releasesPage } from './releases.js';
import { campaignsPage, campaignPage } from './campaigns.js';
import { auditPage } from './audit.js';

export const session = { name: '', role: '', csrf: '' };
const rank = { viewer: 1, operator: 2, admin: 3 };

// can reports whether the signed-in role may do what needs role `need`
// (a convenience for hiding controls: the server decides).
export function can(need) { return (rank[session.role] || 0) >= rank[need]; }

export class CallError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// call reaches the server; a state-changing call carries the CSRF token.
export async function call(method, path, body, opts = {}) {
  const headers = {};
  if (method !== 'GET') headers['X-Rampart-CSRF'] = session.csrf;
  let payload;
  if (body !== undefined) {
    if (opts.raw) { payload = body; headers['Content-Type'] = 'application/octet-stream'; }
    else { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (r.status === 401 && path !== '/ui/session') { signedOut(); throw new CallError(401, 'signed out'); }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!r.ok) throw new CallError(r.status, (data && data.error) || r.statusText);
  return opts.withHeaders ? { data, headers: r.headers } : data;
}

const main = () => document.getElementById('main');
let current = null; // the page shown: { live(overview) }

const routes = [
  [/^#\/overview$/, overviewPage],
  [/^#\/devices$/, devicesPage],
  [/^#\/devices\/(.+)$/, devicePage],
  [/^#\/releases$/, releasesPage],
  [/^#\/campaigns$/, campaignsPage],
  [/^#\/campaigns\/(.+)$/, campaignPage],
  [/^#\/audit$/, auditPage],
];

async function route() {
  if (!session.csrf) return;
  const hash = location.hash || '#/overview';
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    const el = main();
    el.replaceChildren(h('p', {}, 'Loading…'));
    for (const a of document.querySelectorAll('#nav a')) {
      if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    try {
      current = await page(el, ...m.slice(1).map(decodeURIComponent));
    } catch (e) {
      if (e.status !== 401) el.replaceChildren(h('h1', {}, 'Error'), h('p', { role: 'alert' }, e.message));
    }
    return;
  }
  location.hash = '#/overview';
}

let stream = null;
function live() {
  if (stream) stream.close();
  stream = new EventSource('/ui/events');
  const badge = document.getElementById('live');
  stream.addEventListener('open', () => { badge.textContent = 'live'; badge.className = 'live on'; });
  stream.addEventListener('error', () => { badge.textContent = 'reconnecting'; badge.className = 'live'; });
  stream.addEventListener('overview', (ev) => {
    const o = JSON.parse(ev.data);
    document.body.dataset.liveAt = o.time;
    if (current && current.live) current.live(o);
  });
}

function signedIn(info) {
  Object.assign(session, info);
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  document.getElementById('whoname').textContent = `${info.name} (${info.role})`;
  document.body.dataset.role = info.role;
  live();
  route();
}

function signedOut() {
  session.csrf = ''; session.role = '';
  if (stream) { stream.close(); stream = null; }
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  delete document.body.dataset.role;
  current = null;
  signInPage(main());
}

function signInPage(el) {
  const err = h('p', { role: 'alert', class: 'error' });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true });
  const form = h('form', { class: 'card narrow', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      signedIn(await call('POST', '/ui/session', { token: input.value }));
    } catch (e) { err.textContent = e.status === 401 ? 'That token is not known to this server.' : e.message; }
  } },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'Use an admin-API token (rampart server token makes one). The console keeps a session cookie, not the token.'),
  h('label', { for: 'token' }, 'Admin API token'), input,
  h('button', { type: 'submit' }, 'Sign in'), err);
  el.replaceChildren(form);
  input.focus();
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await call('DELETE', '/ui/session'); } catch { /* signed out either way */ }
  signedOut();
});

window.addEventListener('hashchange', route);
call('GET', '/ui/session').then(signedIn, () => signedOut());

// confirmAction asks the operator to confirm, naming what is acted on;
// with a reason field when `reason` is set. It resolves to the reason,
// or null when cancelled.
export function confirmAction(title, text, reason) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  const extra = document.getElementById('confirm-extra');
  const input = h('input', { id: 'confirm-reason', name: 'reason', required: reason === 'required' });
  extra.replaceChildren(...(reason ? [h('label', { for: 'confirm-reason' }, reason === 'required' ? 'Reason (required)' : 'Reason'), input] : []));
  return new Promise((resolve) => {
    const form = document.getElementById('confirm-form');
    const done = (v) => { form.onsubmit = null; document.getElementById('confirm-cancel').onclick = null; dlg.close(); resolve(v); };
    form.onsubmit = (ev) => { ev.preventDefault(); if (!form.reportValidity()) return; done(input.value); };
    document.getElementById('confirm-cancel').onclick = () => done(null);
    dlg.oncancel = () => done(null);
    dlg.showModal();
    (reason ? input : document.getElementById('confirm-ok')).focus();
  });
}
