import { checkJsonLimits, DEFAULT_JSON_LIMITS, wellFormedText } from './json-limits';

const limits = { maxDepth: 4, maxArrayLength: 3, maxStringLength: 10 };

describe('checkJsonLimits', () => {
  it('accepts ordinary bodies, scalars and empty containers', () => {
    expect(checkJsonLimits({ a: [1, 'x', { b: null }], c: true }, limits)).toBeNull();
    expect(checkJsonLimits(null, limits)).toBeNull();
    expect(checkJsonLimits([], limits)).toBeNull();
  });

  it('refuses nesting deeper than the limit, naming where, without recursing (100k levels)', () => {
    expect(checkJsonLimits({ a: { b: { c: { d: 1 } } } }, limits)).toBeNull(); // depth 4
    expect(checkJsonLimits({ a: { b: { c: { d: {} } } } }, limits)).toEqual({
      field: 'a.b.c.d',
      message: 'a.b.c.d is nested deeper than 4 levels',
    });
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000));
    expect(checkJsonLimits(deep, DEFAULT_JSON_LIMITS)?.message).toMatch(/nested deeper than 32 levels/);
  });

  it('refuses long arrays and long strings (values and keys)', () => {
    expect(checkJsonLimits({ list: [1, 2, 3, 4] }, limits)?.field).toBe('list');
    expect(checkJsonLimits({ s: 'x'.repeat(11) }, limits)).toEqual({
      field: 's',
      message: 's is longer than 10 characters',
    });
    expect(checkJsonLimits({ ['k'.repeat(11)]: 1 }, limits)?.message).toMatch(/a key in body is longer/);
  });

  it('refuses NUL and lone surrogates anywhere, naming the field', () => {
    expect(checkJsonLimits({ reason: 'a\u0000b' }, limits)).toEqual({
      field: 'reason',
      message: 'reason must not contain NUL (\\u0000) characters',
    });
    expect(checkJsonLimits({ items: [{ name: 'ok' }, { name: '\ud800' }] }, limits)?.field).toBe(
      'items[1].name',
    );
    expect(checkJsonLimits({ items: ['\udc00x'] }, limits)?.message).toMatch(/lone UTF-16 surrogates/);
    expect(checkJsonLimits({ 'a\u0000': 1 }, limits)?.message).toMatch(/a key in body must not contain NUL/);
    // A surrogate pair is fine.
    expect(checkJsonLimits({ emoji: '\ud83d\ude00' }, limits)).toBeNull();
  });

  it('prefixes the field with a root name (query, params)', () => {
    expect(checkJsonLimits({ label: 'x\u0000' }, limits, 'query')?.field).toBe('query.label');
  });
});

describe('wellFormedText', () => {
  it('repairs NUL and lone surrogates, keeps everything else', () => {
    expect(wellFormedText('a\u0000b\ud800c\ud83d\ude00')).toBe('a\uFFFDb\uFFFDc\ud83d\ude00');
    expect(wellFormedText('plain')).toBe('plain');
  });
});
