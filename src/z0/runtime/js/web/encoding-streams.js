// z0-api: encoding-streams
// requires: encoding, streams-writable
// provides: TextEncoderStream, TextDecoderStream
class TextDecoderStream extends TransformStream {
  #d;
  constructor(label = "utf-8", options) {
    const d = new TextDecoder(label, options), stream = { stream: true };
    super({
      transform(chunk, c) {
        const s = d.decode(chunk, stream);
        if (s) c.enqueue(s);
      },
      flush(c) {
        const s = d.decode();
        if (s) c.enqueue(s);
      },
    });
    this.#d = d;
  }
  get encoding() { return "utf-8"; }
  get fatal() { return this.#d.fatal; }
  get ignoreBOM() { return this.#d.ignoreBOM; }
}

class TextEncoderStream extends TransformStream {
  constructor() {
    let high = "";
    super({
      transform(chunk, c) {
        let s = high + `${chunk}`;
        high = "";
        const last = s.charCodeAt(s.length - 1);
        if (last >= 0xd800 && last <= 0xdbff) { high = s.slice(-1); s = s.slice(0, -1); }
        if (s) c.enqueue(wToBytes(wUtf8(s)));
      },
      flush(c) {
        if (high) c.enqueue(new wU8([0xef, 0xbf, 0xbd]));
      },
    });
  }
  get encoding() { return "utf-8"; }
}
wTag(TextDecoderStream, "TextDecoderStream");
wTag(TextEncoderStream, "TextEncoderStream");

__z0.define(globalThis, { TextEncoderStream, TextDecoderStream });
