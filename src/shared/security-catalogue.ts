/**
 * The security filter's rule catalogue as data (issue 17): every rule's id, category, severity
 * and title. The config schema validates exclusions against it, the API can list it, and the
 * workers' matchers (src/workers/security/matchers.ts) are a map keyed by these ids, so a rule
 * listed here without a matcher (or the reverse) does not compile.
 *
 * Ids and categories follow the OWASP Core Rule Set's numbering (920 protocol, 913 scanners,
 * 930 LFI, 931 RFI, 932 command injection, 934 Node.js, 941 XSS, 942 SQLi), so operators who
 * know CRS recognise them; the rules themselves are our own.
 */

/** Categories in report order. */
export const SECURITY_CATEGORIES = ['protocol', 'scanner', 'lfi', 'rfi', 'rce', 'sqli', 'xss', 'nodejs'] as const;
export type SecurityCategory = (typeof SECURITY_CATEGORIES)[number];

/** Anomaly scores (CRS's defaults): one critical match reaches the default threshold of 5. */
export const SEVERITY_SCORES = { critical: 5, error: 4, warning: 3, notice: 2 } as const;
export type Severity = keyof typeof SEVERITY_SCORES;

export interface SecurityRule {
  readonly id: number;
  readonly category: SecurityCategory;
  readonly severity: Severity;
  readonly title: string;
}

const rule = (id: number, category: SecurityCategory, severity: Severity, title: string): SecurityRule => ({ id, category, severity, title });

export const SECURITY_RULES = [
  rule(920100, 'protocol', 'critical', 'Method not allowed by policy'),
  rule(920170, 'protocol', 'warning', 'GET or HEAD request with a body'),
  rule(920220, 'protocol', 'warning', 'Invalid percent-encoding in a query or form value'),
  rule(920260, 'protocol', 'warning', 'Unicode full-width or %u encoding'),
  rule(920270, 'protocol', 'critical', 'Null byte in the request'),
  rule(920280, 'protocol', 'warning', 'Missing or empty Host header'),
  rule(920320, 'protocol', 'notice', 'Missing User-Agent header'),
  rule(920340, 'protocol', 'notice', 'Request body without Content-Type'),
  rule(920350, 'protocol', 'notice', 'Host header is a numeric IP address'),
  rule(920420, 'protocol', 'critical', 'Malformed Content-Type or a charset outside the allowed ones'),
  rule(920440, 'protocol', 'critical', 'File extension restricted by policy (backups, configs, keys, databases)'),
  rule(920450, 'protocol', 'critical', 'Restricted header (Proxy: httpoxy)'),
  rule(921110, 'protocol', 'critical', 'HTTP request smuggling in a parameter'),
  rule(921130, 'protocol', 'critical', 'CRLF header injection / response splitting'),
  rule(913100, 'scanner', 'critical', 'User-Agent of a security scanner or attack tool'),
  rule(913110, 'scanner', 'critical', 'Header set by a security scanner'),
  rule(913120, 'scanner', 'critical', 'Probe for a sensitive path (VCS, dotfiles, admin consoles, CMS logins)'),
  rule(930100, 'lfi', 'critical', 'Encoded path traversal'),
  rule(930110, 'lfi', 'critical', 'Path traversal at the start of a value or repeated'),
  rule(930115, 'lfi', 'warning', 'Single path traversal inside a value'),
  rule(930120, 'lfi', 'critical', 'Access to an operating system file'),
  rule(931100, 'rfi', 'critical', 'URL with an IP address host as a parameter value'),
  rule(931110, 'rfi', 'critical', 'URL in a parameter commonly used for file inclusion'),
  rule(931120, 'rfi', 'critical', 'URL ending with a question mark or null byte (include trick)'),
  rule(931130, 'rfi', 'critical', 'Stream wrapper or non-HTTP scheme (php://, phar://, expect://, gopher://...)'),
  rule(932100, 'rce', 'critical', 'Unix command after a shell separator'),
  rule(932105, 'rce', 'critical', 'Windows command after a shell separator'),
  rule(932110, 'rce', 'critical', 'Shell substitution or expansion ($(..), backticks, ${IFS})'),
  rule(932130, 'rce', 'critical', 'Shell or interpreter path, reverse shell'),
  rule(932170, 'rce', 'critical', 'Shellshock function definition'),
  rule(934100, 'nodejs', 'critical', 'Prototype pollution key (__proto__) in a name'),
  rule(934110, 'nodejs', 'critical', 'Prototype pollution path (constructor.prototype) in a name'),
  rule(934120, 'nodejs', 'critical', 'Node.js code injection (child_process, process.mainModule, require)'),
  rule(934130, 'nodejs', 'critical', 'Prototype pollution key inside a JSON value'),
  rule(941110, 'xss', 'critical', 'Script tag'),
  rule(941120, 'xss', 'critical', 'HTML event handler attribute'),
  rule(941130, 'xss', 'critical', 'javascript:, vbscript: or data:text/html URI'),
  rule(941140, 'xss', 'critical', 'Active HTML element (iframe, object, embed, meta, base, frameset, applet)'),
  rule(941150, 'xss', 'notice', 'HTML element often used in XSS vectors'),
  rule(941160, 'xss', 'warning', 'JavaScript sink or dialog call'),
  rule(941170, 'xss', 'error', 'Attribute breakout followed by a tag'),
  rule(941180, 'xss', 'critical', 'CSS expression or binding, or script-capable attribute (srcdoc, formaction)'),
  rule(941190, 'xss', 'critical', 'Client-side template injection'),
  rule(942100, 'sqli', 'critical', 'Quote breakout followed by a boolean condition'),
  rule(942110, 'sqli', 'critical', 'Quote breakout followed by a comment'),
  rule(942120, 'sqli', 'critical', 'UNION SELECT'),
  rule(942130, 'sqli', 'critical', 'Stacked query'),
  rule(942140, 'sqli', 'critical', 'Database catalog or system table'),
  rule(942150, 'sqli', 'critical', 'SQL function used for blind or out-of-band injection'),
  rule(942160, 'sqli', 'critical', 'Numeric value followed by a boolean condition or comment'),
  rule(942170, 'sqli', 'critical', 'INTO OUTFILE / DUMPFILE'),
  rule(942180, 'sqli', 'error', 'Subquery'),
  rule(942190, 'sqli', 'error', 'HAVING / ORDER BY / GROUP BY probing'),
  rule(942200, 'sqli', 'warning', 'String concatenation or CHAR() building'),
] as const satisfies readonly SecurityRule[];

export type SecurityRuleId = (typeof SECURITY_RULES)[number]['id'];

export const SECURITY_RULE_IDS: ReadonlySet<number> = new Set(SECURITY_RULES.map((r) => r.id));
