/**
 * The per-connection cache of clean header values (clean-headers.ts) changes no verdict: every
 * corpus case, attacks and benign, interleaved on one simulated keep-alive connection, scores what
 * it scores alone; a value that matched anything (an excluded match included) is never cached, so
 * it is inspected again on the next request; the cache stays bounded.
 */
import t from 'tap';
import { RuleEngine } from '../../../src/workers/security/rule-engine.js';
import { CleanHeaders } from '../../../src/workers/security/clean-headers.js';
import { evaluate, loadCorpus } from './corpus.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const engine = new RuleEngine({ threshold: 5, exclusions: [], allowedMethods: METHODS });

t.test('the corpora score the same with one connection cache shared by every request', async (t) => {
  const cases = [...loadCorpus('benign'), ...loadCorpus('attacks')];
  // Benign and attack cases alternate, so a clean value cached by one is met again by the others.
  cases.sort((a, b) => a.id.localeCompare(b.id));
  const clean = new CleanHeaders();
  const differing: string[] = [];
  for (let round = 0; round < 2; round++) {
    for (const c of cases) {
      const alone = evaluate(engine, c);
      const cached = evaluate(engine, c, undefined, clean);
      if (alone.score !== cached.score || alone.rules.join() !== cached.rules.join()) differing.push(`${c.id}: ${alone.score} alone, ${cached.score} cached`);
    }
  }
  t.same(differing, [], `${cases.length} cases, twice each`);
});

const BROWSER = ['Host', 'shop.example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0'];

t.test('a header value that matched, even under an exclusion, is inspected again next time', async (t) => {
  const excluding = new RuleEngine({ threshold: 5, exclusions: [{ rules: ['sqli'], paths: ['/search'] }], allowedMethods: METHODS });
  const clean = new CleanHeaders();
  const cookie = "pref=1' or '1'='1";
  const tx = excluding.transaction();
  excluding.inspectHead(tx, 'GET', '/search', [...BROWSER, 'Cookie', cookie], false, clean);
  t.equal(tx.score, 0, 'excluded under /search');
  t.notOk(clean.has('cookie', cookie), 'not cached: a rule matched');
  excluding.inspectHead(tx, 'GET', '/account', [...BROWSER, 'Cookie', cookie], false, clean);
  t.ok(excluding.isAttack(tx), 'the same cookie elsewhere is an attack');

  const plain = 'session=abc123; theme=dark';
  excluding.inspectHead(tx, 'GET', '/account', [...BROWSER, 'Cookie', plain], false, clean);
  t.ok(clean.has('cookie', plain), 'a clean one is cached');
  excluding.inspectHead(tx, 'GET', '/account', [...BROWSER, 'Cookie', `${plain}; x=<script>alert(1)</script>`], false, clean);
  t.ok(excluding.isAttack(tx), 'a changed value is inspected');
});

t.test('a match only the head checks raise (a numeric Host) does not stop the caching of clean values', async (t) => {
  const clean = new CleanHeaders();
  const tx = engine.transaction();
  const cookie = 'session=abc123; theme=dark';
  engine.inspectHead(tx, 'GET', '/', ['Host', '10.0.0.5:8080', 'User-Agent', 'Mozilla/5.0 Firefox/125.0', 'Cookie', cookie], false, clean);
  t.equal(tx.matches[0]?.ruleId, 920350, 'the numeric Host matched');
  t.ok(clean.has('cookie', cookie), 'the clean cookie is cached all the same');
  t.ok(clean.has('user-agent', 'Mozilla/5.0 Firefox/125.0'));
});

t.test('the cache is bounded in names and characters', async (t) => {
  const clean = new CleanHeaders();
  for (let i = 0; i < 100; i++) clean.add(`x-h${i}`, 'v');
  t.notOk(clean.has('x-h50', 'v'), 'names past the bound are not kept');
  const big = 'a'.repeat(9000);
  clean.add('cookie', big);
  t.notOk(clean.has('cookie', big), 'a value over the character budget is not kept');
  clean.add('x-h0', 'w');
  t.ok(clean.has('x-h0', 'w'), 'a known name takes its new value');
  t.notOk(clean.has('x-h0', 'v'));
});
