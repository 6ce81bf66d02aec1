// A route's automatic release dial (DESIGN §12): it starts at the first step and
// moves up one step once the route's gate has passed for `hold` at the current
// one; a failing gate pauses the route's mirroring (onFail: pause) or keeps it
// where it is (onFail: hold). A person's PUT of the sample stops the ramp.
// The Ramp only decides; the Mirror applies each move and writes its audit line.
import type { RampConfig } from '../config/types.js';
import type { VerdictName } from '../observe/verdict.js';

/** ramping: moving up (or at its last step, still watching); paused: its gate failed; stopped: a person took the dial. */
export type RampPhase = 'ramping' | 'paused' | 'stopped';

export type RampMove =
  | { readonly action: 'step'; readonly from: number; readonly to: number; readonly step: number }
  | { readonly action: 'pause' }
  | { readonly action: 'hold' };

/** One move of the dial, as the page lists it (the audit line has the same). */
export interface RampEvent {
  /** ISO time. */
  readonly time: string;
  /** start, step, pause, hold (the ramp's own); resume, stop (a person's). */
  readonly action: 'start' | 'step' | 'pause' | 'hold' | 'resume' | 'stop';
  /** The sample before and after (the same for pause, hold, resume). */
  readonly from: number | null;
  readonly to: number;
  /** The verdict that moved it (the ramp's moves). */
  readonly verdict: VerdictName | null;
}

/** Moves kept per ramp for the page. */
export const RAMP_HISTORY = 20;

/** How a ramp stands, for /api/routes and the page. */
export interface RampStatus {
  readonly steps: readonly number[];
  /** 0-based index of the step in force. */
  readonly step: number;
  readonly phase: RampPhase;
  /** The last step is reached. */
  readonly complete: boolean;
  /** When the step in force began (ISO). */
  readonly stepSince: string;
  /** Since when the gate has passed without a break at this step (ISO), null when it does not pass now. */
  readonly passingSince: string | null;
  /** ms the gate must pass before the next step. */
  readonly hold: number;
  readonly onFail: RampConfig['onFail'];
  /** The verdict seen last, null before the first look. */
  readonly verdict: VerdictName | null;
  /** Its last moves, oldest first (at most RAMP_HISTORY). */
  readonly history: readonly RampEvent[];
}

export class Ramp {
  step = 0;
  phase: RampPhase = 'ramping';
  private stepSince: number;
  private passSince: number | null = null;
  /** onFail hold: the hold was announced; not again until the gate stops failing. */
  private holding = false;
  private last: VerdictName | null = null;
  private readonly history: RampEvent[] = [];

  constructor(
    readonly config: RampConfig,
    now: number,
  ) {
    this.stepSince = now;
    this.note('start', null, this.sample, null, now);
  }

  /** Write a move into the history the page shows. */
  note(action: RampEvent['action'], from: number | null, to: number, verdict: VerdictName | null, now = Date.now()): void {
    this.history.push({ time: new Date(now).toISOString(), action, from, to, verdict });
    if (this.history.length > RAMP_HISTORY) this.history.shift();
  }

  /** The sample fraction of the step in force. */
  get sample(): number {
    return this.config.steps[this.step] as number;
  }

  get complete(): boolean {
    return this.step === this.config.steps.length - 1;
  }

  /** One look at the route's verdict: the move to make, or null. */
  tick(verdict: VerdictName, now: number): RampMove | null {
    this.last = verdict;
    if (this.phase !== 'ramping') return null;
    if (verdict === 'fail') {
      this.passSince = null;
      if (this.config.onFail === 'pause') {
        this.phase = 'paused';
        this.note('pause', this.sample, this.sample, verdict, now);
        return { action: 'pause' };
      }
      if (this.holding) return null;
      this.holding = true;
      this.note('hold', this.sample, this.sample, verdict, now);
      return { action: 'hold' };
    }
    this.holding = false;
    if (verdict !== 'pass') {
      this.passSince = null;
      return null;
    }
    this.passSince ??= now;
    if (this.complete || now - this.passSince < this.config.hold) return null;
    const from = this.sample;
    this.step++;
    this.stepSince = now;
    // The next step's hold starts from its own first passing look.
    this.passSince = null;
    this.note('step', from, this.sample, verdict, now);
    return { action: 'step', from, to: this.sample, step: this.step };
  }

  /** Its route was paused by hand: the ramp waits, as after its own pause, until the route resumes. */
  pause(): void {
    if (this.phase === 'ramping') this.phase = 'paused';
  }

  /** A paused ramp goes on from the step it was at; the hold starts again. */
  resume(now: number): void {
    if (this.phase !== 'paused') return;
    this.phase = 'ramping';
    this.stepSince = now;
    this.passSince = null;
    this.note('resume', this.sample, this.sample, null, now);
  }

  /** A person set the sample (to `sample`): the ramp moves no more. */
  stop(sample: number): void {
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    this.note('stop', this.sample, sample, null);
  }

  status(): RampStatus {
    return {
      steps: this.config.steps,
      step: this.step,
      phase: this.phase,
      complete: this.complete,
      stepSince: new Date(this.stepSince).toISOString(),
      passingSince: this.passSince === null ? null : new Date(this.passSince).toISOString(),
      hold: this.config.hold,
      onFail: this.config.onFail,
      verdict: this.last,
      history: [...this.history],
    };
  }
}

/** Two ramp configs alike: a reload that leaves a route's ramp alone keeps its progress. */
export function sameRamp(a: RampConfig | null, b: RampConfig | null): boolean {
  if (a === null || b === null) return a === b;
  return a.hold === b.hold && a.onFail === b.onFail && a.steps.length === b.steps.length && a.steps.every((s, i) => s === b.steps[i]);
}
