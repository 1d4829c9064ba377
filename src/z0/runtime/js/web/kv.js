// z0-api: kv
// requires: encoding
// triggers: binding:kv_namespace
const kvTypes = ["text", "json", "arrayBuffer", "stream"];

function kvOptions(options) {
  if (options === undefined || options === null) return { type: "text" };
  if (typeof options === "string") options = { type: options };
  const type = options.type === undefined ? "text" : options.type;
  if (!kvTypes.includes(type)) throw new TypeError('Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".');
  return { type };
}

function kvDecode(value, type) {
  const bytes = Uint8Array.fromBase64(value);
  if (type === "arrayBuffer") return bytes.buffer;
  if (type === "stream") return new Response(bytes).body;
  const text = new TextDecoder().decode(bytes);
  return type === "json" ? JSON.parse(text) : text;
}

async function kvBytes(value) {
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value !== null && typeof value === "object" && typeof value.getReader === "function") {
    return new Uint8Array(await new Response(value).arrayBuffer());
  }
  throw new TypeError("KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.");
}

class KVNamespace {
  #name;
  constructor(name) { this.#name = name; }
  async get(key, options) {
    const { type } = kvOptions(options);
    const found = await __z0.hostOp("kv.get", { binding: this.#name, key: String(key) });
    return found === null ? null : kvDecode(found.value, type);
  }
  async getWithMetadata(key, options) {
    const { type } = kvOptions(options);
    const found = await __z0.hostOp("kv.get", { binding: this.#name, key: String(key) });
    if (found === null) return { value: null, metadata: null, cacheStatus: null };
    return { value: kvDecode(found.value, type), metadata: found.metadata ?? null, cacheStatus: null };
  }
  async put(key, value, options) {
    const bytes = await kvBytes(value);
    const args = { binding: this.#name, key: String(key), value: bytes.toBase64() };
    if (options) {
      if (options.expiration !== undefined) args.expiration = Number(options.expiration);
      if (options.expirationTtl !== undefined) args.expirationTtl = Number(options.expirationTtl);
      if (options.metadata !== undefined) args.metadata = options.metadata;
    }
    await __z0.hostOp("kv.put", args);
  }
  async delete(key) {
    await __z0.hostOp("kv.delete", { binding: this.#name, key: String(key) });
  }
  async list(options) {
    const o = options || {};
    const result = await __z0.hostOp("kv.list", {
      binding: this.#name, prefix: o.prefix ?? null, limit: o.limit ?? null, cursor: o.cursor ?? null,
    });
    result.cacheStatus = null;
    return result;
  }
}

__z0.bindings.kv_namespace = (name) => new KVNamespace(name);
