// z0-api: d1
// triggers: binding:d1
const d1IsArray = Array.isArray;

function d1Fail(prefix, text) {
  return new ErrorCtor(prefix + ": " + text, { cause: new ErrorCtor(text) });
}

async function d1Op(op, args) {
  try {
    return await __z0.hostOp(op, args);
  } catch (error) {
    const text = String(error && error.message);
    const at = text.indexOf(": ");
    throw text.startsWith("D1_") && at > 0 ? d1Fail(text.slice(0, at), text.slice(at + 2)) : d1Fail("D1_ERROR", text);
  }
}

function d1Value(v) {
  if (typeof v === "number" || typeof v === "string" || v === null) return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "bigint") return { bigint: String(v) };
  if (v instanceof wAB) return { blob: reflectApply(wToBase64, new wU8(v), []) };
  if (wIsView(v)) return { blob: reflectApply(wToBase64, new wU8(v.buffer, v.byteOffset, v.byteLength), []) };
  if (d1IsArray(v) && v.every((b) => typeof b === "number" && b >= 0 && b < 256)) return { blob: reflectApply(wToBase64, new wU8(v), []) };
  throw d1Fail("D1_TYPE_ERROR", "Type '" + typeof v + "' not supported for value '" + v + "'");
}

function d1Objects(columns, rows) {
  return rows.map((row) => {
    const o = {};
    for (let i = 0; i < columns.length; i++) {
      if (columns[i] === "__proto__") defineProperty(o, "__proto__", { value: row[i], writable: true, enumerable: true, configurable: true });
      else o[columns[i]] = row[i];
    }
    return o;
  });
}

const d1Result = (r) => ({ success: true, meta: r.meta, results: d1Objects(r.columns, r.rows) });
let d1Wire;

class D1PreparedStatement {
  #db; #sql; #params;
  constructor(db, sql, params) { this.#db = db; this.#sql = String(sql); this.#params = params; }
  static { d1Wire = (s) => ({ sql: s.#sql, params: s.#params }); }
  bind(...values) { return new D1PreparedStatement(this.#db, this.#sql, values.map(d1Value)); }
  #query() { return d1Op("d1.query", { binding: this.#db, sql: this.#sql, params: this.#params }); }
  async first(column) {
    const { columns, rows } = await this.#query();
    if (rows.length === 0) return null;
    if (column === undefined) return d1Objects(columns, rows.slice(0, 1))[0];
    const at = columns.lastIndexOf(column);
    if (at < 0) throw d1Fail("D1_COLUMN_NOTFOUND", "Column not found (" + column + ")");
    return rows[0][at];
  }
  async all() { return d1Result(await this.#query()); }
  async run() { return d1Result(await this.#query()); }
  async raw(options) {
    const { columns, rows } = await this.#query();
    return options && options.columnNames ? [columns, ...rows] : rows;
  }
}

class D1Database {
  #name;
  constructor(name) { this.#name = name; }
  prepare(query) { return new D1PreparedStatement(this.#name, query, []); }
  async batch(statements) {
    if (!d1IsArray(statements) || !statements.every((s) => s instanceof D1PreparedStatement)) {
      throw new TypeError("batch() takes an array of D1PreparedStatement.");
    }
    const results = await d1Op("d1.batch", { binding: this.#name, statements: statements.map(d1Wire) });
    return results.map(d1Result);
  }
  exec(query) { return d1Op("d1.exec", { binding: this.#name, sql: String(query) }); }
  withSession() { return { prepare: (q) => this.prepare(q), batch: (s) => this.batch(s), getBookmark: () => null }; }
}

__z0.bindings.d1 = (name) => new D1Database(name);
