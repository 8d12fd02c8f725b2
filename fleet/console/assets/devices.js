// Devices: the filtered, paged list, and one device's page.
import { h, table, time, hex, badge } from './dom.js';
import { call, can, confirmAction } from './app.js';
import { lineChart, series } from './chart.js';

export async function devicesPage(el) {
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const q = h('input', { id: 'f-q', name: 'q', placeholder: 'device ID prefix' });
  const state = h('select', { id: 'f-state', name: 'state' }, ['', 'active', 'registered', 'suspended', 'decommissioned'].map((v) => h('option', { value: v }, v || 'any')));
  const fw = h('input', { id: 'f-fw', name: 'firmware', placeholder: 'e.g. 1.0.0' });
  const mfr = h('input', { id: 'f-mfr', name: 'manufacturer' });
  const online = h('select', { id: 'f-online', name: 'online' }, [['', 'any'], ['yes', 'online'], ['no', 'offline']].map(([v, t]) => h('option', { value: v }, t)));
  const seen = h('select', { id: 'f-seen', name: 'seen' }, [['', 'any time'], ['1h', 'last hour'], ['24h', 'last day'], ['168h', 'last week']].map(([v, t]) => h('option', { value: v }, t)));
  const out = h('div', { 'aria-live': 'polite' });
  let pages = ['']; // the After of each page shown so far
  const load = async () => {
    const p = new URLSearchParams({ q: q.value, state: state.value, firmware: fw.value, manufacturer: mfr.value, online: online.value, seen: seen.value, after: pages[pages.length - 1], limit: 50 });
    const r = await call('GET', '/ui/data/devices?' + p);
    out.replaceChildren(
      h('p', { 'data-k': 'total' }, `${r.total} devices match; page ${pages.length}.`),
      table('Devices', ['Device', 'State', 'Online', 'Firmware', 'Manufacturer', 'Last attested'], r.devices.map((d) => [
        h('a', { href: '#/devices/' + encodeURIComponent(d.id) }, d.id), badge(d.state), d.online ? 'online' : 'offline', d.firmware || '—', d.manufacturer, time(d.last_attested)]), 'No device matches.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', disabled: pages.length === 1, onclick: () => { pages.pop(); load(); } }, 'Previous page'),
        h('button', { type: 'button', class: 'secondary', disabled: !r.next, onclick: () => { pages.push(r.next); load(); } }, 'Next page')));
  };
  const form = h('form', { class: 'filters card', role: 'search', onsubmit: (ev) => { ev.preventDefault(); pages = ['']; load(); } },
    field('f-q', 'Search', q), field('f-state', 'State', state), field('f-fw', 'Firmware', fw), field('f-mfr', 'Manufacturer', mfr),
    field('f-online', 'Online', online), field('f-seen', 'Last seen', seen), h('button', { type: 'submit' }, 'Filter'));
  el.replaceChildren(h('h1', {}, 'Devices'), form, out);
  await load();
  return { live: () => {} };
}

const RANGES = [['15m', 15 * 60e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 24 * 3600e3], ['7d', 7 * 24 * 3600e3]];

