// The answer every benchmark backend gives: a ~1 KB JSON document, built the same
// way in every process, so a live and a dark backend answer byte for byte alike
// (umbra's comparisons match) whichever file serves it.

const items = [];
for (let i = 0; items.length < 8; i++) {
  items.push({ id: i, sku: `SKU-${String(i).padStart(6, '0')}`, name: `Item number ${i}`, price: i * 1.25, tags: ['alpha', i % 2 ? 'odd' : 'even'] });
}
let doc = { service: 'bench-backend', total: items.length, items, padding: '' };
const text = JSON.stringify(doc);
doc = { ...doc, padding: 'x'.repeat(Math.max(0, 1024 - text.length)) };

export const BODY = Buffer.from(JSON.stringify(doc));
export const HEADERS = Object.freeze({ 'content-type': 'application/json', 'content-length': String(BODY.length) });
