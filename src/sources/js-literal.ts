/**
 * A parser for the JavaScript literals Djangoplicity pages embed (`var images = [ {...}, ... ];`):
 * arrays, objects with bare or quoted keys, single- or double-quoted strings with JavaScript
 * escapes, numbers, true/false/null, trailing commas. Data only: nothing is ever evaluated,
 * and anything else (a function call, a variable) is an error naming the offset.
 */

export type JsValue = null | boolean | number | string | JsValue[] | { [key: string]: JsValue };

export class JsLiteralError extends Error {
  constructor(
    readonly offset: number,
    what: string,
  ) {
    super(`${what} at offset ${offset}`);
    this.name = 'JsLiteralError';
  }
}

/** Parse one literal; `text` may hold nothing else but whitespace, comments and a final `;`. */
export function parseJsLiteral(text: string): JsValue {
  const p = new Parser(text);
  const value = p.value(0);
  p.skip();
  if (p.peek() === ';') p.pos++;
  p.skip();
  if (p.pos < text.length) throw new JsLiteralError(p.pos, 'unexpected text after the literal');
  return value;
}

/** Nesting deeper than this is refused: a hostile page must not exhaust the stack. */
const MAX_DEPTH = 64;

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' };

class Parser {
  pos = 0;
  constructor(private readonly s: string) {}

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  /** Whitespace and comments. */
  skip(): void {
    for (;;) {
      const c = this.s[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\ufeff') this.pos++;
      else if (this.s.startsWith('//', this.pos)) {
        const nl = this.s.indexOf('\n', this.pos);
        this.pos = nl < 0 ? this.s.length : nl + 1;
      } else if (this.s.startsWith('/*', this.pos)) {
        const end = this.s.indexOf('*/', this.pos + 2);
        if (end < 0) throw new JsLiteralError(this.pos, 'unterminated comment');
        this.pos = end + 2;
      } else return;
    }
  }

  value(depth: number): JsValue {
    if (depth > MAX_DEPTH) throw new JsLiteralError(this.pos, `nested deeper than ${MAX_DEPTH}`);
    this.skip();
    const c = this.peek();
    if (c === '[') return this.array(depth);
    if (c === '{') return this.object(depth);
    if (c === '"' || c === "'") return this.string();
    if (c === '-' || c === '+' || c === '.' || (c >= '0' && c <= '9')) return this.number();
    const word = this.identifier();
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null' || word === 'undefined') return null;
    throw new JsLiteralError(this.pos - word.length, word ? `not a literal: ${JSON.stringify(word)}` : `unexpected ${JSON.stringify(c || 'end')}`);
  }

  private array(depth: number): JsValue[] {
    this.pos++;
    const out: JsValue[] = [];
    for (;;) {
      this.skip();
      if (this.peek() === ']') {
        this.pos++;
        return out;
      }
      out.push(this.value(depth + 1));
      this.skip();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ']') throw new JsLiteralError(this.pos, 'expected "," or "]"');
    }
  }

  private object(depth: number): { [key: string]: JsValue } {
    this.pos++;
    const out: { [key: string]: JsValue } = {};
    for (;;) {
      this.skip();
      if (this.peek() === '}') {
        this.pos++;
        return out;
      }
      const c = this.peek();
      const key = c === '"' || c === "'" ? this.string() : this.identifier();
      if (!key) throw new JsLiteralError(this.pos, 'expected a key');
      this.skip();
      if (this.peek() !== ':') throw new JsLiteralError(this.pos, 'expected ":"');
      this.pos++;
      // defineProperty: a key "__proto__" is data like any other, never the prototype.
      Object.defineProperty(out, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
      this.skip();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') throw new JsLiteralError(this.pos, 'expected "," or "}"');
    }
  }

  private identifier(): string {
    const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(this.s.slice(this.pos, this.pos + 256));
    if (!m) return '';
    this.pos += m[0].length;
    return m[0];
  }

  private number(): number {
    const m = /^[+-]?(0x[0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(this.s.slice(this.pos, this.pos + 64));
    if (!m) throw new JsLiteralError(this.pos, 'bad number');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  private string(): string {
    const quote = this.s[this.pos++];
    let out = '';
    for (;;) {
      const c = this.s[this.pos++];
      if (c === undefined || c === '\n') throw new JsLiteralError(this.pos, 'unterminated string');
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.s[this.pos++];
      if (e === undefined) throw new JsLiteralError(this.pos, 'unterminated string');
      if (e === 'u') {
        const braced = this.s[this.pos] === '{';
        const m = braced ? /^\{([0-9a-fA-F]{1,6})\}/.exec(this.s.slice(this.pos)) : /^[0-9a-fA-F]{4}/.exec(this.s.slice(this.pos));
        if (!m) throw new JsLiteralError(this.pos, 'bad \\u escape');
        out += String.fromCodePoint(Number.parseInt(braced ? m[1] : m[0], 16));
        this.pos += m[0].length;
      } else if (e === 'x') {
        const m = /^[0-9a-fA-F]{2}/.exec(this.s.slice(this.pos));
        if (!m) throw new JsLiteralError(this.pos, 'bad \\x escape');
        out += String.fromCharCode(Number.parseInt(m[0], 16));
        this.pos += 2;
      } else if (e === '\r' || e === '\n') {
        // A line continuation.
        if (e === '\r' && this.s[this.pos] === '\n') this.pos++;
      } else out += ESCAPES[e] ?? e;
    }
  }
}
