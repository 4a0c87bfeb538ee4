/**
 * One invoice as CSV (RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted,
 * quotes doubled), for spreadsheets and accounting imports: a header block (one `field,value`
 * row each), a blank line, then one row per line item and a total row. Amounts stay in integer
 * minor units, as in the JSON, with the currency in every money row.
 */
import type { Invoice } from './invoice.js';

export function invoiceCsv(invoice: Invoice): string {
  const rows: (string | number)[][] = [
    ['invoice', invoice.number],
    ['tenant', invoice.tenant],
    ['status', invoice.status],
    ['period_start', invoice.period.start],
    ['period_end', invoice.period.end],
    ['issued_at', invoice.issuedAt],
    ['plan', invoice.plan?.id ?? ''],
    ['currency', invoice.currency],
    [],
    ['kind', 'description', 'metric', 'quantity', 'unit_price', 'per', 'amount', 'currency'],
    ...invoice.lines.map((l) => [l.kind, l.description, l.metric ?? '', l.quantity, l.unitPrice, l.per, l.amount, invoice.currency]),
    ['total', '', '', '', '', '', invoice.total, invoice.currency],
  ];
  return rows.map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}

function field(value: string | number): string {
  const text = String(value);
  // A leading = + - @ would be a formula to a spreadsheet (CSV injection): descriptions are ours, but tenants are named by users.
  const safe = typeof value === 'string' && /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
