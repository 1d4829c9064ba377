// z0-api: base64
// requires: domexception
// provides: atob, btoa
function atob(data) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
  let s = `${data}`.replace(/[\t\n\f\r ]+/g, "");
  if (s.length % 4 === 0) s = s.replace(/==?$/, "");
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) {
    throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
  }
  return wToLatin(reflectApply(wFromBase64, Uint8Array, [s]));
}

function btoa(data) {
  if (arguments.length === 0) throw new TypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
  const s = `${data}`;
  if (/[^\0-\xff]/.test(s)) {
    throw new DOMException("The string to be encoded contains characters outside of the Latin1 range.", "InvalidCharacterError");
  }
  return reflectApply(wToBase64, wToBytes(s), []);
}

__z0.define(globalThis, { atob, btoa });
