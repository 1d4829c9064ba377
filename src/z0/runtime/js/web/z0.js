// z0-api: z0
// triggers: binding:z0
const z0DateCtor = Date;
const z0DateUTC = Date.UTC;
const z0GetTime = Date.prototype.getTime;
const z0GetUTCDate = Date.prototype.getUTCDate;
const z0ToISOString = Date.prototype.toISOString;
const z0Exec = RegExp.prototype.exec;
const z0IsInteger = Number.isInteger;
const z0ListOptions = ["type", "subtype", "since", "limit", "cursor"];
const z0MaxList = 1000;
const z0ConfigName = /^[a-z][a-z0-9_-]{0,63}$/;
const z0Cursor = /^fact_[0-9a-f]{22}$/;
const z0Iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))?)?$/;

function z0Match(pattern, text) {
  return reflectApply(z0Exec, pattern, [text]);
}

function z0Since(where, value) {
  if (value instanceof z0DateCtor) {
    const time = reflectApply(z0GetTime, value, []);
    if (time !== time) throw new RangeError(where + ": since is an Invalid Date.");
    return reflectApply(z0ToISOString, value, []);
  }
  if (typeof value !== "string") throw new TypeError(where + ": since is an ISO 8601 string or a Date.");
  const m = z0Match(z0Iso, value);
  const bad = () => new RangeError(where + ": since " + jsonStringify(value) +
    " is not an ISO 8601 date, like 2025-01-31 or 2025-01-31T12:00:00Z (no offset means UTC).");
  if (m === null) throw bad();
  const [year, month, day] = [+m[1], +m[2], +m[3]];
  const days = reflectApply(z0GetUTCDate, new z0DateCtor(z0DateUTC(year, month, 0)), []);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days) throw bad();
  if (m[4] !== undefined && (+m[4] > 23 || +m[5] > 59 || (m[6] !== undefined && +m[6] > 59))) throw bad();
  if (m[7] !== undefined && (+m[7] > 23 || +m[8] > 59)) throw bad();
  return value;
}

function z0Text(where, name, value, args) {
  if (value === undefined || value === null) return;
  if (typeof value !== "string") throw new TypeError(where + ": " + name + " is a string.");
  args[name] = value;
}

function z0Binding(binding) {
  const prefix = "env." + binding;
  async function get(name) {
    const where = prefix + ".config.get()";
    if (typeof name !== "string") throw new TypeError(where + " takes a Config name (a string).");
    if (z0Match(z0ConfigName, name) === null) {
      throw new RangeError(where + ": " + jsonStringify(name) +
        " is not a Config name (a lowercase letter, then up to 63 lowercase letters, digits, '_' or '-').");
    }
    return await __z0.hostOp("z0.config.get", { binding, name });
  }
  async function list(options) {
    const where = prefix + ".facts.list()";
    const args = { binding };
    if (options !== undefined && options !== null) {
      if (typeof options !== "object") {
        throw new TypeError(where + " takes an options object: {type, subtype, since, limit, cursor}.");
      }
      for (const key of objectKeys(options)) {
        if (!z0ListOptions.includes(key)) {
          throw new TypeError(where + " reads only the calling tenant's Facts; its options are type, subtype, " +
            "since, limit and cursor, not " + jsonStringify(key) + ".");
        }
      }
      z0Text(where, "type", options.type, args);
      z0Text(where, "subtype", options.subtype, args);
      if (options.since !== undefined && options.since !== null) args.since = z0Since(where, options.since);
      const limit = options.limit;
      if (limit !== undefined && limit !== null) {
        if (typeof limit !== "number" || !z0IsInteger(limit)) throw new TypeError(where + ": limit is a whole number.");
        if (limit < 1 || limit > z0MaxList) throw new RangeError(where + ": limit is between 1 and " + z0MaxList + ".");
        args.limit = limit;
      }
      const cursor = options.cursor;
      if (cursor !== undefined && cursor !== null) {
        if (typeof cursor !== "string") throw new TypeError(where + ": cursor is a string.");
        if (z0Match(z0Cursor, cursor) === null) {
          throw new RangeError(where + ": cursor " + jsonStringify(cursor) + " is not one this binding gave out.");
        }
        args.cursor = cursor;
      }
    }
    return await __z0.hostOp("z0.facts.list", args);
  }
  return freeze({ config: freeze({ get }), facts: freeze({ list }) });
}

__z0.bindings.z0 = (name) => z0Binding(name);
