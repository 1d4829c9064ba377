// z0-api: bytes
// always: true
const wEsc = escape, wUnesc = unescape, wEncURI = encodeURIComponent, wDecURI = decodeURIComponent;
const wWF = String.prototype.toWellFormed, wLower = String.prototype.toLowerCase;
const wAB = ArrayBuffer, wIsView = ArrayBuffer.isView, wU8 = Uint8Array;
const wIter = Symbol.iterator, wAIter = Symbol.asyncIterator;
const wToBytes = __z0.latin1ToBytes, wToLatin = __z0.bytesToLatin1;
const wFromBase64 = Uint8Array.fromBase64, wToBase64 = Uint8Array.prototype.toBase64;
const wSkip = {};

function wTag(C, name) {
  defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
}

function wUSV(s) {
  return reflectApply(wWF, `${s}`, []);
}

function wUtf8(s) {
  try { return wUnesc(wEncURI(s)); } catch (e) { return wUnesc(wEncURI(reflectApply(wWF, s, []))); }
}

function wLatin(x) {
  return wToLatin(wIsView(x) ? new wU8(x.buffer, x.byteOffset, x.byteLength) : new wU8(x));
}

function wText(b, fatal) {
  try { return wDecURI(wEsc(b)); } catch (e) { return wSlowText(b, fatal); }
}

function wDecode(b) {
  return wText(b.charCodeAt(0) === 0xef && b.startsWith("\xef\xbb\xbf") ? b.slice(3) : b, false);
}

const wBadUtf8 = /((?:[\0-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*)(?:\xe0[\xa0-\xbf]?|[\xe1-\xec\xee\xef][\x80-\xbf]?|\xed[\x80-\x9f]?|\xf0(?:[\x90-\xbf][\x80-\xbf]?)?|[\xf1-\xf3](?:[\x80-\xbf][\x80-\xbf]?)?|\xf4(?:[\x80-\x8f][\x80-\xbf]?)?|[\x80-\xff])/g;

function wSlowText(b, fatal) {
  if (fatal) throw new TypeError("The encoded data was not valid for encoding utf-8");
  let s = "";
  for (let at = 0; at < b.length;) {
    let end = at + 16384;
    if (end >= b.length) end = b.length;
    else {
      let c = end;
      while (c > end - 4 && (b.charCodeAt(c) & 0xc0) === 0x80) c--;
      if (c > end - 4) end = c;
    }
    const part = b.slice(at, end);
    try { s += wDecURI(wEsc(part)); } catch (e) { s += wDecURI(wEsc((part + "\xff").replace(wBadUtf8, "$1\xef\xbf\xbd"))).slice(0, -1); }
    at = end;
  }
  return s;
}
