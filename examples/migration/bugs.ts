// The four planted migration bugs of the new version, each a real-world kind and
// each visible at its own field path. All are on unless SHOP_BUGS says otherwise:
//   SHOP_BUGS=collation,decimal   only these two
//   SHOP_BUGS=none                the fixed new version (answers like the old one)

export const BUGS = ['collation', 'timestamp', 'null', 'decimal'] as const;
export type Bug = (typeof BUGS)[number];
export type Bugs = ReadonlySet<Bug>;

export const NO_BUGS: Bugs = new Set<Bug>();
export const ALL_BUGS: Bugs = new Set<Bug>(BUGS);

/** What each bug is, where umbra shows it, and the fix, as the walkthrough prints it. */
export const BUG_INFO: Readonly<Record<Bug, { readonly field: string; readonly what: string; readonly fix: string }>> = {
  collation: {
    field: '$.products',
    what: "ORDER BY name: MariaDB's utf8mb4_general_ci ignores case and accents, PostgreSQL's C.UTF-8 orders by bytes (Zucchini before apple, Éclair last)",
    fix: 'ORDER BY name COLLATE shop_ci (ICU und-u-ks-level1, nondeterministic)',
  },
  timestamp: {
    field: '$.createdAt',
    what: 'DATETIME keeps whole seconds (MariaDB truncates the fraction); timestamptz keeps microseconds',
    fix: "date_trunc('second', ...) on insert (not timestamptz(0): that rounds, MariaDB truncates)",
  },
  null: {
    field: '$.note',
    what: "an empty note: the old code stores '' (NOT NULL DEFAULT ''), the new code stores NULL in a column the converter made nullable",
    fix: "store '' for an absent note, as the old code does",
  },
  decimal: {
    field: '$.total',
    what: 'tax moved from SQL DECIMAL (ROUND(subtotal * 0.075, 2), exact, half up) into JavaScript floats: (9.80 * 0.075).toFixed(2) is "0.73", not "0.74"',
    fix: 'compute the tax in numeric, as before',
  },
};

/** SHOP_BUGS: absent = all, "none" or "" = none, else a comma-separated list. */
export function parseBugs(text: string | undefined): Bugs {
  if (text === undefined) return ALL_BUGS;
  const words = text
    .split(',')
    .map((w) => w.trim().toLowerCase())
    .filter((w) => w !== '');
  if (words.length === 0 || (words.length === 1 && words[0] === 'none')) return NO_BUGS;
  if (words.length === 1 && words[0] === 'all') return ALL_BUGS;
  const bad = words.filter((w) => !(BUGS as readonly string[]).includes(w));
  if (bad.length > 0) throw new Error(`SHOP_BUGS: unknown bug ${bad.map((b) => `"${b}"`).join(', ')}; known: ${BUGS.join(', ')}, all, none`);
  return new Set(words as Bug[]);
}

export function formatBugs(bugs: Bugs): string {
  return bugs.size === 0 ? 'none' : BUGS.filter((b) => bugs.has(b)).join(',');
}
