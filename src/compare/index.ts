// Public API of the comparison engine.

export type { Answer, CompareContext, Difference, Kind, Part, SkipReason, Verdict } from './types.js';
export type { CompiledRules } from './rules.js';
export { BUILT_IN_IGNORED_HEADERS, compileRules } from './rules.js';
export { compareAnswers } from './compare.js';
export type { NoiseOptions } from './noise.js';
export { NoiseLearner, applyNoise, compareWithBaseline } from './noise.js';
export type { DecodeResult } from './decode.js';
export { decodeBody } from './decode.js';
export type { ComparePoolOptions } from './pool.js';
export { CompareBusyError, ComparePool, ComparePoolError } from './pool.js';
export type { JsonValue } from './json-parse.js';
export { BigNum, parseJson } from './json-parse.js';
export type { Segment, States } from './paths.js';
export { PathSet, PathSyntaxError, canonicalSegments, parsePath } from './paths.js';
export { MAX_DIFFERENCES, MAX_STRING, summarise } from './differences.js';
