// Audit log: filters and export (JSON or CSV of the entries shown).
import { h, table, time, badge } from './dom.js';
import { call } from './app.js';

export async function auditPage(el) {
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const subject = h('input', { id: 'a-subject', name: 'subject' });
  const action = h('input', { id: 'a-action', name: 'action', placeholder: 'e.g. device.suspend' });
  const decision = h('select', { id: 'a-decision', name: 'decision' }, [['', 'any'], ['allow', 'allow'], ['deny', 'deny']].map(([v, t]) => h('option', { value: v }, t)));
  const since = h('input', { id: 'a-since', name: 'since', type: 'datetime-local' });
  const limit = h('input', { id: 'a-limit', name: 'limit', type: 'number', min: 1, max: 100000, value: 200 });
  const out = h('div', { 'aria-live': 'polite' });
  let entries = [];
  const load = async () => {
    const p = new URLSearchParams({ subject: subject.value, action: action.value, decision: decision.value, limit: limit.value });
    if (since.value) p.set('since', new Date(since.value + 'Z').getTime());
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    entries = await call('GET', '/ui/api/v1/audit?' + p);
    out.replaceChildren(h('p', {}, `${entries.length} entries, newest first.`),
      table('Audit entries', ['Time', 'Actor', 'Action', 'Subject', 'Decision', 'Reason'], entries.map((e) => [time(e.time), e.actor, e.action, e.subject, badge(e.decision), e.reason]), 'No entry matches.'));
  };
  const download = (name, type, text) => {
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
    document.body.append(a); a.click(); a.remove();
  };
  const csv = () => {
    const q = (v) => '"' + String(v ?? '').replaceAll('"', '""') + '"';
    return ['id,time,actor,action,subject,decision,reason', ...entries.map((e) => [e.id, e.time, e.actor, e.action, e.subject, e.decision, e.reason].map(q).join(','))].join('\n') + '\n';
  };
  el.replaceChildren(h('h1', {}, 'Audit log'),
    h('form', { class: 'filters card', role: 'search', onsubmit: (ev) => { ev.preventDefault(); load(); } },
      field('a-subject', 'Subject', subject), field('a-action', 'Action', action), field('a-decision', 'Decision', decision),
      field('a-since', 'Since (UTC)', since), field('a-limit', 'At most', limit), h('button', { type: 'submit' }, 'Filter'),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('audit.json', 'application/json', JSON.stringify(entries, null, 2)) }, 'Export JSON'),
      h('button', { type: 'button', class: 'secondary', onclick: () => download('audit.csv', 'text/csv', csv()) }, 'Export CSV')),
    out);
  await load();
  return { live: () => {} };
}
