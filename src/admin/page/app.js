// The divergence page: reads /api/routes, /api/divergences and /api/verdict
// (DESIGN §7, §12) every few seconds and renders them. Plain DOM, no framework, no build step. Values
// from the API are only ever put in the page as text, never as HTML.
//
// Difference values are sample values (docs/compare.md#sample-values): JSON
// whose big integers are exact and whose cuts are marked by a member named "…".
// The API text is read with parseJson below, never JSON.parse, so a number a
// double would round is shown as the API wrote it; a marker is shown as a marker
// (styled apart, never quoted), not as data.
'use strict';

const REFRESH_MS = 3000;
const SAMPLE_LIMIT = 50;
const TOKEN_KEY = 'umbra.adminToken';

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  route: '', // '' = all routes
  since: '', // '' = since start; else a duration for ?since= (the Window control)
  fleet: false, // the last /api/routes answer was the fleet's (a store is set)
  selected: null, // the divergence shown in the detail pane
  paused: false,
  timer: null,
  lastRoutes: '',
  lastSamples: '',
  lastRelease: '',
  updated: null, // time of the last successful read
};

class AuthError extends Error {}

// --- data ---------------------------------------------------------------

async function api(path) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) throw new AuthError('token needed');
  const text = await res.text();
  let body = {};
  try {
    body = parseJson(text);
  } catch {
    // not JSON: the status says what went wrong
  }
  if (!res.ok) throw new Error(`${path}: ${res.status} ${body.error || res.statusText}`);
  return body;
}

async function refresh() {
  clearTimeout(state.timer);
  const query = new URLSearchParams({ limit: String(SAMPLE_LIMIT) });
  if (state.route) query.set('route', state.route);
  const window = new URLSearchParams();
  if (state.since) {
    query.set('since', state.since);
    window.set('since', state.since);
  }
  const routesPath = state.since ? `api/routes?${window}` : 'api/routes';
  try {
    // Relative URLs: the page still works behind a path-prefixing proxy.
    // The verdicts are extra: without them (no dark backend: 409) the chips fall back to
    // the verdict /api/routes carries, without reasons.
    const [routes, samples, verdicts] = await Promise.all([
      api(routesPath),
      api(`api/divergences?${query}`),
      api('api/verdict').catch(() => null),
    ]);
    showError('');
    const byRoute = new Map(((verdicts && verdicts.routes) || []).map((v) => [v.route, v]));
    renderRoutes(routes, byRoute);
    renderRelease(routes.routes || [], byRoute);
    renderSamples(samples.divergences || []);
    state.updated = new Date();
    setStatus();
  } catch (err) {
    if (err instanceof AuthError) return askForToken();
    showError(`Cannot read the admin API: ${err.message}`);
    setStatus();
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (!state.paused && !document.hidden) state.timer = setTimeout(refresh, REFRESH_MS);
}

// --- exact JSON -------------------------------------------------------------

/** A JSON number a double would round, kept as the text the API wrote. */
class Exact {
  constructor(text) {
    this.text = text;
  }
  toJSON() {
    return this.text;
  }
}

const NUMBER_OR_WORD = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\.)*"/y;

