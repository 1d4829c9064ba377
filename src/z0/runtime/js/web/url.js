// z0-api: url
// provides: URL, URLSearchParams
// triggers: URL, URLSearchParams, searchParams
// The WHATWG URL Standard. A non-ASCII domain goes through UTS #46 in the lazy "idna" file.
const [URL, URLSearchParams] = (() => {
  const encURI = encodeURIComponent, decURI = decodeURIComponent, fromCodePoint = String.fromCodePoint;
  const { TypeError, Map, WeakMap, parseInt } = globalThis, { iterator: ITERATOR, toStringTag: TO_STRING_TAG } = Symbol;
  const { defineProperties, defineProperty, getOwnPropertyDescriptors, create, assign } = Object;
  const { ownKeys, getOwnPropertyDescriptor } = Reflect;
  const SPECIAL = { __proto__: null, ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443 };
  const C0 = /[^ -~]/gu, FRAGMENT = /[^!#-;=?-_a-~]/gu, QUERY = /[^!$-;=?-~]/gu, SPECIAL_QUERY = /[^!$-&(-;=?-~]/gu;
  const PATH = /[^!$-;=@-\]_a-z|~]/gu, USERINFO = /[^!$-.0-9A-Z_a-z~]/gu, FORM = /[^*\-.0-9A-Z_a-z]/gu;
  const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/, FORBIDDEN_DOMAIN = /[\0- #%/:<>?@[\\\]^|\x7f]/;
  const TAB_NEWLINE = /[\t\n\r]/g, ODD_DOMAIN = /[^!$&-.0-9;=A-Z_-{}~]/, AUTHORITY_END = /[/?#]/g, SPECIAL_AUTHORITY_END = /[/?#\\]/g;
  const HOST_END = /[:/?#[]/g, SPECIAL_HOST_END = /[:/?#[\\]/g, NON_ASCII = /[^\0-\x7f]/, HEX2 = /^[\da-f]{2}/i;
  const DECIMAL = /^\d+$/, OCTAL = /^[0-7]+$/, HEX = /^[\da-f]+$/i, DRIVE = /^[a-z][:|]$/i, SCHEME = /^[a-z][a-z\d+\-.]*:/i;
  const FAST = /^(https?):\/\/([a-z\d\-.]+)(?::(\d{1,5}))?(\/[!$&-;=@-Z_a-z|~]*)?(?:\?([!$%&(-;=?-~]*))?(?:#([!#-;=?-_a-~]*))?$/i;
  const S_START = 1, S_NO_SCHEME = 2, S_SPECIAL_RELATIVE_OR_AUTHORITY = 3, S_PATH_OR_AUTHORITY = 4, S_RELATIVE = 5;
  const S_RELATIVE_SLASH = 6, S_SPECIAL_AUTHORITY_SLASHES = 7, S_SKIP_SLASHES = 8, S_AUTHORITY = 9, S_HOST = 10;
  const S_HOSTNAME = 11, S_PORT = 12, S_FILE = 13, S_FILE_SLASH = 14, S_FILE_HOST = 15, S_PATH_START = 16;
  const S_PATH = 17, S_OPAQUE_PATH = 18, S_QUERY = 19, S_FRAGMENT = 20;

  const usv = (value) => `${value}`.toWellFormed();
  const arity = (what, n, got) => new TypeError(`${what}: ${n} argument${n > 1 ? "s" : ""} required, but only ${got} present.`);
  function encodeOne(ch) {
    const c = ch.charCodeAt(0);
    return c > 127 ? encURI(ch) : (c < 16 ? "%0" : "%") + c.toString(16).toUpperCase();
  }
  const encode = (s, set) => (set.test(s) ? s.replace(set, encodeOne) : s);
  const formEncode = (s) => (FORM.test(s) ? s.replace(FORM, (ch) => (ch === " " ? "+" : encodeOne(ch))) : s);

  // Percent-decodes, then decodes UTF-8 with replacement (decodeURIComponent when the bytes are valid).
  function percentDecode(s) {
    if (s.indexOf("%") < 0) return s;
    try { return decURI(s); } catch (e) {}
    s = encode(s, C0);
    let out = "", need = 0, cp = 0, lo = 0x80, hi = 0xbf;
    for (let i = 0, width = 1; i < s.length; i++, width = 1) {
      let b = s.charCodeAt(i);
      if (b === 37 && HEX2.test(s.slice(i + 1, i + 3))) { b = parseInt(s.slice(i + 1, i + 3), 16); i += 2; width = 3; }
      if (need === 0) {
        if (b < 0x80) out += fromCodePoint(b);
        else if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0xf; lo = b === 0xe0 ? 0xa0 : 0x80; hi = b === 0xed ? 0x9f : 0xbf; }
        else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 7; lo = b === 0xf0 ? 0x90 : 0x80; hi = b === 0xf4 ? 0x8f : 0xbf; }
        else out += "\ufffd";
      } else if (b < lo || b > hi) {
        need = 0; lo = 0x80; hi = 0xbf; out += "\ufffd";
        i -= width;
      } else {
        lo = 0x80; hi = 0xbf; cp = (cp << 6) | (b & 0x3f);
        if (--need === 0) out += fromCodePoint(cp);
      }
    }
    return need ? out + "\ufffd" : out;
  }

  function ipv4Number(s) {
    if (s === "") return -1;
    let re = DECIMAL, radix = 10;
    if (s.length > 1 && s[0] === "0") {
      if (s[1] === "x" || s[1] === "X") { re = HEX; radix = 16; s = s.slice(2); } else { re = OCTAL; radix = 8; s = s.slice(1); }
      if (s === "") return 0;
    }
    return re.test(s) ? parseInt(s, radix) : -1;
  }

  // The IPv4 parser if the domain ends in a number, else the domain; null for failure.
  function parseIPv4(s) {
    const parts = s.split(".");
    if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
    const n = parts.length, last = parts[n - 1];
    if (last === "" || !(DECIMAL.test(last) || ipv4Number(last) >= 0)) return s;
    if (n > 4) return null;
    let ip = 0;
    for (let i = 0; i < n; i++) {
      const v = ipv4Number(parts[i]);
      if (v < 0 || (i < n - 1 ? v > 255 : v >= 256 ** (5 - n))) return null;
      ip += i < n - 1 ? v * 256 ** (3 - i) : v;
    }
    return (ip >>> 24) + "." + ((ip >> 16) & 255) + "." + ((ip >> 8) & 255) + "." + (ip & 255);
  }

  function parseIPv6(s) {
    const a = [0, 0, 0, 0, 0, 0, 0, 0], n = s.length;
    let piece = 0, compress = -1, p = 0;
    if (s[0] === ":") {
      if (s[1] !== ":") return null;
      p = 2;
      compress = ++piece;
    }
    while (p < n) {
      if (piece === 8) return null;
      if (s[p] === ":") {
        if (compress >= 0) return null;
        p++;
        compress = ++piece;
        continue;
      }
      let value = 0, length = 0;
      while (length < 4 && parseInt(s[p], 16) >= 0) { value = value * 16 + parseInt(s[p++], 16); length++; }
      if (s[p] === ".") {
        if (length === 0 || piece > 6) return null;
        p -= length;
        let seen = 0;
        while (p < n) {
          let v = -1;
          if (seen > 0 && !(s[p++] === "." && seen < 4)) return null;
          if (!(s[p] >= "0" && s[p] <= "9")) return null;
          while (s[p] >= "0" && s[p] <= "9") {
            if (v === 0) return null;
            v = (v < 0 ? 0 : v * 10) + +s[p++];
            if (v > 255) return null;
          }
          a[piece] = a[piece] * 256 + v;
          if (++seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return null;
        break;
      }
      if (s[p] === ":") { if (++p === n) return null; }
      else if (p < n) return null;
      a[piece++] = value;
    }
    if (compress >= 0) {
      for (let swaps = piece - compress, i = 7; i !== 0 && swaps > 0; i--, swaps--) {
        const t = a[i];
        a[i] = a[compress + swaps - 1];
        a[compress + swaps - 1] = t;
      }
    } else if (piece !== 8) return null;
    let best = -1, bestLength = 1, out = "[";
    for (let i = 0, j; i < 8; i = j + 1) {
      for (j = i; j < 8 && a[j] === 0; j++);
      if (j - i > bestLength) { best = i; bestLength = j - i; }
    }
    for (let i = 0; i < 8; i++) {
      if (i === best) { out += i === 0 ? "::" : ":"; i += bestLength - 1; }
      else out += a[i].toString(16) + (i < 7 ? ":" : "");
    }
    return out + "]";
  }

  function parseHost(input, opaque) {
    if (input[0] === "[") return input[input.length - 1] === "]" ? parseIPv6(input.slice(1, -1)) : null;
    if (opaque) return FORBIDDEN_HOST.test(input) ? null : encode(input, C0);
    let ascii = input.toLowerCase();
    if (ODD_DOMAIN.test(input)) {
      const domain = percentDecode(input);
      ascii = NON_ASCII.test(domain) ? __z0.lazy("idna").toASCII(domain) : domain.toLowerCase();
      if (!ascii || FORBIDDEN_DOMAIN.test(ascii)) return null;
    }
    const last = ascii.charCodeAt(ascii.length - (ascii.endsWith(".") ? 2 : 1));
    return (last >= 48 && last <= 57) || (last >= 97 && last <= 102) || last === 120 ? parseIPv4(ascii) : ascii;
  }

  const isDrive = (s, normalized) => DRIVE.test(s) && (!normalized || s[1] === ":");
  function startsWithDrive(s, p) {
    const c = s[p + 2];
    return isDrive(s.slice(p, p + 2)) && (c === undefined || c === "/" || c === "\\" || c === "?" || c === "#");
  }
  function shorten(url) {
    if (!(url.scheme === "file" && url.path.length === 1 && isDrive(url.path[0], true))) url.path.pop();
  }
  function copyAuthority(url, base) {
    url.username = base.username;
    url.password = base.password;
    url.host = base.host;
    url.port = base.port;
  }

  // An absolute http(s) URL with nothing to percent-encode, no credentials, "%", "\\" or dot segment: its record, else undefined.
  function parseSimple(s) {
    const m = FAST.exec(s);
    if (m === null || m[4]?.includes("/.")) return undefined;
    const scheme = m[1].toLowerCase(), host = parseHost(m[2], false), port = m[3] === undefined ? null : +m[3];
    if (host === null || port > 65535) return undefined;
    return {
      scheme, username: "", password: "", host, port: port === SPECIAL[scheme] ? null : port,
      path: m[4] === undefined ? [""] : m[4].slice(1).split("/"), query: m[5] ?? null, fragment: m[6] ?? null,
    };
  }

  // The basic URL parser: the URL record, or null for failure. With a state override it changes `url` in place.
  function parse(input, base, url, override) {
    let s = input;
    if (url === null) {
      const simple = parseSimple(s);
      if (simple !== undefined) return simple;
      url = { scheme: "", username: "", password: "", host: null, port: null, path: [], query: null, fragment: null };
      if (s.charCodeAt(0) <= 32 || s.charCodeAt(s.length - 1) <= 32) {
        let a = 0, b = s.length;
        while (a < b && s.charCodeAt(a) <= 32) a++;
        while (b > a && s.charCodeAt(b - 1) <= 32) b--;
        s = s.slice(a, b);
      }
    }
    if (TAB_NEWLINE.test(s)) s = s.replace(TAB_NEWLINE, "");
    const len = s.length;
    let special = url.scheme in SPECIAL, state = override || S_START;
    for (let p = 0; ; p++) {
      const c = p < len ? s[p] : "";
      switch (state) {
        case S_START: {
          const match = SCHEME.exec(s);
          if (match !== null) {
            const q = match[0].length - 1, scheme = s.slice(0, q).toLowerCase(), isSpecial = scheme in SPECIAL;
            if (override) {
              if (special !== isSpecial || (scheme === "file" && (url.username || url.password || url.port !== null)) ||
                (url.scheme === "file" && url.host === "")) return null;
              url.scheme = scheme;
              if (url.port === SPECIAL[scheme]) url.port = null;
              return url;
            }
            url.scheme = scheme;
            special = isSpecial;
            p = q;
            if (scheme === "file") state = S_FILE;
            else if (special) state = base !== null && base.scheme === scheme ? S_SPECIAL_RELATIVE_OR_AUTHORITY : S_SPECIAL_AUTHORITY_SLASHES;
            else if (s[q + 1] === "/") { state = S_PATH_OR_AUTHORITY; p++; }
            else { url.path = ""; state = S_OPAQUE_PATH; }
          } else if (!override) { state = S_NO_SCHEME; p--; }
          else return null;
          break;
        }
        case S_NO_SCHEME:
          if (base === null || (typeof base.path === "string" && c !== "#")) return null;
          if (typeof base.path === "string") {
            url.scheme = base.scheme;
            url.path = base.path;
            url.query = base.query;
            url.fragment = "";
            state = S_FRAGMENT;
          } else { state = base.scheme === "file" ? S_FILE : S_RELATIVE; p--; }
          break;
        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
          if (c === "/" && s[p + 1] === "/") { state = S_SKIP_SLASHES; p++; } else { state = S_RELATIVE; p--; }
          break;
        case S_PATH_OR_AUTHORITY:
          if (c === "/") state = S_AUTHORITY; else { state = S_PATH; p--; }
          break;
        case S_RELATIVE:
          url.scheme = base.scheme;
          special = url.scheme in SPECIAL;
          if (c === "/" || (special && c === "\\")) state = S_RELATIVE_SLASH;
          else {
            copyAuthority(url, base);
            url.path = base.path.slice();
            url.query = base.query;
            if (c === "?") { url.query = ""; state = S_QUERY; }
            else if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
            else if (c !== "") { url.query = null; shorten(url); state = S_PATH; p--; }
          }
          break;
        case S_RELATIVE_SLASH:
          if (special && (c === "/" || c === "\\")) state = S_SKIP_SLASHES;
          else if (c === "/") state = S_AUTHORITY;
          else { copyAuthority(url, base); state = S_PATH; p--; }
          break;
        case S_SPECIAL_AUTHORITY_SLASHES:
          state = S_SKIP_SLASHES;
          if (c === "/" && s[p + 1] === "/") p++; else p--;
          break;
        case S_SKIP_SLASHES:
          if (c !== "/" && c !== "\\") { state = S_AUTHORITY; p--; }
          break;
        case S_AUTHORITY: {
          const re = special ? SPECIAL_AUTHORITY_END : AUTHORITY_END;
          re.lastIndex = p;
          const end = re.test(s) ? re.lastIndex - 1 : len, at = s.lastIndexOf("@", end - 1);
          if (at >= p) {
            if (at + 1 === end) return null;
            const info = s.slice(p, at), colon = info.indexOf(":");
            url.username = encode(colon < 0 ? info : info.slice(0, colon), USERINFO);
            if (colon >= 0) url.password = encode(info.slice(colon + 1), USERINFO);
            p = at;
          } else p--;
          state = S_HOST;
          break;
        }
        case S_HOST:
        case S_HOSTNAME: {
          if (override && url.scheme === "file") { state = S_FILE_HOST; p--; break; }
          const re = special ? SPECIAL_HOST_END : HOST_END;
          re.lastIndex = p;
          let e = re.test(s) ? re.lastIndex - 1 : len;
          if (s[e] === "[") {
            for (let brackets = false; e < len; e++) {
              const d = s[e];
              if ((d === ":" && !brackets) || d === "/" || d === "?" || d === "#" || (special && d === "\\")) break;
              if (d === "[") brackets = true; else if (d === "]") brackets = false;
            }
          }
          const buffer = s.slice(p, e), port = s[e] === ":";
          if (port ? buffer === "" || override === S_HOSTNAME
            : buffer === "" && (special || (override && (url.username || url.password || url.port !== null)))) return null;
          const host = parseHost(buffer, !special);
          if (host === null) return null;
          url.host = host;
          if (port) { state = S_PORT; p = e; }
          else if (override) return url;
          else { state = S_PATH_START; p = e - 1; }
          break;
        }
        case S_PORT: {
          let e = p;
          while (s[e] >= "0" && s[e] <= "9") e++;
          const d = s[e];
          if (!(e === len || d === "/" || d === "?" || d === "#" || (special && d === "\\") || override)) return null;
          if (e > p) {
            const port = +s.slice(p, e);
            if (port > 65535) return null;
            url.port = port === SPECIAL[url.scheme] ? null : port;
            if (override) return url;
          }
          if (override) return null;
          state = S_PATH_START;
          p = e - 1;
          break;
        }
        case S_FILE:
          url.scheme = "file";
          special = true;
          url.host = "";
          if (c === "/" || c === "\\") state = S_FILE_SLASH;
          else if (base !== null && base.scheme === "file") {
            url.host = base.host;
            url.path = base.path.slice();
            url.query = base.query;
            if (c === "?") { url.query = ""; state = S_QUERY; }
            else if (c === "#") { url.fragment = ""; state = S_FRAGMENT; }
            else if (c !== "") {
              url.query = null;
              if (startsWithDrive(s, p)) url.path = []; else shorten(url);
              state = S_PATH;
              p--;
            }
          } else { state = S_PATH; p--; }
          break;
        case S_FILE_SLASH:
          if (c === "/" || c === "\\") state = S_FILE_HOST;
          else {
            if (base !== null && base.scheme === "file") {
              url.host = base.host;
              if (!startsWithDrive(s, p) && isDrive(base.path[0] ?? "", true)) url.path.push(base.path[0]);
            }
            state = S_PATH;
            p--;
          }
          break;
        case S_FILE_HOST: {
          let e = p;
          while (e < len && !"/\\?#".includes(s[e])) e++;
          const buffer = s.slice(p, e);
          if (!override && isDrive(buffer)) { state = S_PATH; p--; break; }
          let host = "";
          if (buffer !== "") {
            host = parseHost(buffer, false);
            if (host === null) return null;
            if (host === "localhost") host = "";
          }
          url.host = host;
          if (override) return url;
          state = S_PATH_START;
          p = e - 1;
          break;
        }
        case S_PATH_START:
          if (special) { state = S_PATH; if (c !== "/" && c !== "\\") p--; }
          else if (!override && c === "?") { url.query = ""; state = S_QUERY; }
          else if (!override && c === "#") { url.fragment = ""; state = S_FRAGMENT; }
          else if (c !== "") { state = S_PATH; if (c !== "/") p--; }
          else if (override && url.host === null) url.path.push("");
          break;
        case S_PATH:
        case S_OPAQUE_PATH: {
          let e = len;
          if (!override) {
            const q = s.indexOf("?", p), h = s.indexOf("#", p);
            e = q >= 0 && (h < 0 || q < h) ? q : h >= 0 ? h : len;
          }
          if (state === S_OPAQUE_PATH) {
            const part = encode(s.slice(p, e), C0);
            url.path += e < len && part.endsWith(" ") ? part.slice(0, -1) + "%20" : part;
          } else {
            let segments = s.slice(p, e);
            if (special && segments.includes("\\")) segments = segments.replaceAll("\\", "/");
            segments = encode(segments, PATH).split("/");
            const path = url.path, last = segments.length - 1;
            for (let i = 0; i <= last; i++) {
              const segment = segments[i];
              const dots = (segment[0] === "." || segment[0] === "%") && segment.length < 7 ? segment.toLowerCase().replaceAll("%2e", ".") : "";
              if (dots === "..") {
                shorten(url);
                if (i === last) path.push("");
              } else if (dots === ".") {
                if (i === last) path.push("");
              } else path.push(url.scheme === "file" && path.length === 0 && isDrive(segment) ? segment[0] + ":" : segment);
            }
          }
          p = e;
          if (s[e] === "?") { url.query = ""; state = S_QUERY; }
          else if (s[e] === "#") { url.fragment = ""; state = S_FRAGMENT; }
          break;
        }
        case S_QUERY: {
          let e = override ? -1 : s.indexOf("#", p);
          if (e < 0) e = len;
          url.query += encode(s.slice(p, e), special ? SPECIAL_QUERY : QUERY);
          p = e;
          if (e < len) { url.fragment = ""; state = S_FRAGMENT; }
          break;
        }
        case S_FRAGMENT:
          url.fragment += encode(s.slice(p), FRAGMENT);
          p = len;
          break;
      }
      if (p >= len) return url;
    }
  }

  const pathname = (url) => (typeof url.path === "string" ? url.path : url.path.length ? "/" + url.path.join("/") : "");
  function serialize(url) {
    let out = url.scheme + ":";
    if (url.host !== null) {
      out += "//";
      if (url.username || url.password) out += url.username + (url.password ? ":" + url.password : "") + "@";
      out += url.host + (url.port === null ? "" : ":" + url.port);
    } else if (typeof url.path !== "string" && url.path.length > 1 && url.path[0] === "") out += "/.";
    out += pathname(url);
    if (url.query !== null) out += "?" + url.query;
    return url.fragment === null ? out : out + "#" + url.fragment;
  }
  function origin(url) {
    if (url.scheme === "blob") {
      const inner = parse(pathname(url), null, null, 0);
      return inner !== null && (inner.scheme === "http" || inner.scheme === "https") ? origin(inner) : "null";
    }
    return url.scheme in SPECIAL && url.scheme !== "file"
      ? url.scheme + "://" + url.host + (url.port === null ? "" : ":" + url.port)
      : "null";
  }
  function parseApi(url, base, throws) {
    let parsedBase = null;
    if (base !== undefined) {
      parsedBase = parse(usv(base), null, null, 0);
      if (parsedBase === null) {
        if (throws) throw new TypeError(`Invalid base URL: ${base}`);
        return null;
      }
    }
    const record = parse(usv(url), parsedBase, null, 0);
    if (record === null && throws) throw new TypeError(`Invalid URL: ${url}`);
    return record;
  }

  function parseForm(s) {
    const list = [];
    for (const part of s.split("&")) {
      if (part === "") continue;
      const eq = part.indexOf("="), name = eq < 0 ? part : part.slice(0, eq), value = eq < 0 ? "" : part.slice(eq + 1);
      list.push([percentDecode(name.replaceAll("+", " ")), percentDecode(value.replaceAll("+", " "))]);
    }
    return list;
  }
  function serializeForm(list) {
    let out = "";
    for (let i = 0; i < list.length; i++) out += (i ? "&" : "") + formEncode(list[i][0]) + "=" + formEncode(list[i][1]);
    return out;
  }

  // A URL's state is its record (plus `params`, its URLSearchParams' state, once asked for); a
  // URLSearchParams' state is {list, url} where url is the record it updates, or null.
  const records = new WeakMap(), lists = new WeakMap();
  function stateOf(map, self) {
    const state = map.get(self);
    if (state === undefined) throw new TypeError("Illegal invocation");
    return state;
  }
  const urlOf = (self) => stateOf(records, self), paramsOf = (self) => stateOf(lists, self);
  function construct(target, name) {
    if (target === undefined) throw new TypeError(`Class constructor ${name} cannot be invoked without 'new'`);
  }
  function install(target, methods, tag) {
    defineProperties(target.prototype, getOwnPropertyDescriptors(methods));
    defineProperty(target.prototype, TO_STRING_TAG, { value: tag, configurable: true });
  }
  function update(state) {
    if (state.url !== null) state.url.query = state.list.length ? serializeForm(state.list) : null;
  }
  function queryChanged(url) {
    if (url.params !== undefined) url.params.list = url.query ? parseForm(url.query) : [];
  }

  function URLSearchParams(init = "") {
    construct(new.target, "URLSearchParams");
    let list = [];
    if (init !== null && (typeof init === "object" || typeof init === "function")) {
      if (init[ITERATOR] != null) {
        for (const pair of init) {
          const items = pair !== null && (typeof pair === "object" || typeof pair === "function") ? [...pair] : [];
          if (items.length !== 2) throw new TypeError("URLSearchParams: each pair must be a sequence of exactly two items.");
          list.push([usv(items[0]), usv(items[1])]);
        }
      } else {
        const pairs = new Map();
        for (const key of ownKeys(init)) {
          if (getOwnPropertyDescriptor(init, key)?.enumerable) pairs.set(usv(key), usv(init[key]));
        }
        list = [...pairs];
      }
    } else {
      const s = usv(init);
      list = parseForm(s[0] === "?" ? s.slice(1) : s);
    }
    lists.set(this, { list, url: null });
  }
  function* iterate(state, kind) {
    for (let i = 0; i < state.list.length; i++) {
      const pair = state.list[i];
      yield kind === 0 ? pair[0] : kind === 1 ? pair[1] : [pair[0], pair[1]];
    }
  }
  install(URLSearchParams, {
    get size() { return paramsOf(this).list.length; },
    append(name, value) {
      if (arguments.length < 2) throw arity("URLSearchParams.append", 2, arguments.length);
      const state = paramsOf(this);
      state.list.push([usv(name), usv(value)]);
      update(state);
    },
    delete(name, value = undefined) {
      if (arguments.length < 1) throw arity("URLSearchParams.delete", 1, arguments.length);
      const state = paramsOf(this), list = [];
      name = usv(name);
      if (value !== undefined) value = usv(value);
      for (const pair of state.list) if (pair[0] !== name || (value !== undefined && pair[1] !== value)) list.push(pair);
      state.list = list;
      update(state);
    },
    get(name) {
      if (arguments.length < 1) throw arity("URLSearchParams.get", 1, arguments.length);
      name = usv(name);
      for (const pair of paramsOf(this).list) if (pair[0] === name) return pair[1];
      return null;
    },
    getAll(name) {
      if (arguments.length < 1) throw arity("URLSearchParams.getAll", 1, arguments.length);
      const values = [];
      name = usv(name);
      for (const pair of paramsOf(this).list) if (pair[0] === name) values.push(pair[1]);
      return values;
    },
    has(name, value = undefined) {
      if (arguments.length < 1) throw arity("URLSearchParams.has", 1, arguments.length);
      name = usv(name);
      if (value !== undefined) value = usv(value);
      for (const pair of paramsOf(this).list) if (pair[0] === name && (value === undefined || pair[1] === value)) return true;
      return false;
    },
    set(name, value) {
      if (arguments.length < 2) throw arity("URLSearchParams.set", 2, arguments.length);
      const state = paramsOf(this), list = [];
      let found = false;
      name = usv(name);
      value = usv(value);
      for (const pair of state.list) {
        if (pair[0] !== name) list.push(pair);
        else if (!found) { found = true; list.push([name, value]); }
      }
      if (!found) list.push([name, value]);
      state.list = list;
      update(state);
    },
    sort() {
      const state = paramsOf(this);
      state.list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      update(state);
    },
    forEach(callback, thisArg = undefined) {
      const state = paramsOf(this);
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: the callback is not a function.");
      for (let i = 0; i < state.list.length; i++) callback.call(thisArg, state.list[i][1], state.list[i][0], this);
    },
    keys() { return iterate(paramsOf(this), 0); },
    values() { return iterate(paramsOf(this), 1); },
    entries() { return iterate(paramsOf(this), 2); },
    toString() { return serializeForm(paramsOf(this).list); },
  }, "URLSearchParams");
  defineProperty(URLSearchParams.prototype, ITERATOR, { value: URLSearchParams.prototype.entries, writable: true, configurable: true });

  function URL(url, base = undefined) {
    construct(new.target, "URL");
    if (arguments.length < 1) throw arity("URL", 1, 0);
    records.set(this, parseApi(url, base, true));
  }
  defineProperties(URL, getOwnPropertyDescriptors({
    canParse(url, base = undefined) {
      if (arguments.length < 1) throw arity("URL.canParse", 1, 0);
      return parseApi(url, base, false) !== null;
    },
    parse(url, base = undefined) {
      if (arguments.length < 1) throw arity("URL.parse", 1, 0);
      const record = parseApi(url, base, false), object = record === null ? null : create(URL.prototype);
      if (object !== null) records.set(object, record);
      return object;
    },
  }));
  const cannotHaveCredentials = (url) => !url.host || url.scheme === "file";
  install(URL, {
    get href() { return serialize(urlOf(this)); },
    set href(value) {
      const url = urlOf(this), record = parse(usv(value), null, null, 0);
      if (record === null) throw new TypeError(`Invalid URL: ${value}`);
      assign(url, record);
      queryChanged(url);
    },
    get origin() { return origin(urlOf(this)); },
    get protocol() { return urlOf(this).scheme + ":"; },
    set protocol(value) { parse(usv(value) + ":", null, urlOf(this), S_START); },
    get username() { return urlOf(this).username; },
    set username(value) {
      const url = urlOf(this);
      if (!cannotHaveCredentials(url)) url.username = encode(usv(value), USERINFO);
    },
    get password() { return urlOf(this).password; },
    set password(value) {
      const url = urlOf(this);
      if (!cannotHaveCredentials(url)) url.password = encode(usv(value), USERINFO);
    },
    get host() {
      const url = urlOf(this);
      return url.host === null ? "" : url.port === null ? url.host : url.host + ":" + url.port;
    },
    set host(value) {
      const url = urlOf(this);
      if (typeof url.path !== "string") parse(usv(value), null, url, S_HOST);
    },
    get hostname() { return urlOf(this).host ?? ""; },
    set hostname(value) {
      const url = urlOf(this);
      if (typeof url.path !== "string") parse(usv(value), null, url, S_HOSTNAME);
    },
    get port() { return `${urlOf(this).port ?? ""}`; },
    set port(value) {
      const url = urlOf(this);
      value = usv(value);
      if (cannotHaveCredentials(url)) return;
      if (value === "") url.port = null;
      else parse(value, null, url, S_PORT);
    },
    get pathname() { return pathname(urlOf(this)); },
    set pathname(value) {
      const url = urlOf(this);
      if (typeof url.path === "string") return;
      url.path = [];
      parse(usv(value), null, url, S_PATH_START);
    },
    get search() { return urlOf(this).query ? "?" + urlOf(this).query : ""; },
    set search(value) {
      const url = urlOf(this);
      value = usv(value);
      url.query = value === "" ? null : "";
      if (value !== "") parse(value[0] === "?" ? value.slice(1) : value, null, url, S_QUERY);
      queryChanged(url);
    },
    get searchParams() {
      const url = urlOf(this);
      if (url.params === undefined) {
        url.params = { list: [], url, object: create(URLSearchParams.prototype) };
        lists.set(url.params.object, url.params);
        queryChanged(url);
      }
      return url.params.object;
    },
    get hash() { return urlOf(this).fragment ? "#" + urlOf(this).fragment : ""; },
    set hash(value) {
      const url = urlOf(this);
      value = usv(value);
      url.fragment = value === "" ? null : "";
      if (value !== "") parse(value[0] === "#" ? value.slice(1) : value, null, url, S_FRAGMENT);
    },
    toString() { return serialize(urlOf(this)); },
    toJSON() { return serialize(urlOf(this)); },
  }, "URL");

  __z0.URL = URL;
  __z0.define(globalThis, { URL, URLSearchParams });
  return [URL, URLSearchParams];
})();
