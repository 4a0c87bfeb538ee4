/**
 * The rule engine's behaviour beyond the corpus figures: normalisation reaches every spelling,
 * scores add up against the threshold, exclusions remove exactly what they name, bodies are read
 * by format (a JSON key path, multipart fields and file names, a body cut mid-string), and no
 * input makes matching slow.
 */
import t from 'tap';
import { RuleEngine } from '../../../src/workers/security/rule-engine.js';
import { NormalizedInput, normalizeInto, INPUT_FLAGS } from '../../../src/workers/security/normalize.js';
import { inspectBody } from '../../../src/workers/security/body-fields.js';
import { TARGET } from '../../../src/workers/security/targets.js';
import type { SecurityExclusionConfig } from '../../../src/shared/config/schema.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const BROWSER = ['Host', 'shop.example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0'];

function engineWith(exclusions: SecurityExclusionConfig[] = [], threshold = 5): RuleEngine {
  return new RuleEngine({ threshold, exclusions, allowedMethods: METHODS });
}

function head(engine: RuleEngine, target: string, headers: string[] = BROWSER, method = 'GET') {
  const tx = engine.transaction();
  engine.inspectHead(tx, method, target, headers, false);
  return tx;
}

t.test('normalisation: one form for every spelling, and what it saw as flags', async (t) => {
  const out = new NormalizedInput();
  const spellings = ['<script>', '%3Cscript%3E', '%253Cscript%253E', '%25253Cscript%25253E', '&lt;script&gt;', '&#60;script&#x3e;', '\\u003cscript\\u003e', '<ScRiPt>', '%u003cscript%u003e', '＜ｓｃｒｉｐｔ＞'];
  for (const spelling of spellings) {
    normalizeInto(out, spelling, true);
    t.equal(out.value, '<script>', `${spelling} normalises to <script>`);
  }
  normalizeInto(out, '..%c0%af..%c0%afetc', false);
  t.equal(out.value, '../../etc', 'overlong UTF-8 slashes are read as slashes');
  normalizeInto(out, 'a%00b', true);
  t.equal(out.value, 'ab');
  t.ok(out.flags & INPUT_FLAGS.nullByte, 'a null byte is removed and flagged');
  normalizeInto(out, 'rock+%26+roll', true);
  t.equal(out.value, 'rock & roll', '+ is a space in urlencoded values');
  normalizeInto(out, 'C++', false);
  t.equal(out.value, 'c++', 'but not elsewhere');
  normalizeInto(out, '50%25+off', true);
  t.equal(out.flags & INPUT_FLAGS.badEscape, 0, 'a % produced by decoding is not a malformed escape');
  normalizeInto(out, '%zz', true);
  t.ok(out.flags & INPUT_FLAGS.badEscape, 'a malformed escape on the wire is flagged');
  normalizeInto(out, 'x'.repeat(100_000), false);
  t.equal(out.value.length, 8192, 'values are cut at MAX_VALUE_CHARS');
});

t.test('anomaly scoring: weak signals alone stay below the threshold, together they reach it', async (t) => {
  const engine = engineWith();
  t.equal(head(engine, '/', ['Host', 'shop.example.com']).score, 2, 'no User-Agent: notice (2)');
  t.equal(head(engine, '/', ['Host', '10.0.0.1:8080']).score, 4, 'no User-Agent and an IP Host: 2 + 2, allowed');
  t.notOk(engine.isAttack(head(engine, '/', ['Host', '10.0.0.1:8080'])));
  const tx = engine.transaction();
  engine.inspectHead(tx, 'GET', '/', ['Host', 'shop.example.com'], true);
  t.same([tx.score, engine.isAttack(tx)], [2 + 3 + 2, true], 'no User-Agent, GET with a body, no Content-Type: 7, blocked');
  const strict = engineWith([], 2);
  t.ok(strict.isAttack(head(strict, '/', ['Host', 'shop.example.com'])), 'a lower threshold blocks a single notice');
});

t.test('each rule counts once per request, and the event keeps the first matches with a redacted snippet', async (t) => {
  const engine = engineWith();
  const tx = head(engine, "/search?q=1'+or+1=1--&r=1'+or+2=2--", [...BROWSER, 'Cookie', "sid=x' or 1=1--"]);
  t.equal(tx.score, 5, '942100 once, though two parameters and a cookie match it');
  t.same(tx.matches.map((m) => m.variable), ['query:q']);
  t.equal(tx.matches[0]!.snippet, "1' or 1=1--");
  const cookie = head(engine, '/', [...BROWSER, 'Cookie', "sid=x' or 1=1--"]);
  t.same([cookie.matches[0]!.variable, cookie.matches[0]!.snippet], ['cookie:sid', ''], 'cookie values never appear in events');
});

