// z0-api: modules
// always: true
// requires: host
const { hasOwn: mHasOwn, preventExtensions: mSeal } = Object, mTag = Symbol.toStringTag;
const mAll = Promise.all.bind(Promise), mRecs = objectCreate(null);
const mThen = (p, f) => reflectApply(promiseThen, p, [f]);
let mDefs = mRecs, mTable = null, mSettling = [];

function mResolve(spec, from) {
  let name = spec;
  if (/^\.\.?\//.test(spec)) {
    const parts = from.split("/").slice(0, -1);
    for (const p of spec.split("/")) p === ".." ? parts.pop() : p !== "." && p && parts.push(p);
    name = parts.join("/");
  }
  if (!mHasOwn(mDefs, name)) throw new TypeError(`Cannot find module '${spec}' imported from ${from}`);
  return name;
}

// Async factories reach their first yield jobs later: wait, so bodies start at once.
const mLoad = (spec, from) => mThen(mAll([]), () => {
  const r = mRecord(from ? mResolve(`${spec}`, from) : spec), w = mSettling;
  mSettling = [];
  return mThen(mThen(mAll(w), () => mEvaluate(r)), () => r.ns);
});

function mRecord(name) {
  if (mRecs[name]) return mRecs[name];
  const d = mDefs[name], ns = objectCreate(null), r = mRecs[name] = { ns, d, deps: [] };
  let get = { default: () => v }, v = d.kind === "data" ? __z0.latin1ToBytes(d.value).buffer : d.value;
  if (d.factory) {
    const args = [(g, f) => { get = g; f && defineProperty(f, "name", { value: "default" }); },
      (spec) => mLoad(spec, name), { __proto__: null, url: "file:///" + name }];
    for (const dep of d.deps) args.push((r.deps[r.deps.length] = mRecord(dep)).ns);
    r.gen = reflectApply(d.factory, undefined, args);
    const first = r.gen.next();
    if (d.async) mSettling.push(first);
  }
  for (const k of objectKeys(get)) defineProperty(ns, k, { get: get[k], enumerable: true });
  defineProperty(ns, mTag, { value: "Module" });
  mSeal(ns);
  return r;
}

// Depth-first; a module met again in a cycle counts as done.
function mEvaluate(r) {
  if (!r.s) {
    r.s = 1;
    try {
      const w = [], run = () => { const p = r.gen && r.gen.next(); return r.d.async && p; };
      for (const dep of r.deps) { const p = mEvaluate(dep); p && w.push(p); }
      r.p = w.length ? mThen(mAll(w), run) : run();
    } catch (e) {
      r.s = 2;
      r.e = e;
    }
  }
  if (r.s === 2) throw r.e;
  return r.p;
}

__z0.modules = {
  instantiate(defs, main, lineTable) {
    mDefs = defs;
    mTable = lineTable || null;
    return mLoad(main);
  },
};

// `f (lib/b.js:12:7)`: the tenant's module and position (see the line table in linker.py), or z0.
function mFrame(site) {
  const file = site.getFileName(), line = site.getLineNumber(), col = site.getColumnNumber(), t = mTable;
  let where = site.isNative() ? "native" : !t || file !== "<input>" ? file + ":" + line + ":" + col : "z0";
  for (let i = 0; where === "z0" && i < t.length; i += 5) {
    const m = line - (__z0.lineOffset || 0) - t[i] + 1, o = col - 1 - (m === 1 ? t[i + 2] : 0), s = t[i + 4][m];
    if (m < 1 || m > t[i + 3] || o < 0) continue;
    let c = o;
    if (s) for (let j = 0, x = s.split(" "); +x[j] <= o; j += 4) c = o < +x[j + 1] ? +x[j + 2] : o - x[j + 3];
    where = t[i + 1] + ":" + m + ":" + (c + 1);
  }
  return (site.getFunctionName() || "<anonymous>") + " (" + where + ")";
}

// A tenant may set its own, as in V8 (it then gets the engine's call sites).
ErrorCtor.prepareStackTrace = (error, sites) => {
  let stack = "";
  for (let i = 0; i < sites.length; i++) stack += "    at " + mFrame(sites[i]) + "\n";
  return stack;
};
