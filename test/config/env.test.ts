import t from 'tap';
import { substituteEnv } from '../../src/config/env.js';

void t.test('substitutes ${VAR} and ${VAR:-default}', (t) => {
  const r = substituteEnv('a: ${A}\nb: ${B:-fallback}\nc: ${C:-}\nd: x${A}y${A}\n', { A: 'one' });
  t.equal(r.text, 'a: one\nb: fallback\nc: \nd: xoneyone\n');
  t.same(r.problems, []);
  t.end();
});

void t.test(':- takes the default when the variable is empty, plain ${VAR} keeps it empty', (t) => {
  const r = substituteEnv('a: ${E:-dflt}\nb: ${E}\n', { E: '' });
  t.equal(r.text, 'a: dflt\nb: \n');
  t.same(r.problems, []);
  t.end();
});

void t.test('an unset variable without default names the variable and the line', (t) => {
  const r = substituteEnv('one: 1\ntwo: 2\nthree: ${NOPE}\n', {});
  t.equal(r.text, 'one: 1\ntwo: 2\nthree: \n');
  t.equal(r.problems.length, 1);
  t.equal(r.problems[0]?.line, 3);
  t.equal(r.problems[0]?.variable, 'NOPE');
  t.equal(r.problems[0]?.offset, 'one: 1\ntwo: 2\nthree: '.length);
  t.match(r.problems[0]?.message, /environment variable NOPE is not set/);
  t.end();
});

void t.test('malformed references are problems', (t) => {
  const r = substituteEnv('a: ${1BAD}\nb: ${OPEN\n', {});
  t.same(r.problems.map((p) => p.line), [1, 2]);
  t.match(r.problems[0]?.message, /malformed environment reference "\$\{1BAD\}"/);
  t.end();
});

void t.test('comments are left alone', (t) => {
  const r = substituteEnv('# token: ${UNSET}\na: "x # ${A}" # ${UNSET}\nb: don\'t ${A} # ${UNSET}\n', { A: 'v' });
  t.same(r.problems, []);
  t.equal(r.text, '# token: ${UNSET}\na: "x # v" # ${UNSET}\nb: don\'t v # ${UNSET}\n');
  t.end();
});

void t.test('$${ is a literal ${ and a lone $ is kept', (t) => {
  const r = substituteEnv('a: $${HOME}\nb: "$.items[*].id"\n', {});
  t.equal(r.text, 'a: ${HOME}\nb: "$.items[*].id"\n');
  t.same(r.problems, []);
  t.end();
});

void t.test('a value with a line break is refused so line numbers stay right', (t) => {
  const r = substituteEnv('a: ${ML}\n', { ML: 'x\ny' });
  t.equal(r.text, 'a: \n');
  t.match(r.problems[0]?.message, /line break/);
  t.end();
});