export async function devicePage(el, id) {
  const enc = encodeURIComponent(id);
  const head = h('div', {});
  const chartBox = h('section', { class: 'card', 'aria-labelledby': 'h-tel' });
  const rest = h('div', {});
  el.replaceChildren(h('h1', {}, 'Device ', h('code', {}, id)), head, chartBox, rest);

  let range = 3600e3, to = Date.now(), from = to - range, zoomed = false, selected = null, data = new Map();
  const drawChart = () => {
    const names = [...data.keys()].sort();
    if (selected === null) selected = names.filter((n) => n !== 'fw_version' && n !== 'update_ok').slice(0, 3);
    const boxes = names.map((n) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'series', value: n, checked: selected.includes(n),
      onchange: (ev) => { selected = ev.target.checked ? [...selected, n] : selected.filter((x) => x !== n); drawChart(); } }), n));
    const rangeSel = h('select', { id: 'range', onchange: (ev) => { range = +ev.target.value; zoomed = false; loadChart(); } },
      RANGES.map(([t, ms]) => h('option', { value: ms, selected: ms === range }, t)));
    chartBox.replaceChildren(h('h2', { id: 'h-tel' }, 'Telemetry'),
      h('div', { class: 'toolbar' }, h('label', { for: 'range' }, 'Range'), rangeSel,
        zoomed ? h('button', { type: 'button', class: 'secondary', onclick: () => { zoomed = false; loadChart(); } }, 'Reset zoom') : null,
        h('fieldset', { class: 'series' }, h('legend', {}, 'Series'), boxes.length ? boxes : 'none')),
      lineChart(data, selected, from, to, ([a, b]) => { from = a; to = b; zoomed = true; loadChart(); }),
      h('p', { class: 'hint' }, 'Drag across the chart to zoom into a time range.'));
  };
  const loadChart = async () => {
    if (!zoomed) { to = Date.now(); from = to - range; }
    const p = new URLSearchParams({ device: id, from: Math.floor(from), to: Math.ceil(to) + 1, limit: 20000 });
    data = series(await call('GET', '/ui/api/v1/telemetry?' + p));
    drawChart();
  };

  const load = async () => {
    const [d, v, audit] = await Promise.all([
      call('GET', '/ui/api/v1/devices/' + enc), call('GET', '/ui/data/devices/' + enc),
      call('GET', '/ui/api/v1/audit?' + new URLSearchParams({ subject: id, limit: 50 }))]);
    head.replaceChildren(
      h('div', { class: 'grid2' },
        h('section', { class: 'card', 'aria-labelledby': 'h-id' }, h('h2', { id: 'h-id' }, 'Identity'),
          h('dl', {},
            h('dt', {}, 'State'), h('dd', { 'data-k': 'state' }, badge(d.state), d.reason ? ` (${d.reason})` : ''),
            h('dt', {}, 'Connection'), h('dd', { 'data-k': 'online' }, v.online ? 'online' : 'offline'),
            h('dt', {}, 'Manufacturer'), h('dd', {}, d.manufacturer || '—'),
            h('dt', {}, 'Instance ID'), h('dd', {}, h('code', { class: 'wrap' }, hex(d.instance_id))),
            h('dt', {}, 'Implementation ID'), h('dd', {}, h('code', { class: 'wrap' }, hex(d.implementation_id) || '—')),
            h('dt', {}, 'Enrolled'), h('dd', {}, time(d.enrolled)),
            h('dt', {}, 'Last attested'), h('dd', {}, time(d.last_attested)))),
        h('section', { class: 'card', 'aria-labelledby': 'h-att' }, h('h2', { id: 'h-att' }, 'Last attestation'),
          v.attested ? h('dl', {}, h('dt', {}, 'Decision'), h('dd', {}, `${v.attested.action} ${v.attested.decision} at `, time(v.attested.time)),
            h('dt', {}, 'Outcome'), h('dd', {}, v.attested.reason)) : h('p', { class: 'empty' }, 'Not attested yet.'),
          claimsView(v.attestations[0]),
          actions(d))),
      h('section', { class: 'card', 'aria-labelledby': 'h-certs' }, h('h2', { id: 'h-certs' }, 'Certificates'),
        table('Certificate history, with the firmware each attestation measured', ['Serial', 'Not before', 'Not after', 'Revoked', 'Attested firmware'], (d.certificates || []).map((c) => {
          const a = v.attestations.find((x) => x.serial === c.serial);
          return [h('code', {}, c.serial), time(c.not_before), time(c.not_after), time(c.revoked),
            a ? a.claims.software_components.map((sc) => `${sc.type || '?'} ${sc.version || '?'}`).join(', ') : '—'];
        }), 'No certificate issued.')));
    rest.replaceChildren(
      h('div', { class: 'grid2' },
        h('section', { class: 'card', 'aria-labelledby': 'h-fwh' }, h('h2', { id: 'h-fwh' }, 'Firmware history'),
          table('Firmware versions the device reported', ['Version', 'Since'], v.firmware.map((f) => [f.version, time(f.since)]), 'No version reported.')),
        h('section', { class: 'card', 'aria-labelledby': 'h-dc' }, h('h2', { id: 'h-dc' }, 'Campaigns'),
          table('Campaigns that targeted the device', ['Campaign', 'Version', 'Status', 'Reason'], v.campaigns.map((c) => [
            h('a', { href: '#/campaigns/' + encodeURIComponent(c.id) }, c.id), c.version, badge(c.status), c.reason || '']), 'Not targeted by any campaign.'))),
      h('section', { class: 'card', 'aria-labelledby': 'h-aud' }, h('h2', { id: 'h-aud' }, 'Audit entries'),
        table('The device in the audit log', ['Time', 'Actor', 'Action', 'Decision', 'Reason'], audit.map((e) => [time(e.time), e.actor, e.action, badge(e.decision), e.reason]), 'No entry.')));
  };

  const act = async (action, reason) => {
    const why = await confirmAction(`${action[0].toUpperCase() + action.slice(1)} device`, `${action[0].toUpperCase() + action.slice(1)} device ${id}?`, reason);
    if (why === null) return;
    try {
      await call('POST', `/ui/api/v1/devices/${enc}/${action}`, why ? { reason: why } : {});
    } catch (e) { alertBox(e.message); }
    await load();
  };
  const actions = (d) => {
    const list = [];
    if (can('operator') && (d.state === 'active' || d.state === 'registered')) list.push(['suspend', 'required']);
    if (can('operator') && d.state === 'suspended') list.push(['resume', 'optional']);
    if (can('admin') && d.state !== 'decommissioned') list.push(['decommission', 'required']);
    if (can('admin') && d.state === 'decommissioned') list.push(['reprovision', 'required']);
    if (!list.length) return null;
    return h('div', { class: 'actions' }, list.map(([a, r]) => h('button', { type: 'button', class: a === 'resume' ? '' : 'danger', 'data-action': a, onclick: () => act(a, r) }, a[0].toUpperCase() + a.slice(1))));
  };
  const alertBox = (msg) => head.prepend(h('p', { role: 'alert', class: 'error' }, msg));

  await Promise.all([load(), loadChart()]);
  let last = 0;
  return { live: () => { if (Date.now() - last > 4000) { last = Date.now(); load(); if (!zoomed) loadChart(); } } };
}

