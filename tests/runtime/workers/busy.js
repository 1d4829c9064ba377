// Burns about ?ms= milliseconds of CPU (calibrated by the test), then answers.
export default {
  fetch(request) {
    const url = new URL(request.url);
    const iterations = Number(url.searchParams.get("n") || "1000");
    let x = 0;
    for (let i = 0; i < iterations; i++) x = (x * 31 + i) % 1000003;
    return new Response(String(x));
  },
};
