// In-isolate state: it lives as long as the isolate (as in Workers), so it is a cache, not storage.
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
