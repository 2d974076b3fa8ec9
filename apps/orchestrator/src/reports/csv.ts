/**
 * CSV (RFC 4180) cells for reports that people open in spreadsheets: a cell with a comma, quote or
 * line break is quoted, and a text cell that a spreadsheet would run as a formula (=, +, -, @, tab,
 * CR first) gets a leading apostrophe (OWASP "CSV injection": alert texts and reasons come from
 * outside).
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s: string;
  if (value instanceof Date) s = value.toISOString();
  else if (typeof value === 'object') s = JSON.stringify(value);
  else s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(values: unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}
