// Campaigns: the list, the creation form with a live count of targets,
// and one campaign's live funnel with its controls.
import { h, table, time, badge } from './dom.js';
import { call, can, confirmAction } from './app.js';

const STATUSES = ['queued', 'notified', 'downloading', 'downloaded', 'installing', 'rebooted', 'verified', 'failed', 'reverted', 'cancelled'];
const FAILED = new Set(['failed', 'reverted']);

export async function campaignsPage(el) {
  const list = h('div', {});
  const load = async () => {
    const cs = await call('GET', '/ui/api/v1/campaigns');
    list.replaceChildren(table('Campaigns', ['Campaign', 'Version', 'State', 'Phase', 'Verified', 'Failed', 'Reason'], cs.map((c) => [
      h('a', { href: '#/campaigns/' + encodeURIComponent(c.id) }, c.id), c.version, badge(c.state), c.phase_name,
      `${c.counts.verified || 0} / ${c.total}`, (c.counts.failed || 0) + (c.counts.reverted || 0), c.reason || '']), 'No campaign yet.'));
  };
  const parts = [h('h1', {}, 'Campaigns')];
  if (can('operator')) parts.push(await createForm());
  parts.push(h('section', { class: 'card', 'aria-labelledby': 'h-cl' }, h('h2', { id: 'h-cl' }, 'All campaigns'), list));
  el.replaceChildren(...parts);
  await load();
  return { live: load };
}

async function createForm() {
  const rels = await call('GET', '/ui/api/v1/releases');
  const toHex = (b64) => [...atob(b64)].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  const field = (id, label, input, hint) => h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { id: id + '-hint' }, hint) : null);
  const id = h('input', { id: 'c-id', name: 'id', required: true, pattern: '[A-Za-z0-9._-]{1,64}' });
  const release = h('select', { id: 'c-release', name: 'release', required: true }, rels.map((r) => h('option', { value: toHex(r.digest) }, `${r.version} (${r.sw_type}, ${toHex(r.digest).slice(0, 12)}…)`)));
  const states = ['active', 'registered', 'suspended'].map((st) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'states', value: st, checked: st === 'active' }), st));
  const mfr = h('input', { id: 'c-mfr', name: 'manufacturer' });
  const prefix = h('input', { id: 'c-prefix', name: 'id_prefix' });
  const versions = h('input', { id: 'c-versions', name: 'versions', placeholder: 'e.g. 1.0.0, 1.0.1' });
  const devices = h('input', { id: 'c-devices', name: 'devices', placeholder: 'comma-separated IDs' });
  const phases = h('input', { id: 'c-phases', name: 'phases', value: '10, 50, 100', 'aria-describedby': 'c-phases-hint' });
  const failure = h('input', { id: 'c-failure', name: 'failure', type: 'number', step: '0.01', min: '0', max: '1', value: '0.2' });
  const success = h('input', { id: 'c-success', name: 'success', type: 'number', step: '0.01', min: '0', max: '1', value: '' });
  const approve = h('input', { id: 'c-approve', name: 'approve', type: 'checkbox' });
  const conc = h('input', { id: 'c-conc', name: 'max_concurrent', type: 'number', min: '0', value: '' });
  const wStart = h('input', { id: 'c-wstart', name: 'window_start', type: 'time' });
  const wEnd = h('input', { id: 'c-wend', name: 'window_end', type: 'time' });
  const count = h('output', { id: 'c-count', for: 'c-mfr c-prefix c-versions c-devices', 'aria-live': 'polite' }, '…');
  const msg = h('div', {});
  const filter = () => ({
    states: states.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
    manufacturer: mfr.value.trim(), id_prefix: prefix.value.trim(),
    versions: versions.value.split(',').map((x) => x.trim()).filter(Boolean), devices: devices.value.split(',').map((x) => x.trim()).filter(Boolean),
  });
  let timer = null;
  const recount = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const f = filter();
      const p = new URLSearchParams({ states: f.states.join(','), manufacturer: f.manufacturer, id_prefix: f.id_prefix, versions: f.versions.join(','), devices: f.devices.join(',') });
      try { count.textContent = `${(await call('GET', '/ui/data/targets?' + p)).count} devices match`; } catch (e) { count.textContent = e.message; }
    }, 250);
  };
  const form = h('form', { class: 'card', id: 'create-campaign', oninput: recount, onsubmit: async (ev) => {
    ev.preventDefault();
    const pcts = phases.value.split(',').map((x) => parseFloat(x)).filter((x) => x > 0);
    const spec = { id: id.value, release: release.value, filter: filter(), phases: pcts.map((p, i) => ({
      percent: p, failure_threshold: parseFloat(failure.value) || undefined, success_threshold: parseFloat(success.value) || undefined, approve: i === 0 && approve.checked ? true : undefined })) };
    if (+conc.value > 0) spec.max_concurrent = +conc.value;
    if (wStart.value && wEnd.value) spec.window = { start: wStart.value, end: wEnd.value };
    try {
      const s = await call('POST', '/ui/api/v1/campaigns', spec);
      location.hash = '#/campaigns/' + encodeURIComponent(s.id);
    } catch (e) { msg.replaceChildren(h('p', { role: 'alert', class: 'error' }, `Refused (${e.status}): ${e.message}`)); }
  } },
  h('h2', {}, 'New campaign'),
  h('div', { class: 'formgrid' },
    field('c-id', 'Campaign ID', id), field('c-release', 'Release', release),
    h('fieldset', { class: 'field' }, h('legend', {}, 'Device states'), states),
    field('c-mfr', 'Manufacturer', mfr), field('c-prefix', 'Device ID prefix', prefix), field('c-versions', 'Current firmware versions', versions),
    field('c-devices', 'Devices', devices), field('c-phases', 'Phases (cumulative %)', phases, 'Each phase covers this share of the targets.'),
    field('c-failure', 'Failure threshold (share, pauses)', failure), field('c-success', 'Success threshold (share)', success),
    h('div', { class: 'field' }, h('label', { class: 'check', for: 'c-approve' }, approve, 'Approve the first phase before it starts')),
    field('c-conc', 'Max concurrent devices', conc), field('c-wstart', 'Maintenance window start (UTC)', wStart), field('c-wend', 'Maintenance window end (UTC)', wEnd)),
  h('p', {}, 'Targets: ', count),
  h('button', { type: 'submit' }, 'Create campaign'), msg);
  recount();
  return form;
}

