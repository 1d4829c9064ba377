// A tiny router: method + path pattern with :params.
export class Router {
  #routes = [];

  #add(method, pattern, handler) {
    const names = [];
    const source = pattern.replace(/:([a-z_]+)/gi, (_, name) => {
      names.push(name);
      return "([^/]+)";
    });
    this.#routes.push({ method, regex: new RegExp(`^${source}/?$`), names, handler });
    return this;
  }

  get(pattern, handler) { return this.#add("GET", pattern, handler); }
  post(pattern, handler) { return this.#add("POST", pattern, handler); }

  async handle(request, env, ctx) {
    const { pathname } = new URL(request.url);
    for (const route of this.#routes) {
      const match = route.regex.exec(pathname);
      if (!match) continue;
      if (route.method !== request.method) continue;
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
      return route.handler(request, params, env, ctx);
    }
    return Response.json({ error: `no route for ${request.method} ${pathname}` }, { status: 404 });
  }
}
