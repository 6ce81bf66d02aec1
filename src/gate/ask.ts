// One `GET /api/verdict` and what became of it: an answer, a problem worth
// asking again about (the listener is not up yet, a 5xx, no answer in time), or
// one that asking again will not fix (a wrong token, an unknown route).
import { request, type Dispatcher } from 'undici';
import { readVerdictAnswer, type VerdictAnswer } from './answer.js';
import { printable } from './summary.js';

export type Poll =
  | { readonly kind: 'answer'; readonly answer: VerdictAnswer; readonly body: unknown }
  /** `key` names the kind of problem (ECONNREFUSED, HTTP 503, timeout), to report each once. */
  | { readonly kind: 'retry'; readonly key: string; readonly problem: string }
  | { readonly kind: 'refused'; readonly problem: string };

/** An all-routes answer is a few KiB per route; past this it is not the admin API. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** Server error text is quoted up to this many characters. */
const QUOTE = 200;

/** `{admin}/api/verdict?route=&window=`; a path on --admin (behind a proxy) is kept. */
export function verdictUrl(admin: string, route: string | null, window: string | null): string {
  const u = new URL(admin);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/verdict`;
  if (route !== null) u.searchParams.set('route', route);
  if (window !== null) u.searchParams.set('window', window);
  return u.href;
}

/** What an error answer says: its JSON `error`, or else the start of its body as text ('' for none). */
function errorText(body: Buffer): { readonly text: string; readonly fromApi: boolean } {
  const text = body.toString('utf8');
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { error?: unknown }).error === 'string') {
      return { text: printable((parsed as { error: string }).error), fromApi: true };
    }
  } catch {
    // Not JSON: quoted as text.
  }
  const trimmed = printable(text).replace(/\s+/g, ' ').trim();
  return { text: trimmed.length > QUOTE ? `${trimmed.slice(0, QUOTE)}...` : trimmed, fromApi: false };
}

function networkProblem(err: unknown, timeout: number): Poll {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (e?.name === 'TimeoutError') return { kind: 'retry', key: 'timeout', problem: `no answer within ${timeout} ms` };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'retry', key: code, problem: 'connection refused (ECONNREFUSED)' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { kind: 'retry', key: code, problem: `host not found (${code})` };
    default:
      return { kind: 'retry', key: code === '' ? message : code, problem: code === '' || message.includes(code) ? message : `${message} (${code})` };
  }
}

async function readBody(body: Dispatcher.ResponseData['body']): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function judgeStatus(status: number, headers: Dispatcher.ResponseData['headers'], body: Buffer, token: string | null): Poll {
  const { text, fromApi } = errorText(body);
  const said = text === '' ? '' : `: ${text}`;
  if (status === 401) {
    return {
      kind: 'refused',
      problem:
        token === null
          ? 'answered 401: the admin API needs a bearer token: give --token or set UMBRA_ADMIN_TOKEN'
          : 'answered 401: the bearer token was refused: it is not the admin listener\'s token',
    };
  }
  if (status >= 500 || status === 408 || status === 429) return { kind: 'retry', key: `HTTP ${status}`, problem: `answered ${status}${said}` };
  if (status >= 300 && status < 400) {
    // Not followed: the token would go along to wherever it points.
    const location = typeof headers.location === 'string' ? printable(headers.location) : '(no Location)';
    return { kind: 'refused', problem: `answered ${status}, redirecting to ${location}: give --admin the URL it points to` };
  }
  // A 404 without umbra's {error}: the path is not the admin API's.
  if (status === 404 && !fromApi) return { kind: 'refused', problem: `answered 404${said}: is --admin the base URL of umbra's admin listener?` };
  return { kind: 'refused', problem: `answered ${status}${said}` };
}

/** Asks once; never throws for what the network or the server did. */
export async function askVerdict(url: string, token: string | null, timeout: number, dispatcher: Dispatcher): Promise<Poll> {
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'umbra-gate' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let status: number;
  let responseHeaders: Dispatcher.ResponseData['headers'];
  let body: Buffer | null;
  try {
    const res = await request(url, { method: 'GET', headers, dispatcher, signal: AbortSignal.timeout(timeout) });
    status = res.statusCode;
    responseHeaders = res.headers;
    body = await readBody(res.body);
  } catch (err) {
    return networkProblem(err, timeout);
  }
  if (body === null) return { kind: 'refused', problem: `answered ${status} with a body over ${MAX_ANSWER_BYTES} bytes: not umbra's admin API?` };
  if (status !== 200) return judgeStatus(status, responseHeaders, body, token);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { kind: 'refused', problem: 'answered 200 with a body that is not JSON: is --admin the admin listener (not the proxy\'s)?' };
  }
  const answer = readVerdictAnswer(parsed);
  if (typeof answer === 'string') return { kind: 'refused', problem: `answered 200 but not with a verdict: ${answer}` };
  return { kind: 'answer', answer, body: parsed };
}
