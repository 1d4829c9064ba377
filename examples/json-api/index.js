// A JSON API with routing: the kind of worker most tenants deploy.
import { Router } from "./router.js";
import { notes } from "./store.js";

const router = new Router()
  .get("/", () => Response.json({ service: "notes", version: 1 }))
  .get("/notes", () => Response.json({ notes: notes.list() }))
  .get("/notes/:id", (request, { id }) => {
    const note = notes.get(id);
    return note ? Response.json(note) : Response.json({ error: "not found" }, { status: 404 });
  })
  .post("/notes", async (request) => {
    const body = await request.json().catch(() => null);
    if (!body || typeof body.text !== "string") {
      return Response.json({ error: "send {\"text\": \"...\"}" }, { status: 400 });
    }
    return Response.json(notes.add(body.text), { status: 201 });
  });

export default {
  async fetch(request, env, ctx) {
    return router.handle(request, env, ctx);
  },
};
