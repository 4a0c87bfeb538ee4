/**
 * How each rule of the catalogue (src/shared/security-catalogue.ts) matches a normalised value.
 *
 * Every pattern runs on a value already cut to MAX_VALUE_CHARS and is written to run in linear
 * time on it: alternations of literals, bounded repetitions (`{0,80}`), no nested quantifiers
 * over overlapping classes. Rules name the character classes they need (normalize.ts CHARS):
 * a value without any of them is not tested at all, which is what keeps ordinary traffic cheap.
 *
 * Rules whose `targets` is 0 are decided from the request as a whole (method, headers present,
 * normalisation flags) by the rule engine, not per value.
 */
import type { SecurityRuleId } from '../../shared/security-catalogue.js';
import { CHARS } from './normalize.js';
import { ARGS, TARGET, VALUES } from './targets.js';

export interface Matcher {
  /** TARGET bits this rule inspects; 0: request-level (rule-engine.ts). */
  readonly targets: number;
  /** CHARS bits of which at least one must be present; 0: always tested. */
  readonly needs: number;
  /** `value` is normalised (lower case); `name` is the input's normalised name; `target` its TARGET bit. */
  test(value: string, name: string, target: number): boolean;
}

const REQUEST_LEVEL: Matcher = { targets: 0, needs: 0, test: () => false };

const regex = (targets: number, needs: number, pattern: RegExp): Matcher => ({ targets, needs, test: (value) => pattern.test(value) });

// --- shell ---------------------------------------------------------------------------------

/** Commands that are an attack wherever they follow a separator. */
const STRONG_COMMANDS =
  'id|whoami|uname|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|csh|tcsh|dash|python[23]?|perl|ruby|php|nslookup|ifconfig|netstat|chmod|chown|mkfifo|telnet|base64|xxd|busybox|socat|crontab|sudo|printenv|passwd|useradd|nohup|lsof|uptime|hostname|getent|systemctl|tftp';
/** Common words too: only with an argument that looks like one (a path, an option, a variable, a number, a quote). */
const WEAK_COMMANDS = 'cat|ls|ping|sleep|echo|rm|env|find|head|tail|more|less|cp|mv|ps|kill|touch|grep|awk|sed|tar|who|w|dig|ssh|scp|pwd|set|export|timeout|xargs|dd|od|nl|tac|rev';
const SEPARATOR = '(?:[;|\\n`]|&&?|\\$\\(|\\|\\|)';
/** In bodies a backtick is markdown's inline code, not a shell's command substitution. */
const BODY_SEPARATOR = '(?:[;|\\n]|&&?|\\$\\(|\\|\\|)';
const BIN_PREFIX = '(?:\\/(?:usr\\/)?(?:local\\/)?s?bin\\/)?';

const command = (end: string) =>
  `\\s{0,8}${BIN_PREFIX}(?:(?:${STRONG_COMMANDS})(?=$|[\\s;|&<>${end}'")$]|\\$\\{?ifs)|(?:${WEAK_COMMANDS})(?:\\s{0,8}$|\\s{0,8}[;|&${end})]|(?:\\s+|\\$\\{?ifs\\}?)[-/.~$'"\\d<>*]))`;