t.test('exclusions: by rule id, by category, under a path, for a parameter; the rest still applies', async (t) => {
  const attack = "/search?q=1'+or+1=1--";
  t.ok(engineWith().isAttack(head(engineWith(), attack)));
  const byRule = engineWith([{ rules: [942100, 942110] }]);
  t.notOk(byRule.isAttack(head(byRule, attack)), 'removing both rules lets it through');
  t.ok(byRule.isAttack(head(byRule, '/search?q=1+union+select+1,2--')), 'other SQLi rules still apply');
  const byCategory = engineWith([{ rules: ['sqli'] }]);
  t.notOk(byCategory.isAttack(head(byCategory, attack)));
  const byPath = engineWith([{ rules: ['sqli'], paths: ['/search'] }]);
  t.notOk(byPath.isAttack(head(byPath, attack)), 'excluded under /search');
  t.ok(byPath.isAttack(head(byPath, "/products?q=1'+or+1=1--")), 'not elsewhere');
  const byParameter = engineWith([{ rules: ['sqli'], parameters: ['query:q'] }]);
  t.notOk(byParameter.isAttack(head(byParameter, attack)), 'excluded for query:q');
  t.ok(byParameter.isAttack(head(byParameter, "/search?id=1'+or+1=1--")), 'not for another parameter');
  const bareName = engineWith([{ parameters: ['q'] }]);
  t.notOk(bareName.isAttack(head(bareName, '/search?q=<script>alert(1)</script>')), 'a bare name with no rules excludes every rule for that input');
});

t.test('bodies: JSON key paths and strings, a cut body, multipart fields and file names, urlencoded pairs', async (t) => {
  const engine = engineWith();
  const json = (text: string) => {
    const tx = engine.transaction();
    inspectBody(engine, tx, 'json', undefined, text);
    return tx;
  };
  t.same(json('{"user":{"profile":{"__proto__":{"admin":true}}}}').matches.map((m) => m.variable), ['body:user.profile.__proto__']);
  t.ok(engine.isAttack(json('{"\\u005f_proto__":1}')), 'escaped keys are unescaped first');
  t.ok(engine.isAttack(json('{"constructor":{"prototype":{"x":1}}}')), 'constructor.prototype as a key path');
  t.ok(engine.isAttack(json('{"items":[{"note":"ok"},{"note":"<script>alert(1)</scr')), 'a body cut mid-string is inspected up to the cut');
  t.notOk(engine.isAttack(json('{"note":"O\'Brien likes rock & roll","n":1,"ok":true}')));
  t.ok(engine.isAttack(json("' or 1=1 --")), 'a JSON body that is not JSON is inspected whole');

  const boundary = 'XyZ';
  const multipart = (parts: string) => {
    const tx = engine.transaction();
    inspectBody(engine, tx, 'multipart', boundary, parts);
    return tx;
  };
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const file = (name: string, filename: string, content: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\n${content}\r\n`;
  t.same(multipart(field('comment', '<svg onload=alert(1)>') + `--${boundary}--`).matches[0]?.variable, 'body:comment');
  t.ok(engine.isAttack(multipart(file('upload', '../../../etc/passwd', 'x'))), 'a file name is inspected');
  t.notOk(engine.isAttack(multipart(file('upload', 'notes.txt', "<?php system($_GET['c']); ?> ; cat /etc/passwd"))), 'file contents are not (CRS inspects FILES names only)');

  const form = engine.transaction();
  inspectBody(engine, form, 'urlencoded', undefined, 'name=eve&__proto__%5Badmin%5D=1');
  t.same(form.matches.map((m) => m.ruleId), [934100], 'urlencoded names are inspected');
});

t.test('methods and protocol policy', async (t) => {
  const engine = engineWith();
  t.ok(engine.isAttack(head(engine, '/', BROWSER, 'TRACE')), 'TRACE is outside the allowed methods');
  const webdav = new RuleEngine({ threshold: 5, exclusions: [], allowedMethods: [...METHODS, 'PROPFIND'] });
  t.notOk(webdav.isAttack(head(webdav, '/', BROWSER, 'PROPFIND')), 'allowedMethods widens the list');
  t.ok(engine.isAttack(head(engine, '/', [...BROWSER, 'Proxy', 'http://evil:8080'])), 'httpoxy');
  const tx = engine.transaction();
  engine.inspectHead(tx, 'POST', '/', [...BROWSER, 'Content-Type', 'text/plain; charset=utf-7'], true);
  t.ok(engine.isAttack(tx), 'a charset outside the allowed ones');
});

t.test('matching stays linear on hostile inputs (no catastrophic backtracking)', async (t) => {
  const engine = engineWith();
  const hostile = [
    `'${' or'.repeat(3000)}`,
    `${"'".repeat(8000)}`,
    `${'<a '.repeat(3000)}`,
    `${'../'.repeat(3000)}`,
    `${';'.repeat(8000)}`,
    `${'{{'.repeat(4000)}`,
    `${'/*'.repeat(4000)}`,
    `javascript${' '.repeat(8000)}`,
    `${'1 or '.repeat(1600)}`,
    `${'%25'.repeat(2700)}`,
    `${'a'.repeat(7000)}@@${'('.repeat(1000)}`,
  ];
  for (const value of hostile) {
    const started = performance.now();
    for (const target of [TARGET.query, TARGET.body]) {
      const tx = engine.transaction();
      engine.inspectField(tx, target, 'query', 'q', value, target === TARGET.query);
    }
    const ms = performance.now() - started;
    t.ok(ms < 250, `${JSON.stringify(value.slice(0, 12))}… (${value.length} chars) inspected in ${ms.toFixed(1)} ms`);
  }
});
