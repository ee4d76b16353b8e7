// A small JSON reader for plugin configuration: one object whose top-level values are
// strings, numbers, booleans or null. Nested objects and arrays are kept as raw text.

export class JsonObject {
  private strings: Map<string, string> = new Map<string, string>();
  private numbers: Map<string, f64> = new Map<string, f64>();
  private booleans: Map<string, bool> = new Map<string, bool>();
  private raw: Map<string, string> = new Map<string, string>();

  has(key: string): bool {
    return this.strings.has(key) || this.numbers.has(key) || this.booleans.has(key) || this.raw.has(key);
  }
  getString(key: string, fallback: string): string {
    return this.strings.has(key) ? this.strings.get(key) : fallback;
  }
  getNumber(key: string, fallback: f64): f64 {
    return this.numbers.has(key) ? this.numbers.get(key) : fallback;
  }
  getBool(key: string, fallback: bool): bool {
    return this.booleans.has(key) ? this.booleans.get(key) : fallback;
  }
  /** The JSON text of a nested object or array value. */
  getRaw(key: string): string | null {
    return this.raw.has(key) ? this.raw.get(key) : null;
  }

  /** Parse UTF-8 JSON text; null when it is not one JSON object. An empty buffer is `{}`. */
  static parse(data: ArrayBuffer | null): JsonObject | null {
    const result = new JsonObject();
    if (data === null || data.byteLength == 0) return result;
    const parser = new Parser(String.UTF8.decode(data));
    parser.skipSpace();
    if (parser.atEnd()) return result;
    if (!parser.eat(0x7b)) return null; // {
    parser.skipSpace();
    if (parser.eat(0x7d)) return parser.finish() ? result : null;
    while (true) {
      parser.skipSpace();
      const key = parser.readString();
      if (key === null) return null;
      parser.skipSpace();
      if (!parser.eat(0x3a)) return null; // :
      parser.skipSpace();
      const c = parser.peek();
      if (c == 0x22) {
        const value = parser.readString();
        if (value === null) return null;
        result.strings.set(key, value);
      } else if (c == 0x7b || c == 0x5b) {
        const value = parser.readNested();
        if (value === null) return null;
        result.raw.set(key, value);
      } else if (parser.eatWord("true")) {
        result.booleans.set(key, true);
      } else if (parser.eatWord("false")) {
        result.booleans.set(key, false);
      } else if (parser.eatWord("null")) {
        // null leaves the key unset so the fallback applies
      } else {
        const number = parser.readNumber();
        if (number === null) return null;
        result.numbers.set(key, <f64>parseFloat(number));
      }
      parser.skipSpace();
      if (parser.eat(0x2c)) continue; // ,
      if (parser.eat(0x7d)) return parser.finish() ? result : null;
      return null;
    }
  }
}

class Parser {
  pos: i32 = 0;
  constructor(public text: string) {}

  atEnd(): bool { return this.pos >= this.text.length; }
  peek(): i32 { return this.atEnd() ? -1 : this.text.charCodeAt(this.pos); }
  eat(code: i32): bool {
    if (this.peek() != code) return false;
    this.pos++;
    return true;
  }
  eatWord(word: string): bool {
    if (this.text.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }
  skipSpace(): void {
    while (!this.atEnd()) {
      const c = this.peek();
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }
  finish(): bool {
    this.skipSpace();
    return this.atEnd();
  }
  readString(): string | null {
    if (!this.eat(0x22)) return null;
    let out = "";
    while (!this.atEnd()) {
      const c = this.peek();
      this.pos++;
      if (c == 0x22) return out;
      if (c != 0x5c) {
        out += String.fromCharCode(c);
        continue;
      }
      const e = this.peek();
      this.pos++;
      if (e == 0x6e) out += "\n";
      else if (e == 0x74) out += "\t";
      else if (e == 0x72) out += "\r";
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x75) {
        const hex = this.text.substr(this.pos, 4);
        this.pos += 4;
        out += String.fromCharCode(<i32>parseInt(hex, 16));
      } else out += String.fromCharCode(e);
    }
    return null;
  }
  readNumber(): string | null {
    const start = this.pos;
    while (!this.atEnd()) {
      const c = this.peek();
      if ((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2b || c == 0x2e || c == 0x65 || c == 0x45) this.pos++;
      else break;
    }
    return this.pos > start ? this.text.substring(start, this.pos) : null;
  }
  readNested(): string | null {
    const start = this.pos;
    let depth = 0;
    while (!this.atEnd()) {
      const c = this.peek();
      if (c == 0x22) {
        if (this.readString() === null) return null;
        continue;
      }
      this.pos++;
      if (c == 0x7b || c == 0x5b) depth++;
      else if (c == 0x7d || c == 0x5d) {
        depth--;
        if (depth == 0) return this.text.substring(start, this.pos);
      }
    }
    return null;
  }
}