const UNIX_COMMAND = new RegExp(SEPARATOR + command('`'));
const UNIX_COMMAND_IN_BODY = new RegExp(BODY_SEPARATOR + command(''));
const WINDOWS_COMMAND =
  /(?:(?:[;|\n]|&&?)\s{0,8}(?:cmd(?:\.exe)?\s*\/[ck]|powershell|net\s+(?:user|localgroup|view|share|use)\b|ipconfig|systeminfo|tasklist|taskkill|whoami|dir\s+[a-z]:|type\s+[a-z]:|certutil|bitsadmin|reg\s+(?:query|add|delete)\b|wmic|schtasks|mshta|rundll32|regsvr32|ping\s+-n\b)|\bcmd(?:\.exe)?\s+\/[ck]\s|\bpowershell(?:\.exe)?\s+(?:-(?:e|enc|encodedcommand|nop|noprofile|w|windowstyle|c|command|exec)\b)|\biex\s*\(\s*new-object|\bcertutil(?:\.exe)?\s+-urlcache|\bnew-object\s+(?:system\.)?net\.webclient)/;
const SUBSTITUTION = new RegExp(`(?:\\$\\(\\s{0,8}${BIN_PREFIX}(?:${STRONG_COMMANDS}|${WEAK_COMMANDS})\\b|\\$\\{ifs\\}|\\$ifs\\$?\\d|\\{(?:${STRONG_COMMANDS}|${WEAK_COMMANDS}),[^}\\s]{1,200}\\})`);
const BACKTICK = new RegExp(`\`\\s{0,8}${BIN_PREFIX}(?:${STRONG_COMMANDS}|${WEAK_COMMANDS})\\b[^\`]{0,200}\``);
const SHELL_PATHS =
  /(?:(?<!#!)\/bin\/(?:ba|z|k|c|tc|da)?sh\b|\/usr\/bin\/(?:env\s|perl|python\d?|ruby|php|wget|curl|nc|id\b|whoami)|\/dev\/(?:tcp|udp)\/|\bnc(?:at)?\s+(?:-[a-z]*[el]\b|\S+\s+\d{2,5}\s+-e\b)|\b(?:ba)?sh\s+-i\b|>&\s*\/dev\/|\b(?:wget|curl)\s+(?:-[a-z-]+\s+){0,4}(?:https?|ftp):\/\/\S{1,300}\s*\|\s*(?:ba|z)?sh\b|\bpython[23]?\s+-c\s+['"]import\s|\bperl\s+-e\s|\bruby\s+-rsocket\b|\bphp\s+-r\s|\bsocket\.socket\s*\(|\bpty\.spawn\s*\()/;
const SHELLSHOCK = /^\s*\(\s*\)\s*\{/;

// --- SQL -----------------------------------------------------------------------------------

/**
 * After an odd-numbered quote (one that closes the string the application opened), SQL is
 * live: `admin' or 1=1`. After an even-numbered one it is text again, so a balanced phrase like
 * `'cats' or 'dogs'` and a name like O'Brien do not match (as libinjection reasons in contexts).
 */
const AFTER_QUOTE_BOOLEAN =
  /\s{0,8}\)*\s{0,8}(?:(?:or|and|xor|div|rlike|regexp)\b|\|\||&&)\s{0,8}[^;]{0,80}?(?:=|<|>|\blike\b|\bin\s*\(|\bis\s+(?:not\s+)?null\b|\bbetween\b|\bsleep\s*\(|\bbenchmark\s*\(|\btrue\b|\bfalse\b|\bexists\s*\(|\bnot\b|\d|\(\s*select\b)/y;
const AFTER_QUOTE_COMMENT =
  /\s{0,8}\)*\s{0,8}(?:--(?:[\s+-]|$)|#(?:\s|$)|\/\*|;\s{0,8}(?:--|#|\/\*|$)|(?:order|group)\s+by\s+(?:\d|[\w.]{1,40}\s*(?:--|#|,|\basc\b|\bdesc\b|\bhaving\b))|having\s+\d+\s*[=<>]|union\s+(?:all\s+)?select\b|limit\s+\d+\s*(?:,\s*\d+\s*)?(?:--|#)|procedure\s+analyse\b|into\s+(?:out|dump)file\b)/y;
const MAX_QUOTES = 32;

function afterOddQuote(value: string, sticky: RegExp): boolean {
  for (const quote of ["'", '"']) {
    let at = value.indexOf(quote);
    for (let n = 1; at !== -1 && n <= MAX_QUOTES; n++) {
      if (n % 2 === 1) {
        sticky.lastIndex = at + 1;
        if (sticky.test(value)) return true;
      }
      at = value.indexOf(quote, at + 1);
    }
  }
  return false;
}

/** Inline comments `/**\/` read as a space, MySQL's executable `/*!50000select*\/` as its content. */
function sqlForm(value: string): string {
  if (!value.includes('/*')) return value;
  let out = '';
  let from = 0;
  for (let at = value.indexOf('/*'); at !== -1; at = value.indexOf('/*', from)) {
    const end = value.indexOf('*/', at + 2);
    const executable = value.charCodeAt(at + 2) === 33; /* ! */
    if (end === -1) {
      out += value.slice(from, at) + ' ';
      from = value.length;
      break;
    }
    out += value.slice(from, at) + ' ' + (executable ? value.slice(at + 3, end).replace(/^\d{0,6}/, '') : '') + ' ';
    from = end + 2;
  }
  return out + value.slice(from);
}

/**
 * A value that is itself SQL (a code snippet or tutorial in a JSON body, starting with a
 * statement or a markdown fence) is text about SQL, not an injection into a parameter: stacked
 * statements and UNION are how such text reads. Injections start inside a value (`1;`, `x'`).
 */
const SQL_DOCUMENT = /^\s*(?:select|insert|update|delete|create|alter|drop|with|begin|explain|--)\b|```/;

const sql = (needs: number, pattern: RegExp, allowDocuments = true): Matcher => ({
  targets: VALUES | TARGET.path,
  needs,
  test: (value) => {
    const form = sqlForm(value);
    return pattern.test(form) && (allowDocuments || !SQL_DOCUMENT.test(form));
  },
});

const UNION_SELECT =
  /\bunion\s+(?:all\s+|distinct\s+)?\(?\s*select\s*(?:null\b|\d|@@|\*|['"(]|(?:char|concat|version|user|database|group_concat|schema|current_user|load_file|table_name|column_name)\b|[\w.`]+\s*,|[\w.`]+\s+from\s)/;
const STACKED =
  /;\s{0,8}(?:drop\s+(?:table|database|user|schema|procedure|function|view)\b|delete\s+from\b|insert\s+into\b|update\s+[\w.`"[\]]+\s+set\b|truncate\s+(?:table\s+)?[\w`"]|alter\s+(?:table|user|database|login)\b|create\s+(?:table|user|database|function|procedure|trigger|login)\b|exec(?:ute)?\s+(?:master|xp_|sp_|\(|@)|declare\s+@|shutdown\b|grant\s+\w+\s+on\b|select\s+(?:pg_sleep|sleep|benchmark|\*\s+from|[\w@*(]+\s*(?:,|from\b)|@@|user\b|version\b|load_file|current_user|\d)|waitfor\s+delay\b|copy\s+\w+\s+(?:from|to)\s+program\b)/;
const CATALOGS =
  /\b(?:information_schema|mysql\.(?:user|db)\b|sys\.(?:objects|tables|columns|databases|sql_logins|user_summary)\b|sysobjects|syscolumns|sysusers|master\.\.sys|pg_(?:catalog|shadow|user|tables|database|namespace)\b|sqlite_(?:master|schema|temp_master)\b|all_tables\b|user_tables\b|all_tab_columns\b|dba_users\b|msysobjects|msysaccessobjects|v\$version)/;
const SQL_FUNCTIONS =
  /(?:(?<![.\w])sleep\s*\(\s*\d|(?<![.\w])benchmark\s*\(\s*\d|\bpg_sleep\s*\(|\bwaitfor\s+(?:delay|time)\s+['"]|\bload_file\s*\(|\bextractvalue\s*\(|\bupdatexml\s*\(|\bxp_cmdshell|\bxp_dirtree|\bxp_regread|\bsp_executesql|\bsp_oacreate|\bdbms_pipe\.receive_message|\bdbms_lock\.sleep|\butl_(?:http|inaddr)\.|\brandomblob\s*\(\s*\d{6,}|@@(?:version|datadir|hostname|basedir|servername)\b|\b(?:user|database|version|current_user|system_user|session_user|schema)\s*\(\s*\)\s*(?:--|#|,|\)|=|$)|\bname_const\s*\(|\bexp\s*\(\s*~|\bgtid_subset\s*\(|\bconvert\s*\(\s*int\s*,|\bcast\s*\(\s*\(?\s*select\b|\bchar\s*\(\s*\d+\s*\)\s*(?:\+|\|\||,)\s*char\s*\(|\bcase\s+when\s+[^;]{1,80}\bthen\s+[^;]{1,40}\belse\b[^;]{1,80}\bend\b\s*\)?\s*(?:--|#|=|and|or)|\biif\s*\(\s*\d|\bif\s*\(\s*\d+\s*[=<>]\s*\d+\s*,\s*sleep)/;
const NUMERIC_CONTEXT =
  /^\s*-?\d+(?:\.\d+)?\s*\)*\s*(?:(?:or|and|xor|\|\||&&)\s+(?:[\w'"(@-]{1,40}\s*(?:=|<>|!=|<|>|\blike\b|\bis\b|\bbetween\b|\bin\s*\()|true\b|false\b|not\b|sleep\s*\(|benchmark\s*\(|exists\s*\(|\(\s*select\b|\d+\s*[=<>]|[\w(]{0,40}\(\s*select\b)|--(?:[\s+-]|$)|#\s*$|\/\*|procedure\s+analyse|(?:order|group)\s+by\s+\d|having\s+\d|rlike\b|regexp\b)/;
const SUBQUERY =
  /\(\s*select\s+(?:\*|\d|null\b|@@|count\s*\(|top\s+\d|case\b|char\s*\(|concat|group_concat|substring|ascii|user\s*\(|database\s*\(|version\s*\(|current_user|[\w.]+\s+from\s+[\w.]+)/;
const PROBING = /\bhaving\s+\d+\s*=\s*\d+|\border\s+by\s+\d+\s*(?:--|#|\/\*|(?:asc|desc)\s*(?:--|#))|\bgroup\s+by\s+[\w.]+\s+having\b|\bprocedure\s+analyse\s*\(/;
const CONCAT = /['"]\s*(?:\|\||\+|\bconcat\b)\s*\(?\s*(?:select\b|char\s*\(|chr\s*\()|\bconcat(?:_ws)?\s*\(\s*(?:0x[0-9a-f]+|char\s*\()|\bchar\s*\(\s*\d+\s*(?:,\s*\d+\s*){2,}\)/;

// --- XSS -----------------------------------------------------------------------------------

const EVENT_HANDLER =
  /(?:^|[^a-z0-9_-])on(?:abort|activate|afterprint|animation(?:start|end|iteration)|auxclick|beforeprint|beforeunload|beforetoggle|begin|blur|canplay(?:through)?|change|click|close|contextmenu|copy|cuechange|cut|dblclick|drag(?:end|enter|leave|over|start)?|drop|durationchange|end|ended|error|finish|focus(?:in|out)?|formdata|hashchange|input|invalid|key(?:down|press|up)|load(?:ed(?:data|metadata)|start|end)?|message|mouse(?:down|enter|leave|move|out|over|up|wheel)|pagehide|pageshow|paste|pause|play(?:ing)?|pointer(?:down|enter|leave|move|out|over|up|rawupdate)|popstate|progress|ratechange|readystatechange|repeat|reset|resize|scroll(?:end)?|search|seeked|seeking|select(?:start|ionchange)?|show|start|storage|submit|toggle|touch(?:start|end|move|cancel)|transition(?:start|end|run|cancel)|unload|volumechange|waiting|wheel)\s*=/;
const SCRIPT_URI =
  /(?:j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t|l\s*i\s*v\s*e\s*s\s*c\s*r\s*i\s*p\s*t)\s*:\s*(?:[a-z_$][\w$.]{0,40}\s*[(`=[]|\/[/*]|['"(`[]|$)|\bdata\s*:\s*(?:text\/html|image\/svg\+xml|application\/(?:x-)?(?:javascript|ecmascript)|text\/javascript)\b/;
const ACTIVE_ELEMENT = /<(?:iframe|frame|frameset|object|embed|applet|meta|base|isindex|xss|link\s[^>]{0,80}rel\s*=\s*['"]?import)[\s/>]/;
const VECTOR_ELEMENT = /<(?:svg|math|img|image|video|audio|source|body|input|form|button|style|marquee|details|select|textarea|keygen|table|a|animate|set)[\s/>]/;
const JS_SINK =
  /(?:document\s*\.\s*(?:cookie|domain|write|location)|window\s*\.\s*location|(?:^|[^a-z0-9_.$])(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode|atob)\s*(?:\(|`)|\.innerhtml\s*=|\btop\s*\[\s*['"]|\bself\s*\[\s*['"])/;
const ATTRIBUTE_BREAKOUT = /['"`]\s*\/?>\s*<[a-z!/]|^\s*\/?>\s*<[a-z!/]/;
const CSS_OR_ATTRIBUTE = /[:=]\s*expression\s*\(|-moz-binding|behavior\s*:\s*url|(?:^|[\s"'/])(?:srcdoc|formaction|xlink:href)\s*=|@import\s*['"]?\s*(?:javascript|data):/;
const TEMPLATE_INJECTION =
  /\{\{[^}]{0,200}(?:constructor|\$on\b|\$eval|\$new\b|\balert\b|__proto__|\[\s*['"]\w)|\{\{\s*\d+\s*\*\s*\d+\s*\}\}|\$\{\s*\d+\s*\*\s*\d+\s*\}|#\{\s*\d+\s*\*\s*\d+\s*\}|<%=?\s*\d+\s*\*\s*\d+\s*%>|\{\{\s*(?:self|config|request|lipsum|cycler|joiner|namespace)\b[^}]{0,100}\}\}/;

// --- paths, files, URLs --------------------------------------------------------------------

const SCANNER_AGENT =
  /(?:sqlmap|nikto|\bnmap\b|masscan|zgrab|nessus|openvas|acunetix|netsparker|\bw3af|arachni|skipfish|dirbuster|\bdirb\/|gobuster|feroxbuster|\bffuf|fuzz faster u fool|wfuzz|nuclei|wpscan|joomscan|whatweb|havij|commix|jaeles|xsstrike|appscan|webinspect|\bparos\b|\bzap\/|owasp[ _-]?zap|\bhydra\b|metasploit|morfeus|zmeu|httprint|sqlninja|bsqlbf|pangolin|fimap|dotdotpwn|jorgee|l9explore|l9tcpid|\bxenu|blackwidow|webshag|\bvega\/|struts-pwn|interactsh|\bdalfox|\bgau\/|\bkatana\/|\bhttpx -|scanbot|\bcensysinspect)/;
const OAST_HOSTS = /(?:burpcollaborator\.net|\.oast\.(?:pro|live|site|online|fun|me)\b|\binteract\.sh\b|\bdnslog\.cn\b|canarytokens\.com|\boastify\.com)/;
const PROBE_PATH =
  /(?:^|\/)(?:\.git(?:\/|$)|\.svn(?:\/|$)|\.hg(?:\/|$)|\.bzr(?:\/|$)|\.env(?:\.[a-z]{1,12})?$|\.aws\/|\.ssh\/|\.docker\/|\.kube\/|\.ds_store$|\.htpasswd$|\.htaccess$|\.npmrc$|\.git-credentials$|\.bash_history$|\.vscode\/sftp\.json$|\.idea\/workspace\.xml$|wp-admin(?:\/|$)|wp-login\.php|xmlrpc\.php|wp-config\.php|wp-includes\/|phpmyadmin|pma\/|myadmin\/|adminer(?:-[\d.]{1,10})?\.php|phpinfo\.php|server-(?:status|info)$|actuator\/(?:env|heapdump|jolokia|gateway|mappings|configprops|threaddump|shutdown|logfile)|jmx-console|web-console|manager\/html|solr\/admin|cgi-bin\/|hnap1|boaform|vendor\/phpunit|eval-stdin\.php|_ignition\/execute-solution|owa\/auth\/|autodiscover\/autodiscover\.xml|console\/login\/loginform\.jsp|invoker\/jmxinvokerservlet|(?:shell|c99|r57|cmd|wso|b374k)\.php$|web\.config$|_profiler\/phpinfo|telescope\/requests)/;
const RESTRICTED_EXTENSION = /\.(?:bak|old|orig|save|swp|swo|sql|sqlite3?|db|mdb|ini|conf|cfg|config|key|pem|p12|pfx|jks|kdbx|dump|inc|backup|bash_history)$|~$/;
const TRAVERSAL_START = /^\s*(?:[a-z]:)?[/\\]?\.{2,4}[/\\]/;
/** One level up to a static asset (`../assets/logo.png` in a CMS body) reads nothing secret: left to 930115 alone. */
const ASSET_ONE_LEVEL_UP = /^\s*\.\.\/[\w./-]{1,200}\.(?:png|jpe?g|gif|svg|webp|avif|ico|css|js|mjs|woff2?|ttf|mp[34]|webm|pdf)$/;
const TRAVERSAL_REPEATED = /\.{2,4}[/\\]+\.{2,4}[/\\]/;
const TRAVERSAL = /\.\.[/\\]/;
const OS_FILE =
  /(?:^\/etc\/[a-z]|etc\/(?:passwd|shadow|group|gshadow|sudoers|issue|hostname|crontab|fstab|mtab|os-release|motd|profile|bashrc|resolv\.conf|nginx\/|apache2\/|httpd\/|mysql\/my\.cnf|ssh\/)|proc\/(?:self|\d+)\/(?:environ|cmdline|fd|maps|status|cwd|root|exe|mounts)|(?:^|[/\\])(?:win\.ini|system\.ini|boot\.ini|ntuser\.dat)\b|windows[/\\](?:system32|win\.ini|system\.ini|repair)|(?:^|[/\\])\.(?:ssh[/\\](?:id_[a-z0-9]+|authorized_keys|known_hosts)|bash_history|mysql_history|aws[/\\]credentials|git[/\\]config|env\b)|web-inf[/\\](?:web\.xml|classes)|var\/log\/|(?:^|[/\\])wp-config\.php|var\/run\/secrets|(?:^|[/\\])root[/\\]\.|\bc:[/\\](?:windows|boot|inetpub))/;
const URL_WITH_IP = /^(?:https?|ftps?|file):\/\/(?:[^/@\s]{0,64}@)?(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|0x[0-9a-f]{1,8}|\d{8,10}|\[[0-9a-f:.]{2,45}\])(?:[:/?#]|$)/;
const ABSOLUTE_URL = /^(?:https?|ftps?):\/\//;
const URL_WITH_TRAILING_TRICK = /^(?:https?|ftps?):\/\/[^?#\s]{1,512}(?:\?{1,4}|#)$/;
const WRAPPER = /(?:^|[^a-z0-9+.-])(?:php|phar|zip|zlib|expect|glob|ogg|rar|ssh2(?:\.[a-z]{1,10})?|compress\.(?:zlib|bzip2)|data|gopher|dict|ldap|tftp|netdoc|file):\/\/|^data:(?:text\/plain|application\/x-php|text\/x-php)[;,]|\bjar:(?:https?|file):/;
/** Parameter names that PHP applications pass to include() (CRS 931110's list, abridged). */
const INCLUDE_PARAMETERS = new Set([
  'page', 'file', 'filename', 'include', 'inc', 'include_path', 'require', 'path', 'template', 'tpl', 'doc', 'document',
  'folder', 'root', 'pg', 'style', 'pdf', 'dir', 'lang', 'module', 'mod', 'conf', 'config', 'layout', 'load', 'read',
  'show', 'cat', 'prefix', 'base_path', 'basedir', 'abs_path', 'absolute_path', 'mosconfig_absolute_path',
  'phpbb_root_path', 'gallery_basedir', 'skin', 'theme', 'inc_file', 'plugin',
]);
const INCLUDE_SUBSCRIPT = /\[(?:libdir|basedir|rootdir|path)\]$/;

// --- Node.js -------------------------------------------------------------------------------

const PROTO_NAME = /__proto__/;
const CONSTRUCTOR_PROTOTYPE = /constructor\s*['"]?\s*\]?\s*(?:\.|\[)\s*['"]?\s*prototype/;
const NODE_INJECTION =
  /(?:\brequire\s*\(\s*['"`](?:child_process|vm|node:child_process|node:vm)['"`]\s*\)|\bchild_process\b|\bprocess\s*\.\s*(?:mainmodule|binding|dlopen|kill)\b|\bglobal\s*\.\s*process\b|\bthis\s*\.\s*constructor\s*\.\s*constructor\b|\bconstructor\s*\.\s*constructor\s*\(|\bexecsync\s*\(|\bspawnsync\s*\(|\bnew\s+function\s*\(\s*['"`]return\b|\bfunction\s*\(\s*['"`]return\s+(?:this|process|global)\b|\bprocess\.env\s*\)|\bglobalthis\s*\.\s*process\b)/;
const PROTO_IN_JSON = /["']__proto__["']\s*:|["']constructor["']\s*:\s*\{\s*["']prototype["']\s*:/;

// --- protocol, per value ---------------------------------------------------------------------

const SMUGGLED_REQUEST = /[\r\n]\s{0,8}(?:get|post|put|delete|head|options|connect|patch|trace)\s+\S{1,2000}\s+http\/\d/;

export const MATCHERS = {
  920100: REQUEST_LEVEL,
  920170: REQUEST_LEVEL,
  920220: REQUEST_LEVEL,
  920260: REQUEST_LEVEL,
  920270: REQUEST_LEVEL,
  920280: REQUEST_LEVEL,
  920320: REQUEST_LEVEL,
  920340: REQUEST_LEVEL,
  920350: REQUEST_LEVEL,
  920420: REQUEST_LEVEL,
  920440: regex(TARGET.path, CHARS.dot, RESTRICTED_EXTENSION),
  920450: REQUEST_LEVEL,
  921110: regex(VALUES, CHARS.shellSep, SMUGGLED_REQUEST),
  921130: REQUEST_LEVEL,
  913100: regex(TARGET.userAgent, 0, SCANNER_AGENT),
  913110: regex(VALUES, CHARS.dot, OAST_HOSTS),
  913120: regex(TARGET.path, CHARS.dot | CHARS.slash | CHARS.dash, PROBE_PATH),
  930100: REQUEST_LEVEL,
  930110: { targets: VALUES | TARGET.path, needs: CHARS.dot, test: (v) => (TRAVERSAL_START.test(v) && !ASSET_ONE_LEVEL_UP.test(v)) || TRAVERSAL_REPEATED.test(v) },
  930115: regex(VALUES, CHARS.dot, TRAVERSAL),
  930120: regex(VALUES | TARGET.path, CHARS.slash | CHARS.dot, OS_FILE),
  931100: regex(ARGS, CHARS.colon, URL_WITH_IP),
  931110: {
    targets: ARGS,
    needs: CHARS.colon,
    test: (value, name) => ABSOLUTE_URL.test(value) && (INCLUDE_PARAMETERS.has(name) || INCLUDE_SUBSCRIPT.test(name)),
  },
  931120: regex(ARGS, CHARS.colon, URL_WITH_TRAILING_TRICK),
  931130: regex(ARGS | TARGET.cookie, CHARS.colon, WRAPPER),
  932100: {
    targets: VALUES | TARGET.path,
    needs: CHARS.shellSep | CHARS.quote | CHARS.dollar,
    test: (value, _name, target) => (target & TARGET.body ? UNIX_COMMAND_IN_BODY : UNIX_COMMAND).test(value),
  },
  932105: regex(VALUES, CHARS.shellSep | CHARS.slash | CHARS.dash | CHARS.paren, WINDOWS_COMMAND),
  932110: {
    targets: VALUES | TARGET.path,
    needs: CHARS.dollar | CHARS.quote | CHARS.brace,
    // Markdown spells inline code with backticks: in bodies only $(..), ${IFS} and {cmd,arg} count.
    test: (value, _name, target) => SUBSTITUTION.test(value) || ((target & TARGET.body) === 0 && BACKTICK.test(value)),
  },
  932130: regex(VALUES, CHARS.slash | CHARS.dash | CHARS.paren | CHARS.angle, SHELL_PATHS),
  932170: regex(VALUES, CHARS.paren, SHELLSHOCK),
  934100: regex(TARGET.name, CHARS.underscore, PROTO_NAME),
  934110: regex(TARGET.name, CHARS.dot | CHARS.bracket, CONSTRUCTOR_PROTOTYPE),
  934120: regex(VALUES, CHARS.paren | CHARS.dot | CHARS.underscore, NODE_INJECTION),
  934130: regex(VALUES, CHARS.underscore | CHARS.brace, PROTO_IN_JSON),
  941110: regex(VALUES | TARGET.path | TARGET.name, CHARS.angle, /<script[\s/>]|<\/script\s*>/),
  941120: regex(VALUES | TARGET.path | TARGET.name, CHARS.equals, EVENT_HANDLER),
  941130: regex(VALUES | TARGET.path, CHARS.colon, SCRIPT_URI),
  941140: regex(VALUES | TARGET.path | TARGET.name, CHARS.angle, ACTIVE_ELEMENT),
  941150: regex(VALUES | TARGET.path, CHARS.angle, VECTOR_ELEMENT),
  941160: regex(VALUES | TARGET.path, CHARS.paren | CHARS.dot | CHARS.equals | CHARS.bracket | CHARS.quote, JS_SINK),
  941170: regex(VALUES, CHARS.angle, ATTRIBUTE_BREAKOUT),
  941180: regex(VALUES, CHARS.paren | CHARS.equals | CHARS.colon | CHARS.dash, CSS_OR_ATTRIBUTE),
  941190: regex(VALUES | TARGET.path, CHARS.brace | CHARS.angle, TEMPLATE_INJECTION),
  942100: { targets: VALUES | TARGET.path, needs: CHARS.quote, test: (v) => afterOddQuote(sqlForm(v), AFTER_QUOTE_BOOLEAN) },
  942110: { targets: VALUES | TARGET.path, needs: CHARS.quote, test: (v) => afterOddQuote(sqlForm(v), AFTER_QUOTE_COMMENT) },
  942120: sql(0, UNION_SELECT, false),
  942130: sql(CHARS.shellSep, STACKED, false),
  942140: sql(CHARS.underscore | CHARS.dot | CHARS.dollar, CATALOGS),
  942150: sql(CHARS.paren | CHARS.at | CHARS.underscore | CHARS.quote, SQL_FUNCTIONS),
  942160: sql(0, NUMERIC_CONTEXT),
  942170: sql(0, /\binto\s+(?:out|dump)file\b/),
  942180: sql(CHARS.paren, SUBQUERY),
  942190: sql(0, PROBING),
  942200: sql(CHARS.quote | CHARS.paren, CONCAT),
} as const satisfies Record<SecurityRuleId, Matcher>;
