// Overview: the fleet at a glance, updated by every live event.
import { h, table, time, badge } from './dom.js';
import { bars } from './chart.js';
import { call } from './app.js';

const STATE_COLORS = { active: '#1b6e34', registered: '#1f5fbf', suspended: '#8a5a00', decommissioned: '#a4161a' };

export async function overviewPage(el) {
  const body = h('div', {});
  el.replaceChildren(h('h1', {}, 'Overview'), body);
  const draw = (o) => {
    const states = ['active', 'registered', 'suspended', 'decommissioned'].map((k) => [k, o.states[k] || 0]);
    const fw = Object.entries(o.firmware).sort();
    const active = o.campaigns.filter((c) => c.state !== 'completed' && c.state !== 'cancelled');
    body.replaceChildren(
      h('section', { class: 'cards', 'aria-label': 'Key figures' },
        card('Devices', o.total, 'total'),
        card('Online now', o.online, 'online'),
        card('Enrollments / min', o.enrollments_per_minute.toFixed(1), 'enroll-rate'),
        card('Telemetry samples / min', o.samples_per_minute.toFixed(0), 'sample-rate')),
      h('div', { class: 'grid2' },
        h('section', { class: 'card', 'aria-labelledby': 'h-states' }, h('h2', { id: 'h-states' }, 'Devices by state'), bars('Devices by state', states, STATE_COLORS)),
        h('section', { class: 'card', 'aria-labelledby': 'h-fw' }, h('h2', { id: 'h-fw' }, 'Firmware versions'),
          fw.length ? bars('Firmware versions', fw) : h('p', { class: 'empty' }, 'No device has reported a version yet.'))),
      h('section', { class: 'card', 'aria-labelledby': 'h-camp' }, h('h2', { id: 'h-camp' }, 'Active campaigns'),
        table('Campaigns not finished', ['Campaign', 'Version', 'State', 'Phase', 'Verified'], active.map((c) => [
          h('a', { href: '#/campaigns/' + encodeURIComponent(c.id) }, c.id), c.version, badge(c.state), c.phase_name,
          `${c.counts.verified || 0} / ${c.total}`]), 'No campaign is running.')),
      h('section', { class: 'card', 'aria-labelledby': 'h-ref' }, h('h2', { id: 'h-ref' }, 'Recent refusals'),
        table('The last refused requests', ['Time', 'Actor', 'Action', 'Subject', 'Reason'], o.refusals.map((e) => [
          time(e.time), e.actor, e.action, e.subject, e.reason]), 'No refusal recorded.')));
  };
  draw(await call('GET', '/ui/data/overview'));
  return { live: draw };
}

function card(label, value, key) {
  return h('div', { class: 'card stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value', 'data-k': key }, value));
}
