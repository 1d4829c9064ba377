// z0-api: domexception
// requires: bytes
// provides: DOMException
const wDXCodes = ["IndexSizeError", "", "HierarchyRequestError", "WrongDocumentError", "InvalidCharacterError", "",
  "NoModificationAllowedError", "NotFoundError", "NotSupportedError", "InUseAttributeError", "InvalidStateError",
  "SyntaxError", "InvalidModificationError", "NamespaceError", "InvalidAccessError", "", "TypeMismatchError",
  "SecurityError", "NetworkError", "AbortError", "URLMismatchError", "QuotaExceededError", "TimeoutError",
  "InvalidNodeTypeError", "DataCloneError"];

class DOMException extends Error {
  #n;
  constructor(message = "", name = "Error") {
    super(`${message}`);
    this.#n = `${name}`;
  }
  get name() { return this.#n; }
  get code() { return wDXCodes.indexOf(this.#n) + 1; }
}
wTag(DOMException, "DOMException");

__z0.define(globalThis, { DOMException });
