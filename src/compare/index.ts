// Public API of the comparison engine.

export type { Answer, CompareContext, Difference, Example, Kind, Part, SkipReason, Verdict } from './types.js';
export type { CompiledRules } from './rules.js';
export { BUILT_IN_IGNORED_HEADERS, compileRules } from './rules.js';
export type { BodyPlan, PairVerdicts } from './compare.js';
export { compareAnswers, compareBoth, planBodies } from './compare.js';
export type { ByteBudget } from './budget.js';
export { MAX_BUDGET_BYTES, MemoryBudget } from './budget.js';
export type { NoiseOptions } from './noise.js';
export { NoiseLearner, applyNoise, compareWithBaseline } from './noise.js';
export type { DecodeFailure, DecodeLimits, DecodeResult } from './decode.js';
export { DEFAULT_MAX_DECODE_RATIO, MAX_NESTED_ENCODINGS, RATIO_FLOOR_BYTES, decodeBody } from './decode.js';
export type { ComparePoolOptions } from './pool.js';
export { COMPARE_HEAP_PER_BODY, CompareBusyError, ComparePool, ComparePoolError, engineSkipReason } from './pool.js';
export type { JsonValue } from './json-parse.js';
export { BigNum, parseJson } from './json-parse.js';
export type { Segment, States } from './paths.js';
export { PathSet, PathSyntaxError, canonicalPath, canonicalSegments, formatPath, parsePath } from './paths.js';
export { CUT_ROOM, MAX_COMPARISON_CHARS, MAX_DIFFERENCES, MAX_EXAMPLES, MAX_STRING, MAX_VALUE_CHARS, summarise } from './differences.js';
export type { Cut, ExactNumber, SampleValue } from './sample-value.js';
export { CUT, exactNumber, exactText, isCutValue, isExactNumber, writeJson } from './sample-value.js';
export { workerEntry } from './worker-entry.js';