export async function campaignPage(el, id) {
  const enc = encodeURIComponent(id);
  const body = h('div', {});
  el.replaceChildren(h('h1', {}, 'Campaign ', h('code', {}, id)), body);
  let lastKey = '';
  const load = async () => {
    const c = await call('GET', `/ui/api/v1/campaigns/${enc}?devices=true`);
    lastKey = c.updated + c.state + JSON.stringify(c.counts);
    const devs = c.devices || [];
    const failing = devs.filter((d) => FAILED.has(d.status));
    const auto = c.state === 'paused' && !/^paused by /.test(c.reason || '');
    body.replaceChildren(
      h('section', { class: 'card', 'aria-labelledby': 'h-cs' }, h('h2', { id: 'h-cs' }, 'Status'),
        h('p', {}, 'State ', h('span', { 'data-k': 'state' }, badge(c.state)), ` · release ${c.version} · phase ${c.phase + 1} of ${c.phases.length} (${c.phase_name}) · ${c.counts.verified || 0} of ${c.total} verified`),
        c.state === 'paused' ? h('div', { class: 'pause', role: 'alert', 'data-k': 'pause' }, h('strong', {}, auto ? 'Paused automatically: ' : 'Paused: '), c.reason || '') : null,
        c.state !== 'paused' && c.reason ? h('p', {}, c.reason) : null,
        controls(c)),
      h('section', { class: 'card', 'aria-labelledby': 'h-fun' }, h('h2', { id: 'h-fun' }, 'Phases'),
        c.phases.map((p, i) => funnel(p, i, devs.filter((d) => d.phase === i), i === c.phase))),
      h('section', { class: 'card', 'aria-labelledby': 'h-fail' }, h('h2', { id: 'h-fail' }, 'Failing devices'),
        table('Devices whose update failed', ['Device', 'Phase', 'Status', 'Reason'], failing.map((d) => [
          h('a', { href: '#/devices/' + encodeURIComponent(d.id) }, d.id), d.phase + 1, badge(d.status), d.reason || '']), 'No failure.')),
      h('p', {}, 'Created ', time(c.created), ' · updated ', time(c.updated)));
  };
  const controls = (c) => {
    if (!can('operator')) return null;
    const allowed = { running: ['pause', 'cancel'], 'awaiting-approval': ['approve', 'pause', 'cancel'], paused: ['resume', 'cancel'] }[c.state] || [];
    return h('div', { class: 'actions' }, allowed.map((a) => h('button', { type: 'button', class: a === 'cancel' ? 'danger' : '', 'data-action': a, onclick: async () => {
      const why = await confirmAction(`${a[0].toUpperCase() + a.slice(1)} campaign`, `${a[0].toUpperCase() + a.slice(1)} campaign ${id}?`, 'optional');
      if (why === null) return;
      try { await call('POST', `/ui/api/v1/campaigns/${enc}/${a}`, why ? { reason: why } : {}); } catch (e) { body.prepend(h('p', { role: 'alert', class: 'error' }, e.message)); }
      await load();
    } }, a[0].toUpperCase() + a.slice(1))));
  };
  await load();
  return { live: (o) => {
    const s = o.campaigns.find((x) => x.id === id);
    if (s && s.updated + s.state + JSON.stringify(s.counts) !== lastKey) load();
  } };
}

// funnel draws a phase as its devices by status, in the order an update
// passes through them.
function funnel(p, i, devs, current) {
  const counts = Object.fromEntries(STATUSES.map((st) => [st, devs.filter((d) => d.status === st).length]));
  const max = Math.max(1, p.devices);
  return h('div', { class: 'phase' + (current ? ' current' : ''), 'data-phase': i },
    h('h3', {}, `Phase ${i + 1}: ${p.name} — ${p.verified} of ${p.devices} verified, ${p.failed} failed, ${p.in_flight} in flight`),
    h('ol', { class: 'funnel', 'aria-label': `Phase ${i + 1} devices by status` }, STATUSES.filter((st) => counts[st] > 0 || !['reverted', 'cancelled'].includes(st)).map((st) =>
      h('li', { class: 'fl-' + st },
        h('span', { class: 'fl-name' }, st),
        h('span', { class: 'fl-bar', style: undefined, 'data-n': counts[st] }, h('span', { class: 'fl-fill w' + Math.round(counts[st] / max * 20) })),
        h('span', { class: 'fl-n', 'data-k': 'count-' + st }, counts[st])))));
}