/** JSON.parse, except that a number whose text a double does not give back is an Exact. */
function parseJson(text) {
  let i = 0;
  const fail = () => {
    throw new SyntaxError(`bad JSON at ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const token = (re) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) fail();
    i = re.lastIndex;
    return m[0];
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '"') return JSON.parse(token(STRING));
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (text[i] === ']') return i++, a;
      for (;;) {
        a.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') fail();
      }
    }
    if (c === '{') {
      i++;
      const o = {};
      ws();
      if (text[i] === '}') return i++, o;
      for (;;) {
        ws();
        const k = JSON.parse(token(STRING));
        ws();
        if (text[i++] !== ':') fail();
        // defineProperty: a "__proto__" key stays data.
        Object.defineProperty(o, k, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        const d = text[i++];
        if (d === '}') return o;
        if (d !== ',') fail();
      }
    }
    const t = token(NUMBER_OR_WORD);
    if (t === 'true') return true;
    if (t === 'false') return false;
    if (t === 'null') return null;
    const n = Number(t);
    return String(n) === t ? n : new Exact(t);
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

// --- small helpers ------------------------------------------------------

/** el('td', { class: 'num' }, 'text', childNode, ...) */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function percent(part, whole) {
  return whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : '–';
}

function clock(time) {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? String(time) : d.toLocaleTimeString([], { hour12: false });
}

function ms(n) {
  return typeof n === 'number' ? `${n < 10 ? n.toFixed(1) : Math.round(n)} ms` : '';
}

/** HTTP status, the gRPC status of a gRPC call (its name), and the time taken: `200 · NOT_FOUND · 3.1 ms`. */
function statusText(side) {
  const grpc = typeof side.grpcCode === 'string' ? ` · ${side.grpcCode}` : '';
  return `${side.status}${grpc} · ${ms(side.ms)}`;
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = text === '';
}

function setStatus() {
  const time = state.updated ? state.updated.toLocaleTimeString([], { hour12: false }) : 'never';
  $('status').textContent = state.paused ? `Paused · last updated ${time}` : `Updated ${time} · every ${REFRESH_MS / 1000} s`;
}

function count(n) {
  return typeof n === 'number' ? n.toLocaleString('en') : '0';
}

/** Reason → count maps as a short list, largest first; words for codes a person reads. */
const WORDS = { not_sampled: 'not sampled', method_excluded: 'method excluded', body_too_large: 'body too large', too_large: 'too large' };
function reasons(map, skip) {
  const items = Object.entries(map || {})
    .filter(([k, n]) => n > 0 && k !== skip)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => el('li', {}, WORDS[k] || k.replace(/_/g, ' '), ' ', el('span', { class: 'n' }, count(n))));
  return items.length ? el('ul', { class: 'reasons' }, ...items) : null;
}

/** A route whose dark fails (or whose exchanges cannot be compared) at least this often is called out. */
const FAILING_SHARE = 0.5;

/** Why a route's numbers are not to be trusted as calm: a failing dark, nothing compared. */
function trouble(r) {
  const mirrored = r.mirrored || 0;
  if (mirrored === 0) return null;
  const errors = r.errors || 0;
  const skipped = r.skipped || 0;
  const list = (map) => Object.entries(map || {}).filter(([, n]) => n > 0).map(([k, n]) => `${k.replace(/_/g, ' ')} ${count(n)}`).join(', ');
  if (errors / mirrored >= FAILING_SHARE) {
    return `Dark is failing on ${r.name}: ${count(errors)} of ${count(mirrored)} shadow requests failed (${list(r.errorsBy)}); ${count(r.compared)} compared.`;
  }
  if (r.compared === 0 && skipped > 0) return `Nothing compared on ${r.name}: ${count(skipped)} of ${count(mirrored)} exchanges skipped (${list(r.skippedBy)}).`;
  return null;
}

// --- routes -------------------------------------------------------------

function renderRoutes(body, verdicts) {
  $('paused-banner').hidden = body.paused !== true;
  state.fleet = body.fleet === true;
  const storeDown = body.fleet === false && typeof body.store === 'string';
  $('store-banner').hidden = !storeDown;
  $('store-banner').textContent = storeDown ? `Fleet view unavailable (${body.store}): showing this instance only.` : '';
  const routes = body.routes || [];
  const pods = Math.max(0, ...routes.map((r) => r.instances || 0));
  $('scope').hidden = !state.fleet;
  $('scope').textContent = state.fleet ? `Fleet · ${pods} ${pods === 1 ? 'pod' : 'pods'}` : '';
  for (const th of document.querySelectorAll('#routes .fleet-only')) th.hidden = !state.fleet;
  const text = JSON.stringify([routes, state.route, state.fleet, [...verdicts.values()]]);
  if (text === state.lastRoutes) return;
  state.lastRoutes = text;
  const alerts = routes.map(trouble).filter((t) => t !== null);
  $('alerts').replaceChildren(...alerts.map((t) => el('p', { class: 'card alert' }, t)));
  const now = Date.now();
  $('lifecycle').replaceChildren(...routes.map((r) => lifecycleNote(r, now)).filter((n) => n !== null));
  const rows = routes.map((r) => {
    const rate = r.compared > 0 ? r.mismatches / r.compared : 0;
    const fields = (r.topFields || []).slice(0, 5).map((f) => el('li', {}, el('code', {}, f.field), ` ${f.count}`));
    const noisy = (r.noisy || []).slice(0, 8).map((f) => el('li', {}, el('code', {}, f)));
    const errors = r.errors || 0;
    const skipped = r.skipped || 0;
    const dropped = Object.entries(r.dropped || {}).reduce((n, [, v]) => n + v, 0);
    const failing = trouble(r) !== null;
    const marks = [failing && 'failing', r.expired === true && 'expired', r.paused === true && 'paused'].filter(Boolean);
    return el(
      'tr',
      { 'aria-current': r.name === state.route ? 'true' : false, class: marks.length ? marks.join(' ') : null },
      el('th', { scope: 'row' }, el('div', { class: 'route-head' }, ...routeFlags(r, verdicts.get(r.name)), el('button', {
        type: 'button',
        class: 'link',
        'aria-pressed': String(r.name === state.route),
        title: r.name === state.route ? 'Show samples of every route' : `Show only samples of ${r.name}`,
        onclick: () => chooseRoute(r.name === state.route ? '' : r.name),
      }, r.name)), state.fleet && r.service ? el('div', { class: 'muted small' }, r.service) : null),
      state.fleet ? el('td', { class: 'num' }, count(r.instances)) : null,
      el('td', { class: 'num' }, `${Number((r.sample * 100).toFixed(1))}%`),
      el('td', { class: 'num' }, count(r.mirrored)),
      el('td', { class: `num${r.mirrored > 0 && r.compared === 0 ? ' bad' : ''}` }, count(r.compared)),
      el('td', { class: `num rate${rate > 0 ? ' bad' : ''}` }, percent(r.mismatches, r.compared), r.compared > 0 ? bar(rate) : null),
      el('td', { class: 'num' }, count(r.noise)),
      el('td', { class: `num errors${errors > 0 ? ' bad' : ''}` }, count(errors), errors > 0 ? el('span', { class: 'share' }, ` ${percent(errors, r.mirrored)}`) : null, reasons(r.errorsBy)),
      el('td', { class: `num skipped${skipped > 0 ? ' warn' : ''}` }, count(skipped), reasons(r.skippedBy)),
      el('td', { class: 'num dropped' }, count(dropped), reasons(r.dropped)),
      el('td', {}, fields.length ? el('ul', { class: 'fields' }, ...fields) : el('span', { class: 'muted' }, 'none')),
      el('td', { class: 'noisy' }, noisy.length ? el('ul', { class: 'fields' }, ...noisy) : el('span', { class: 'muted' }, 'none')),
    );
  });
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 12, class: 'muted' }, 'No routes.')));
  $('routes').tBodies[0].replaceChildren(...rows);
}

function bar(fraction) {
  const fill = el('span');
  fill.style.width = `${Math.round(fraction * 100)}%`; // CSSOM, allowed by the page's CSP
  return el('span', { class: 'bar', 'aria-hidden': 'true' }, fill);
}

function chooseRoute(name) {
  state.route = name;
  $('samples-filter').textContent = name ? `· ${name}` : '';
  state.lastRoutes = '';
  refresh();
}

// --- release: verdict, ramp, pause, owner, expiry (DESIGN §12) ------------

/** A route of this umbra's own config: fleet rows of other services carry none of the release fields. */
const isOwn = (r) => typeof r.verdict === 'string';

/** A fraction as a percentage: 0.05 → 5%. */
function pct(f) {
  return `${Number((f * 100).toFixed(2))}%`;
}

/** 200 ms, 4.2 s, 12 min 30 s, 1 h 15 min. */
function duration(msValue) {
  const v = Math.max(0, msValue);
  if (v < 1000) return `${Math.round(v)} ms`;
  const s = v / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) {
    const rest = Math.floor(s - m * 60);
    return rest > 0 ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(m / 60);
  return m % 60 > 0 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** Whole days until `expires` (it is reached at 00:00 UTC of that date, as umbra reads it), at least 1. */
function daysLeft(expires, now) {
  return Math.max(1, Math.ceil((Date.parse(`${expires}T00:00:00Z`) - now) / 86_400_000));
}

/** An expiry this close is worth a note before the day comes. */
const EXPIRY_NOTICE_DAYS = 7;

function expiresSoon(r, now) {
  return !r.expired && typeof r.expires === 'string' && Date.parse(`${r.expires}T00:00:00Z`) - now <= EXPIRY_NOTICE_DAYS * 86_400_000;
}

/** The banner for an expired dark launch, the softer note for one that soon will be; null otherwise. */
function lifecycleNote(r, now) {
  if (!isOwn(r) || typeof r.expires !== 'string') return null;
  const owner = r.owner ? `owner ${r.owner}` : 'no owner set';
  if (r.expired === true) {
    return el('p', { class: 'card alert expired-note' }, `Dark launch ${r.name} expired on ${r.expires} (${owner}): release it or remove the route.`);
  }
  if (!expiresSoon(r, now)) return null;
  const n = daysLeft(r.expires, now);
  return el('p', { class: 'card notice expiring-note' }, `Dark launch ${r.name} expires on ${r.expires}, in ${n} ${n === 1 ? 'day' : 'days'} (${owner}).`);
}

/** The verdict in force: /api/verdict's (with its reasons), else the one /api/routes carries. */
const verdictOf = (r, v) => (v ? v.verdict : r.verdict);

function verdictChip(r, v) {
  const name = verdictOf(r, v);
  const title = v ? [`Release verdict over the last ${v.window}: ${name}`, ...v.reasons].join('\n') : `Release verdict: ${name}`;
  return el('span', { class: `verdict ${name}`, title }, name);
}

/** The route cell's marks: verdict, paused, expired (nothing for another service's route). */
function routeFlags(r, v) {
  if (!isOwn(r)) return [];
  return [
    verdictChip(r, v),
    r.paused === true ? el('span', { class: 'flag paused-flag', title: "this route's mirroring is paused" }, 'paused') : null,
    r.expired === true ? el('span', { class: 'flag expired-flag', title: `expired on ${r.expires}` }, 'expired') : null,
  ].filter((n) => n !== null);
}

/** ramping, paused by its gate, paused by a person, stopped by a person, complete. */
function rampPhase(r) {
  const ramp = r.ramp;
  if (ramp.phase === 'stopped') return { key: 'stopped', text: 'stopped by a person' };
  if (ramp.phase === 'paused') {
    // pausedBy: 'ramp' when its gate failed, else the address of whoever sent POST .../pause.
    return r.pausedBy === 'ramp' ? { key: 'paused', text: 'paused by its gate' } : { key: 'paused', text: 'paused by a person' };
  }
  return ramp.complete ? { key: 'complete', text: 'complete' } : { key: 'ramping', text: 'ramping' };
}

/** One move of the dial, in the words of its audit line. */
function moveText(e) {
  const why = e.verdict ? ` (${e.verdict})` : '';
  switch (e.action) {
    case 'start':
      return `started at ${e.to}`;
    case 'step':
      return `${e.from} → ${e.to}${why}`;
    case 'pause':
      return `paused${why}`;
    case 'hold':
      return `held at ${e.to}${why}`;
    case 'resume':
      return `resumed at ${e.to} by a person`;
    case 'stop':
      return `stopped by a person: ${e.from} → ${e.to}`;
    default:
      return `${e.action} ${e.to}`;
  }
}

/** Moves listed per ramp, newest first. */
const HISTORY_SHOWN = 5;

function rampBlock(r, now) {
  const g = r.ramp;
  const here = g.steps[g.step];
  const next = g.steps[g.step + 1];
  const phase = rampPhase(r);
  const head = el('p', { class: 'ramp-line' },
    el('span', { class: 'ramp-step' }, `ramp ${g.step + 1}/${g.steps.length} · ${pct(here)}${next === undefined ? '' : ` → next ${pct(next)}`}`),
    ' ', el('span', { class: `flag phase ${phase.key}` }, phase.text));
  let detail = null;
  if (phase.key === 'ramping') {
    if (g.passingSince !== null) {
      const passed = now - Date.parse(g.passingSince);
      detail = el('p', { class: 'ramp-gate' }, `gate passing for ${duration(passed)} of the ${duration(g.hold)} hold`, holdBar(passed / Math.max(1, g.hold)));
    } else {
      const held = g.verdict === 'fail' && g.onFail === 'hold' ? ' (onFail hold: it stays at this step)' : '';
      detail = el('p', { class: 'ramp-gate' }, `gate ${g.verdict || 'not judged yet'}${held}: the ${duration(g.hold)} hold starts when it passes`);
    }
  } else if (phase.key === 'complete') {
    detail = el('p', { class: 'ramp-gate' }, `at its last step since ${clock(g.stepSince)}`);
  } else if (phase.key === 'paused') {
    detail = el('p', { class: 'ramp-gate' }, `mirroring stopped at ${pct(here)}; `, el('code', {}, `POST /api/routes/${r.name}/resume`), ' goes on from this step');
  } else {
    detail = el('p', { class: 'ramp-gate' }, `a person set the sample to ${pct(r.sample)}: the ramp moves it no more`);
  }
  const moves = g.history.slice(-HISTORY_SHOWN).reverse().map((e) =>
    el('li', {}, el('time', { datetime: e.time, title: e.time }, clock(e.time)), ' ', el('span', { class: 'move' }, moveText(e))));
  return el('div', { class: 'ramp' }, head, detail, moves.length ? el('ol', { class: 'ramp-history', 'aria-label': `recent moves of the ramp of ${r.name}, newest first` }, ...moves) : null);
}

function holdBar(fraction) {
  const fill = el('span');
  fill.style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
  return el('span', { class: 'hold-bar', 'aria-hidden': 'true' }, fill);
}

/** Nothing to say about a route: no ramp, no owner or expiry, running, nothing mirrored in its gate window. */
function quiet(r, v) {
  return r.ramp === null && !r.owner && r.expires === null && r.paused !== true && (v ? v.mirrored : r.mirrored) === 0;
}

function releaseEntry(r, v, now) {
  const name = verdictOf(r, v);
  const bits = [];
  if (r.owner) bits.push(el('span', { class: 'owner' }, `owner ${r.owner}`));
  if (typeof r.expires === 'string') {
    if (r.expired === true) bits.push(el('span', { class: 'flag expired-flag' }, `expired ${r.expires}`));
    else if (expiresSoon(r, now)) bits.push(el('span', { class: 'flag soon-flag' }, `expires ${r.expires} · in ${daysLeft(r.expires, now)} d`));
    else bits.push(el('span', { class: 'expires muted' }, `expires ${r.expires}`));
  }
  const head = el('div', { class: 'release-head' },
    el('strong', { class: 'release-name' }, r.name),
    verdictChip(r, v),
    r.paused === true ? el('span', { class: 'flag paused-flag' }, 'paused') : null,
    ...bits);
  const why = v && v.reasons.length ? el('ul', { class: 'why', 'aria-label': `why ${r.name} is ${name}` }, ...v.reasons.map((reason) => el('li', {}, reason))) : null;
  let body = null;
  if (r.ramp) body = rampBlock(r, now);
  else if (r.paused === true) body = el('p', { class: 'ramp-gate' }, 'mirroring paused by a person; ', el('code', {}, `POST /api/routes/${r.name}/resume`), ' resumes it');
  return el('li', { class: `release-route ${name}${r.paused === true ? ' paused' : ''}`, 'data-route': r.name }, head, why, body);
}

/** One entry per own route that has something to say; re-drawn only when what it says changes. */
function renderRelease(routes, verdicts) {
  const now = Date.now();
  const entries = routes.filter((r) => isOwn(r) && !quiet(r, verdicts.get(r.name))).map((r) => releaseEntry(r, verdicts.get(r.name), now));
  $('release').hidden = entries.length === 0;
  // outerHTML only to compare: the nodes themselves were built from text.
  const text = entries.map((e) => e.outerHTML).join('');
  if (text === state.lastRelease) return;
  state.lastRelease = text;
  $('release-routes').replaceChildren(...entries);
}

// --- samples ------------------------------------------------------------

function renderSamples(samples) {
  const text = JSON.stringify(samples);
  if (text === state.lastSamples) return;
  state.lastSamples = text;
  // Keep keyboard focus on the same sample across a refresh.
  const focusedId = document.activeElement && document.activeElement.dataset.id;
  const rows = samples.map((s) => {
    const selected = state.selected !== null && state.selected.id === s.id;
    const statusDiffers = s.live.status !== s.dark.status || s.live.grpc !== s.dark.grpc;
    return el(
      'tr',
      { class: selected ? 'selected' : null, 'aria-current': selected ? 'true' : false },
      el('td', { class: 'nowrap', title: String(s.time) }, el('time', { datetime: String(s.time) }, clock(s.time))),
      el('td', { class: 'nowrap' }, s.route, state.fleet && s.instance ? el('div', { class: 'muted small' }, s.instance) : null),
      el('td', { class: 'request' }, el('button', {
        type: 'button',
        class: 'link',
        'data-id': s.id,
        'aria-controls': 'detail',
        onclick: () => select(s),
      }, el('span', { class: 'method' }, s.method), ' ', s.path, ...(s.write === true ? [' ', el('span', { class: 'write', title: 'a mirrored write: it changed data on dark' }, 'write')] : []))),
      el('td', { class: 'num statuses' },
        el('span', { class: `status-chip${statusDiffers ? ' diff-live' : ''}` }, el('span', { class: 'side' }, 'live '), statusText(s.live)),
        el('span', { class: `status-chip${statusDiffers ? ' diff-dark' : ''}` }, el('span', { class: 'side' }, 'dark '), statusText(s.dark))),
    );
  });
  $('samples').tBodies[0].replaceChildren(...rows);
  $('samples-empty').hidden = samples.length > 0;
  if (focusedId) {
    const again = document.querySelector(`#samples button[data-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
  // The first time there is something to show, show the newest.
  if (state.selected === null && samples.length > 0) select(samples[0]);
}

function select(sample) {
  state.selected = sample;
  for (const row of $('samples').tBodies[0].rows) {
    const mine = row.querySelector('button').dataset.id === sample.id;
    row.classList.toggle('selected', mine);
    if (mine) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
  renderDetail(sample);
}

// --- one divergence, side by side --------------------------------------

function renderDetail(s) {
  $('detail-empty').hidden = true;
  $('detail-body').hidden = false;
  $('detail-title').textContent = `Differences · ${s.method} ${s.path}`;
  $('detail-summary').replaceChildren(
    `${s.route} at ${clock(s.time)}: live answered ${statusText(s.live)}, dark ${statusText(s.dark)}.`,
  );
  // One <tbody> per difference: a row per example (every occurrence kept).
  const groups = (s.differences || []).map(differenceRows);
  if (groups.length === 0) groups.push(el('tbody', {}, el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No differences recorded.'))));
  const table = $('differences');
  for (const body of [...table.tBodies]) body.remove();
  table.append(...groups);

  const replay = typeof s.replay === 'string' && s.replay !== '' ? s.replay : null;
  $('replay').hidden = replay === null;
  $('replay-command').textContent = replay || '';
  $('copy-status').textContent = '';
  $('rule-status').textContent = '';
}

/** The rows of one difference: part, field and kind once, then live and dark for each example. */
function differenceRows(d) {
  const count = typeof d.count === 'number' ? d.count : Array.isArray(d.examples) && d.examples.length > 0 ? d.examples.length : 1;
  return differenceGroup(d, count);
}

/** A YAML single-quoted string: nothing to escape but the quote itself. */
function yamlQuote(text) {
  return `'${String(text).replace(/'/g, "''")}'`;
}

/**
 * The config line that stops this difference from counting (docs/config.md): a
 * body field goes in the route's compare.ignore (the path as shown selects that
 * field), a header in compare.ignoreHeaders. A status cannot be ignored.
 */
function ignoreRule(d) {
  if (d.part === 'body' && typeof d.field === 'string' && d.field.startsWith('$')) return `compare: { ignore: [${yamlQuote(d.field)}] }`;
  // A header difference's field is `header:<name>`, a trailer's `trailer:<name>`; the rule takes
  // the name (compare.ignoreHeaders covers trailers too).
  const name = (d.part === 'header' || d.part === 'trailer') && typeof d.field === 'string' ? d.field.replace(/^(header|trailer):/, '') : '';
  // gRPC's status and message are always compared (docs/compare.md): no rule ignores them.
  if (d.part === 'trailer' && (name === 'grpc-status' || name === 'grpc-message')) return null;
  if (name !== '') return `compare: { ignoreHeaders: [${yamlQuote(name)}] }`;
  return null;
}

async function copyRule(rule) {
  const where = state.selected ? ` under the route ${state.selected.route} (merge with any compare: it has)` : '';
  try {
    await navigator.clipboard.writeText(rule);
    $('rule-status').textContent = `Copied ${rule}: paste it${where} in umbra.yaml.`;
  } catch {
    $('rule-status').textContent = `Add ${rule}${where} in umbra.yaml.`;
  }
}

function differenceGroup(d, count) {
  const examples = Array.isArray(d.examples) && d.examples.length > 0 ? d.examples : [d];
  const notKept = count - examples.length;
  const span = examples.length + (notKept > 0 ? 1 : 0);
  const field = el('td', { rowspan: span }, el('code', {}, d.field));
  if (count > 1) field.append(' ', el('span', { class: 'count', title: `found ${count} times in this answer` }, `×${count}`));
  const rule = ignoreRule(d);
  if (rule !== null) {
    field.append(el('br'), el('button', { type: 'button', class: 'rule', title: rule, onclick: () => copyRule(rule) }, 'Copy ignore rule'));
  }
  const rows = examples.map((ex, i) => {
    const cells = sideBySide(d.kind, ex);
    if (i > 0) return el('tr', { class: 'example' }, ...cells);
    return el('tr', {}, el('td', { rowspan: span }, d.part), field, el('td', { rowspan: span }, d.kind), ...cells);
  });
  if (notKept > 0) {
    rows.push(el('tr', { class: 'example' }, el('td', { colspan: 2 }, cut(`${notKept} more ${notKept === 1 ? 'occurrence' : 'occurrences'}, not kept`))));
  }
  return el('tbody', { class: 'difference' }, ...rows);
}

/** A marker: what umbra left out, never data. */
function cut(text) {
  return el('span', { class: 'cut', title: 'left out by umbra: the value was over its size cap' }, `⋯ ${text}`);
}

function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** A member "…" alone stands for a cut value (a long string or number, the rest of an array). */
function cutValue(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Exact) return null;
  const keys = Object.keys(v);
  const c = v['…'];
  return keys.length === 1 && keys[0] === '…' && c !== null && typeof c === 'object' && !('keys' in c) ? c : null;
}

/** Appends a sample value to `parent` as text: JSON, exact numbers as written, markers as markers. */
function appendValue(parent, v) {
  if (v instanceof Exact) return parent.append(v.text);
  if (v === null || typeof v !== 'object') return parent.append(JSON.stringify(v));
  const c = cutValue(v);
  if (c !== null) {
    if (typeof c.items === 'number') return parent.append(cut(`${plural(c.items, 'more item', 'more items')}`));
    if (typeof c.string === 'number') return parent.append(JSON.stringify(String(c.head)).slice(0, -1), cut(`string of ${plural(c.string, 'character', 'characters')}`));
    if (typeof c.number === 'number') return parent.append(String(c.head), cut(`number of ${plural(c.number, 'character', 'characters')}`));
    return parent.append(cut('cut'));
  }
  const array = Array.isArray(v);
  parent.append(array ? '[' : '{');
  (array ? v : Object.keys(v)).forEach((item, i) => {
    if (i > 0) parent.append(', ');
    if (array) appendValue(parent, item);
    else if (item === '…') parent.append(cut(plural(Number(v[item] && v[item].keys), 'more key', 'more keys')));
    else {
      parent.append(`${JSON.stringify(item)}: `);
      appendValue(parent, v[item]);
    }
  });
  parent.append(array ? ']' : '}');
}

/** Two <td>s for one example; the part of each value that differs is wrapped in <mark>. */
function sideBySide(kind, ex) {
  const absent = (side) => el('td', { class: 'value absent' }, el('em', {}, `absent in ${side}`));
  const whole = (v, cls) => {
    const mark = el('mark');
    appendValue(mark, v);
    return el('td', { class: `value ${cls}` }, mark);
  };
  if (kind === 'added' || ex.live === undefined) return [absent('live'), whole(ex.dark, 'diff-dark')];
  if (kind === 'removed' || ex.dark === undefined) return [whole(ex.live, 'diff-live'), absent('dark')];
  if (typeof ex.live !== 'string' || typeof ex.dark !== 'string') return [whole(ex.live, 'diff-live'), whole(ex.dark, 'diff-dark')];
  // In two strings, the common prefix and suffix stay plain and the middle is
  // marked (one character in a long id).
  const a = JSON.stringify(ex.live);
  const b = JSON.stringify(ex.dark);
  let p = 0;
  let q = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  if (p + q === a.length || p + q === b.length) p = q = 0;
  const cell = (text, cls) =>
    el('td', { class: `value ${cls}` }, text.slice(0, p), el('mark', {}, text.slice(p, text.length - q)), text.slice(text.length - q));
  return [cell(a, 'diff-live'), cell(b, 'diff-dark')];
}

async function copyReplay() {
  const text = $('replay-command').textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http beyond localhost): select it for Ctrl-C.
    const range = document.createRange();
    range.selectNodeContents($('replay-command'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('copy-status').textContent = 'Selected: press Ctrl-C to copy.';
    return;
  }
  $('copy-status').textContent = 'Copied.';
}

// --- token --------------------------------------------------------------

function askForToken() {
  clearTimeout(state.timer);
  const refused = state.token !== '';
  if (refused) {
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
  }
  $('token-error').textContent = refused ? 'That token was refused. Try again.' : '';
  $('token-error').hidden = !refused;
  $('token-form').hidden = false;
  $('status').textContent = 'Waiting for the admin token';
  $('token').focus();
}

function useToken(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('token-form').hidden = true;
  refresh();
}

// --- start --------------------------------------------------------------

function togglePause() {
  state.paused = !state.paused;
  const button = $('pause');
  button.setAttribute('aria-pressed', String(state.paused));
  button.textContent = state.paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
  if (state.paused) {
    clearTimeout(state.timer);
    setStatus();
  } else {
    refresh();
  }
}

function chooseWindow() {
  state.since = $('since').value;
  state.lastRoutes = '';
  state.lastSamples = '';
  state.selected = null;
  refresh();
}

$('pause').addEventListener('click', togglePause);
$('since').addEventListener('change', chooseWindow);
$('token-form').addEventListener('submit', useToken);
$('copy').addEventListener('click', copyReplay);
// No polling while the tab is hidden; catch up as soon as it is shown again.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) clearTimeout(state.timer);
  else if (!state.paused) refresh();
});
refresh();
