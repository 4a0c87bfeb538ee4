/**
 * Content-Type as the filter needs it (RFC 9110 §8.3.1): the media type in lower case, the
 * multipart boundary and the charset; undefined when the field does not follow the grammar
 * (a malformed type is itself a policy signal, rule 920420, and such a body is not parsed).
 */
export interface ContentType {
  readonly mime: string;
  readonly boundary: string | undefined;
  readonly charset: string | undefined;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]{1,127}$/;

export function parseContentType(field: string): ContentType | undefined {
  const parts = field.split(';');
  const mime = parts[0]!.trim().toLowerCase();
  const slash = mime.indexOf('/');
  if (slash === -1 || !TOKEN.test(mime.slice(0, slash)) || !TOKEN.test(mime.slice(slash + 1))) return undefined;
  let boundary: string | undefined;
  let charset: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const name = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!TOKEN.test(name) || value.length > 200) return undefined;
    if (name === 'boundary') boundary = value;
    else if (name === 'charset') charset = value.toLowerCase();
  }
  return { mime, boundary, charset };
}

/** Charsets a body may declare (CRS's allowed_request_content_type_charset, plus the Windows one browsers send). */
export const ALLOWED_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'iso-8859-1', 'iso-8859-15', 'windows-1252', 'us-ascii', 'ascii', 'latin1']);

/** What the body inspector can parse, by media type. */
export type BodyFormat = 'urlencoded' | 'json' | 'multipart';

export function bodyFormatOf(type: ContentType): BodyFormat | undefined {
  const { mime } = type;
  if (mime === 'application/x-www-form-urlencoded') return 'urlencoded';
  if (mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'))) return 'json';
  if (mime === 'multipart/form-data' && type.boundary !== undefined && type.boundary !== '') return 'multipart';
  return undefined;
}
