// Durations and sizes as written in the config file. Both return undefined for
// anything they do not understand, so the validator can say which key is wrong.

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};

const QUANTITY = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/;

function parseQuantity(input: string | number, units: Readonly<Record<string, number>>): number | undefined {
  let value: number;
  if (typeof input === 'number') {
    value = input;
  } else {
    const m = QUANTITY.exec(input.trim());
    if (m === null) return undefined;
    const unit = m[2] ?? '';
    // hasOwn: a unit spelled "constructor" must not find Object.prototype's.
    const factor = unit === '' ? 1 : Object.hasOwn(units, unit) ? units[unit] : undefined;
    if (factor === undefined) return undefined;
    value = Number(m[1]) * factor;
  }
  if (!Number.isFinite(value) || value < 0) return undefined;
  const rounded = Math.round(value);
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** `250ms`, `5s`, `1.5m`, `1h`, `7d`, or a plain number of milliseconds -> integer ms.
 *  Negative, unitless-but-garbage or unknown units -> undefined. */
export function parseDuration(input: string | number): number | undefined {
  return parseQuantity(input, DURATION_UNITS);
}

/** `512KiB`, `1MiB`, `1GiB` (powers of 1024), `10KB`, `1MB`, `1GB` (powers of
 *  1000), `100B`, or a plain number of bytes -> integer bytes. Else undefined. */
export function parseSize(input: string | number): number | undefined {
  return parseQuantity(input, SIZE_UNITS);
}

/** Bytes written as the config would write them: `1GiB`, `64MiB`, `512KiB` when exact, else `1500B`. */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const factor = SIZE_UNITS[unit] ?? 1;
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
