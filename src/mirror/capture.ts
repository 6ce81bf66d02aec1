// Capture (DESIGN §10) on the live path: decide per request whether to record
// it (capture.routes, capture.sample: random, independent of mirroring), copy
// the request body and the live answer up to capture.maxBodyBytes against the
// shared memory budget, and hand the whole exchange to the writer when the live
// answer is complete. Independent of the mirror: it works without a dark
// backend. Over the size cap or the budget, the copy is let go at once and the
// record counted as dropped; a live failure records nothing.
//
//   copying ──responseEnd──► handed to the writer
//      │
//      ├── over maxBodyBytes / budget ──► dropped (counted)
//      └── live failed ──────────────────► let go (not a record)
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ByteBudget } from '../compare/index.js';
import type { CaptureConfig, RouteConfig } from '../config/types.js';
import type { CompiledRoute } from '../http/routes.js';
import type { CaptureDrop, CaptureWriter } from '../observe/capture.js';
import { BodyCopy, Reservation } from './copy.js';
import type { LiveObserver, ShadowHook } from './hook.js';
import { sampled } from './sample.js';
import { declaredLength } from './shadow.js';

const EMPTY: Buffer = Buffer.alloc(0);

export class CaptureHook implements ShadowHook {
  /** By route index: whether capture.routes names the route. */
  private readonly wanted: readonly boolean[];
  readonly sample: number;
  readonly maxBodyBytes: number;

  constructor(
    config: CaptureConfig,
    routes: readonly RouteConfig[],
    readonly writer: CaptureWriter,
    readonly budget: ByteBudget,
    private readonly random: () => number = Math.random,
  ) {
    const names = config.routes === null ? null : new Set(config.routes);
    this.wanted = routes.map((r) => names === null || names.has(r.name));
    this.sample = config.sample;
    this.maxBodyBytes = config.maxBodyBytes;
  }

  begin(req: IncomingMessage, route: CompiledRoute): LiveObserver | null {
    if (this.wanted[route.index] !== true || !sampled(req, this.sample, null, this.random)) return null;
    // Declared over the cap, or no room at all: counted without copying a byte.
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxBodyBytes) return this.refuse('too_large');
    if (this.budget.room() <= 0) return this.refuse('over_memory');
    return new CapturedExchange(this, req, route.name);
  }

  private refuse(reason: CaptureDrop): null {
    this.writer.drop(reason);
    return null;
  }
}

/** One body as a buffer umbra owns outright (it moves to the writer's worker), or null when that does not fit the budget. */
function owned(copy: BodyCopy, held: Reservation): Buffer | null {
  if (copy.size === 0) return EMPTY;
  const body = copy.body();
  if (body === null) return null;
  if (copy.owned) return body;
  // A chunk as the stream handed it over may share its memory: copy it once.
  if (!held.take(body.length)) return null;
  const own = Buffer.allocUnsafeSlow(body.length);
  body.copy(own);
  copy.drop();
  return own;
}

class CapturedExchange implements LiveObserver {
  private state: 'copying' | 'done' = 'copying';
  private readonly held: Reservation;
  private readonly request: BodyCopy;
  private readonly live: BodyCopy;
  private readonly time = Date.now();
  private status = 0;
  private liveHeaders: readonly string[] = [];

  constructor(
    private readonly hook: CaptureHook,
    private readonly req: IncomingMessage,
    private readonly route: string,
  ) {
    this.held = new Reservation(hook.budget);
    this.request = new BodyCopy(this.held, hook.maxBodyBytes);
    this.live = new BodyCopy(this.held, hook.maxBodyBytes);
  }

  requestChunk(chunk: Buffer): void {
    if (this.state === 'copying') this.copy(this.request, chunk);
  }

  requestEnd(): void {}

  responseStart(status: number, headers: IncomingHttpHeaders, raw: readonly string[]): void {
    if (this.state !== 'copying') return;
    this.status = status;
    this.liveHeaders = raw;
    if (declaredLength(headers) > this.hook.maxBodyBytes) this.drop('too_large');
  }

  responseChunk(chunk: Buffer): void {
    if (this.state === 'copying') this.copy(this.live, chunk);
  }

  responseEnd(ms: number): void {
    if (this.state !== 'copying') return;
    const requestBody = owned(this.request, this.held);
    const liveBody = requestBody === null ? null : owned(this.live, this.held);
    if (requestBody === null || liveBody === null) return this.drop('over_memory');
    this.state = 'done';
    const req = this.req;
    this.hook.writer.submit(
      {
        time: this.time,
        route: this.route,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        requestHeaders: req.rawHeaders,
        requestBody,
        status: this.status,
        liveHeaders: this.liveHeaders,
        liveBody,
        ms,
      },
      this.held,
    );
  }

  failed(): void {
    // The client's answer was complete when the record was handed over: a late client abort changes nothing.
    if (this.state !== 'copying') return;
    this.state = 'done';
    this.held.releaseAll();
  }

  private copy(copy: BodyCopy, chunk: Buffer): void {
    const r = copy.add(chunk);
    if (r !== 'ok') this.drop(r === 'over_cap' ? 'too_large' : 'over_memory');
  }

  private drop(reason: CaptureDrop): void {
    this.state = 'done';
    this.held.releaseAll();
    this.hook.writer.drop(reason);
  }
}