// claimsView shows the decoded claims of an attestation: what the fleet
// verified in the token the device's certificate was issued on.
function claimsView(a) {
  if (!a) return null;
  const c = a.claims;
  return h('div', { 'data-k': 'claims' },
    h('h3', {}, 'Claims of the token'),
    h('dl', {},
      h('dt', {}, 'Profile'), h('dd', {}, c.profile || '—'),
      h('dt', {}, 'Lifecycle'), h('dd', {}, c.lifecycle),
      h('dt', {}, 'Client ID'), h('dd', {}, c.client_id),
      h('dt', {}, 'Implementation ID'), h('dd', {}, h('code', { class: 'wrap' }, c.implementation_id)),
      c.boot_seed ? [h('dt', {}, 'Boot seed'), h('dd', {}, h('code', { class: 'wrap' }, c.boot_seed))] : null,
      c.certification_reference ? [h('dt', {}, 'Certification reference'), h('dd', {}, c.certification_reference)] : null,
      c.verification_service ? [h('dt', {}, 'Verification service'), h('dd', {}, c.verification_service)] : null,
      h('dt', {}, 'Nonce'), h('dd', {}, h('code', { class: 'wrap' }, c.nonce))),
    table('Software components measured at boot', ['Type', 'Version', 'Signer ID', 'Measurement'], c.software_components.map((sc) => [
      sc.type || '—', sc.version || '—', h('code', { class: 'wrap' }, sc.signer_id), h('code', { class: 'wrap' }, sc.measurement)]), 'No software measurement.'));
}
