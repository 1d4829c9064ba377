// z0-api: blob
// requires: body
// provides: Blob, File
// triggers: Blob, File, blob
let wBlob, wBlobData, wFile;

function wBlobType(t) {
  t = `${t}`;
  return /[^\x20-\x7e]/.test(t) ? "" : reflectApply(wLower, t, []);
}

function wClamp(x, n, dflt) {
  if (x === undefined) return dflt;
  x = Math.trunc(+x) || 0;
  return x < 0 ? Math.max(n + x, 0) : Math.min(x, n);
}

class Blob {
  #d = "";
  #t = "";
  constructor(parts, options) {
    if (parts !== undefined) {
      if (parts === null || typeof parts !== "object" && typeof parts !== "function" || typeof parts[wIter] !== "function") {
        throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      }
      const endings = options && options.endings;
      if (endings !== undefined && endings !== "transparent" && endings !== "native") {
        throw new TypeError(`Failed to construct 'Blob': The provided value '${endings}' is not a valid enum value of type EndingType.`);
      }
      const out = [];
      for (const p of parts) {
        if (p instanceof Blob) out.push(p.#d);
        else if (p instanceof wAB || wIsView(p)) out.push(wLatin(p));
        else out.push(wUtf8(endings === "native" ? `${p}`.replace(/\r\n?/g, "\n") : `${p}`));
      }
      this.#d = out.join("");
    }
    if (options !== undefined && options !== null && options.type !== undefined) this.#t = wBlobType(options.type);
  }
  get size() { return this.#d.length; }
  get type() { return this.#t; }
  slice(start, end, contentType) {
    const n = this.#d.length, s = wClamp(start, n, 0), e = wClamp(end, n, n);
    return wBlob(this.#d.slice(s, Math.max(s, e)), contentType === undefined ? "" : contentType);
  }
  async text() { return wDecode(this.#d); }
  async arrayBuffer() { return wToBytes(this.#d).buffer; }
  async bytes() { return wToBytes(this.#d); }
  stream() {
    if (typeof wRSBytes !== "function") throw new TypeError("z0 loads ReadableStream only into scripts that mention it (e.g. 'stream').");
    return wRSBytes(this.#d, false);
  }
  static {
    const init = (b, d, t) => {
      b.#d = d;
      b.#t = wBlobType(t);
      return b;
    };
    wBlob = (d, t) => init(new Blob(), d, t);
    wBlobData = (b) => b.#d;
    wFile = (d, name, t, lastModified) => init(new File([], name, { lastModified }), d, t);
  }
}

class File extends Blob {
  #n;
  #lm;
  constructor(bits, name, options) {
    if (arguments.length < 2) {
      throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
    }
    super(bits, options);
    this.#n = `${name}`;
    const lm = options === undefined || options === null ? undefined : options.lastModified;
    this.#lm = lm === undefined ? Date.now() : Math.trunc(+lm) || 0;
  }
  get name() { return this.#n; }
  get lastModified() { return this.#lm; }
  get webkitRelativePath() { return ""; }
}
defineProperty(Body.prototype, "blob", {
  value: async function blob() {
    const raw = await wBRaw(this);
    return wBlob(typeof raw === "string" ? raw : wToLatin(raw), wHGet(wBHeaders(this), "content-type") ?? "");
  },
  writable: true,
  configurable: true,
});
wTag(Blob, "Blob");
wTag(File, "File");

__z0.define(globalThis, { Blob, File });
