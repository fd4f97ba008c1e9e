// Runs first in the page's <head>, before gradio's modules (iacdemo/ui/page_head.py puts it there);
// docs/gradio-idle-frames.md has the measurements.
//
// Why: gradio 6.31's status tracker counts a pending event's elapsed seconds in a requestAnimationFrame
// loop that only stops when the tracker sees its status leave "pending". The page's own loading tracker
// is unmounted at that very moment, so its loop never stops: every gradio page asks for a frame 60 times
// a second for as long as it is open. Measured here on an idle page in headless Chromium: 1.05 CPU-s per
// 10 s for a one-textbox gradio app, 0.09 for a blank page (bench/RESULTS.md). On a laptop giving a talk,
// that is a core's tenth spent on nothing.
//
// What: the elapsed-time tick (and only it, recognised by its source text) is asked for at most 4 times a
// second. The timer shows tenths of a second, so a visible one still moves; the leaked one costs a
// quarter-second timeout instead of a frame. Any other frame request is passed through untouched, and if a
// gradio release changes the tick's text, nothing matches and the page behaves exactly as gradio ships it.
(() => {
  const requestFrame = window.requestAnimationFrame.bind(window);
  const ELAPSED_TICK = /\(performance\.now\(\)-[^()]*\([^()]*\)\)\/1e3\)/;
  const TICK_INTERVAL_MS = 250;
  const sourceOf = Function.prototype.toString;
  window.requestAnimationFrame = (callback) => {
    if (typeof callback === "function" && ELAPSED_TICK.test(sourceOf.call(callback))) {
      return setTimeout(() => requestFrame(callback), TICK_INTERVAL_MS);
    }
    return requestFrame(callback);
  };
})();
