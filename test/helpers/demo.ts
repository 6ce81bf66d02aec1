// What a demo prints, read back for the demo tests (test/demo/): its summary
// table, and an output stream that keeps what was written.
import { Writable } from 'node:stream';

export interface Row {
  route: string;
  mirrored: number;
  compared: number;
  rate: number | null;
  noise: number;
  fields: string;
}

/** The rows of the summary table the demo prints. */
export function parseSummary(text: string): Map<string, Row> {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^\s+route\s+mirrored\s+compared\s+mismatch rate\s+noise\s+top fields/.test(l));
  const rows = new Map<string, Row>();
  if (start === -1) return rows;
  for (const line of lines.slice(start + 2)) {
    if (line.trim() === '') break;
    const [route = '', mirrored = '', compared = '', rate = '', noise = '', ...fields] = line.trim().split(/\s{2,}/);
    rows.set(route, {
      route,
      mirrored: Number(mirrored),
      compared: Number(compared),
      rate: rate === '-' ? null : Number(rate.replace('%', '')),
      noise: Number(noise),
      fields: fields.join('  '),
    });
  }
  return rows;
}

export function capture(): { out: NodeJS.WritableStream & { isTTY: boolean }; text: () => string } {
  let text = '';
  const out = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString('utf8');
        cb();
      },
    }),
    { isTTY: false },
  );
  return { out, text: () => text };
}
