// A runaway loop: the engine's own time limit stops it.
export default {
  fetch() {
    while (true) {}
  },
};
