// Allocates until the memory limit stops it.
export default {
  fetch() {
    const hoard = [];
    while (true) hoard.push(new Array(1e6).fill(1.5));
  },
};
