// Releases: upload (admins) with the server's verification result, and
// the list with where each release runs.
import { h, table, time, hex } from './dom.js';
import { call, can } from './app.js';

export async function releasesPage(el) {
  const result = h('div', { 'aria-live': 'polite' });
  const list = h('div', {});
  const load = async () => {
    const [rels, runs] = await Promise.all([call('GET', '/ui/api/v1/releases'), call('GET', '/ui/data/releases')]);
    const short = (x) => h('code', { title: x }, x.slice(0, 16) + '…');
    list.replaceChildren(table('Registered releases', ['Version', 'Type', 'Measurement', 'Signer ID', 'Size', 'Registered', 'Reported running on'], rels.map((r) => {
      const w = runs[r.version];
      return [r.version, r.sw_type, short(hex(r.digest)), short(hex(r.signer_id)), `${r.size} B`, time(r.created),
        w ? h('span', {}, `${w.count} device${w.count === 1 ? '' : 's'}: `, w.devices.slice(0, 3).map((id, i) => [i ? ', ' : '', h('a', { href: '#/devices/' + encodeURIComponent(id) }, id.slice(0, 12) + '…')]), w.count > 3 ? ', …' : '') : '—'];
    }), 'No release registered.'),
    h('p', { class: 'hint' }, 'Running on: the firmware version devices report (fw_version) after an update; a device never updated through a campaign reports none. The device page shows what each attestation measured.'));
  };
  const parts = [h('h1', {}, 'Releases')];
  if (can('admin')) {
    const file = h('input', { id: 'rel-file', type: 'file', name: 'image', required: true });
    const comment = h('input', { id: 'rel-comment', name: 'comment' });
    parts.push(h('form', { class: 'card', onsubmit: async (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) return;
      try {
        const { data: r, headers } = await call('POST', '/ui/api/v1/releases?' + new URLSearchParams({ comment: comment.value }), await f.arrayBuffer(), { raw: true, withHeaders: true });
        result.replaceChildren(h('div', { class: 'ok', role: 'status' }, h('h3', {}, 'Verified and registered'),
          h('dl', {}, h('dt', {}, 'Version'), h('dd', {}, r.version), h('dt', {}, 'Type'), h('dd', {}, r.sw_type),
            h('dt', {}, 'Signer ID'), h('dd', {}, h('code', { class: 'wrap' }, hex(r.signer_id))),
            h('dt', {}, 'Security counter'), h('dd', { 'data-k': 'security-counter' }, headers.get('Rampart-Security-Counter') || '—'),
            h('dt', {}, 'Measurement'), h('dd', {}, h('code', { class: 'wrap' }, hex(r.digest))),
            h('dt', {}, 'Image SHA-256'), h('dd', {}, h('code', { class: 'wrap' }, headers.get('Rampart-Image-SHA256') || '—')))));
      } catch (e) {
        result.replaceChildren(h('p', { role: 'alert', class: 'error' }, `Refused (${e.status}): ${e.message}`));
      }
      load();
    } }, h('h2', {}, 'Upload a signed image'),
    h('label', { for: 'rel-file' }, 'Signed image (MCUboot format)'), file,
    h('label', { for: 'rel-comment' }, 'Comment'), comment,
    h('button', { type: 'submit' }, 'Upload and verify'), result));
  }
  parts.push(h('section', { class: 'card', 'aria-labelledby': 'h-rels' }, h('h2', { id: 'h-rels' }, 'Registered releases'), list));
  el.replaceChildren(...parts);
  await load();
  return { live: () => {} };
}
