function explode(what) {
  throw new TypeError(`cannot handle ${what}`);
}

export default {
  fetch(request) {
    return explode(new URL(request.url).pathname);
  },
};
