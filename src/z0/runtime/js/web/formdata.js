// z0-api: formdata
// requires: blob
// provides: FormData
// triggers: FormData, formData
const wRandomNumber = Math.random;
let wFDList;

function wFDValue(value, filename, n) {
  if (value instanceof Blob) {
    if (n > 2 || !(value instanceof File)) {
      const name = n > 2 ? `${filename}` : value instanceof File ? value.name : "blob";
      return wFile(wBlobData(value), name, value.type, value instanceof File ? value.lastModified : undefined);
    }
    return value;
  }
  if (n > 2) throw new TypeError("Failed to execute 'append' on 'FormData': parameter 2 is not of type 'Blob'.");
  return wUSV(value);
}

function wFDEscape(s) {
  return wUtf8(s).replaceAll("\n", "%0A").replaceAll("\r", "%0D").replaceAll("\"", "%22");
}

function wFDUnescape(s) {
  return wText(s.replace(/%0A/gi, "\n").replace(/%0D/gi, "\r").replaceAll("%22", "\""), false);
}

function wFormDecode(s) {
  s = s.replaceAll("+", " ");
  const i = s.indexOf("%");
  if (i < 0) return wText(s, false);
  let out = s.slice(0, i);
  for (let j = i; j < s.length; j++) {
    const c = s[j], h = c === "%" ? parseInt(s.slice(j + 1, j + 3), 16) : NaN;
    if (h >= 0 && /^[0-9A-Fa-f]{2}$/.test(s.slice(j + 1, j + 3))) { out += fromCharCode(h); j += 2; } else out += c;
  }
  return wText(out, false);
}

function wParam(headers, name) {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, "i").exec(headers);
  return m === null ? undefined : m[1] ?? m[2];
}

function wFDEncode(fd) {
  const boundary = wRandomNumber().toString(16).slice(2).padEnd(14, "0") + wRandomNumber().toString(16).slice(2).padEnd(14, "0");
  const out = [];
  for (const [name, value] of wFDList(fd)) {
    out.push("--", boundary, "\r\nContent-Disposition: form-data; name=\"", wFDEscape(name), "\"");
    if (typeof value === "string") out.push("\r\n\r\n", wUtf8(value), "\r\n");
    else {
      out.push("; filename=\"", wFDEscape(value.name), "\"\r\nContent-Type: ", value.type || "application/octet-stream",
        "\r\n\r\n", wBlobData(value), "\r\n");
    }
  }
  out.push("--", boundary, "--\r\n");
  return [out.join(""), "multipart/form-data; boundary=" + boundary];
}

function wFDParse(b, type) {
  if (type === null) throw new TypeError("Parsing a Body as FormData requires a Content-Type header.");
  const fd = new FormData(), e = wFDList(fd), essence = reflectApply(wLower, type.split(";")[0].trim(), []);
  if (essence === "application/x-www-form-urlencoded") {
    for (const part of b.split("&")) {
      if (!part) continue;
      const i = part.indexOf("=");
      e.push(i < 0 ? [wFormDecode(part), ""] : [wFormDecode(part.slice(0, i)), wFormDecode(part.slice(i + 1))]);
    }
    return fd;
  }
  if (essence !== "multipart/form-data") {
    throw new TypeError("Unrecognized Content-Type header value. FormData can only parse the following MIME types: "
      + "multipart/form-data, application/x-www-form-urlencoded");
  }
  const boundary = wParam(type, "boundary");
  if (!boundary) throw new TypeError("No boundary string in Content-Type header. The multipart/form-data MIME type requires a boundary parameter.");
  const delim = "--" + boundary, bad = "Failed to parse body as FormData.";
  let at = b.indexOf(delim);
  if (at < 0) throw new TypeError(bad);
  for (;;) {
    at += delim.length;
    if (b.startsWith("--", at)) return fd;
    if (b.startsWith("\r\n", at)) at += 2;
    const headEnd = b.indexOf("\r\n\r\n", at);
    const next = headEnd < 0 ? -1 : b.indexOf("\r\n" + delim, headEnd + 4);
    if (next < 0) throw new TypeError(bad);
    let disposition = "", ctype = "";
    for (const line of b.slice(at, headEnd).split("\r\n")) {
      const i = line.indexOf(":"), key = reflectApply(wLower, line.slice(0, i).trim(), []);
      if (key === "content-disposition") disposition = line.slice(i + 1);
      else if (key === "content-type") ctype = line.slice(i + 1).trim();
    }
    const name = wParam(disposition, "name"), filename = wParam(disposition, "filename"), data = b.slice(headEnd + 4, next);
    if (name === undefined) throw new TypeError(bad);
    e.push([wFDUnescape(name), filename === undefined ? wText(data, false) : wFile(data, wFDUnescape(filename), ctype || "text/plain")]);
    at = next + 2;
  }
}

class FormData {
  #e = [];
  constructor(form) {
    if (form !== undefined) throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
  }
  append(name, value, filename) {
    this.#e.push([wUSV(name), wFDValue(value, filename, arguments.length)]);
  }
  set(name, value, filename) {
    name = wUSV(name);
    let entry = [name, wFDValue(value, filename, arguments.length)];
    const out = [];
    for (const x of this.#e) {
      if (x[0] !== name) out.push(x);
      else if (entry) { out.push(entry); entry = null; }
    }
    if (entry) out.push(entry);
    this.#e = out;
  }
  get(name) {
    name = wUSV(name);
    for (const x of this.#e) if (x[0] === name) return x[1];
    return null;
  }
  getAll(name) {
    name = wUSV(name);
    const out = [];
    for (const x of this.#e) if (x[0] === name) out.push(x[1]);
    return out;
  }
  has(name) {
    return this.get(name) !== null;
  }
  delete(name) {
    name = wUSV(name);
    const out = [];
    for (const x of this.#e) if (x[0] !== name) out.push(x);
    this.#e = out;
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this.#e) reflectApply(callback, thisArg, [v, k, this]);
  }
  entries() { return wFDPick(this.#e, 2); }
  keys() { return wFDPick(this.#e, 0); }
  values() { return wFDPick(this.#e, 1); }
  static {
    wFDList = (fd) => fd.#e;
  }
}

function wFDPick(entries, which) {
  const out = [];
  for (const x of entries) out.push(which === 2 ? [x[0], x[1]] : x[which]);
  return out[wIter]();
}

defineProperty(Body.prototype, "formData", {
  value: async function formData() {
    const type = wHGet(wBHeaders(this), "content-type");
    const raw = await wBRaw(this);
    return wFDParse(typeof raw === "string" ? raw : wToLatin(raw), type);
  },
  writable: true,
  configurable: true,
});
defineProperty(FormData.prototype, wIter, { value: FormData.prototype.entries, writable: true, configurable: true });
wTag(FormData, "FormData");

__z0.define(globalThis, { FormData });
