// In-isolate state: it lives as long as the isolate (as in Workers), and each isolate has its own:
// a cache, not storage (KV and SQL bindings are for that).
let nextId = 1;
const byId = new Map();

export const notes = {
  list: () => [...byId.values()],
  get: (id) => byId.get(Number(id)),
  add(text) {
    const note = { id: nextId++, text, created: new Date().toISOString() };
    byId.set(note.id, note);
    return note;
  },
};
