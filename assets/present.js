// Presentation mode hook, run once on page load (gradio `launch(js=...)`).
// `?mode=present` in the URL or the header toggle puts the class `iacdemo-present` on <body>;
// assets/style.css then switches to large type and high contrast. Later features listen for the
// `iacdemo:present` event (detail: {on}) or style `.present-only` / `.hide-in-present` elements.
() => {
  const CLASS = "iacdemo-present";
  window.iacdemoSetPresent = (on) => {
    on = Boolean(on);
    document.body.classList.toggle(CLASS, on);
    const url = new URL(window.location.href);
    if (on) { url.searchParams.set("mode", "present"); } else { url.searchParams.delete("mode"); }
    window.history.replaceState(null, "", url);
    window.dispatchEvent(new CustomEvent("iacdemo:present", { detail: { on } }));
    return on;
  };
  window.iacdemoPresentFromUrl = () =>
    new URLSearchParams(window.location.search).get("mode") === "present";
  if (window.iacdemoPresentFromUrl()) { window.iacdemoSetPresent(true); }
}
