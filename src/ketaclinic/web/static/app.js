// Behaviour the screens declare with data- attributes, in one place: the Content-Security-Policy allows
// no inline script or event handler, so templates say what they want and this file does it.
(function () {
  "use strict";

  function clock(seconds) {
    var a = Math.abs(seconds);
    return Math.floor(a / 60) + ":" + String(a % 60).padStart(2, "0");
  }

  // data-countdown="overdue": "in m:ss", then "overdue by m:ss" (next vitals due).
  // data-countdown="until": "in m:ss", then "now" (discharge possible from).
  function renderCountdowns() {
    document.querySelectorAll("[data-countdown][data-due]").forEach(function (el) {
      var left = Math.round((new Date(el.dataset.due) - new Date()) / 1000);
      if (el.dataset.countdown === "until") {
        el.textContent = left > 0 ? "in " + clock(left) : "now";
        el.classList.toggle("verdict-ok", left <= 0);
      } else {
        el.textContent = left >= 0 ? "in " + clock(left) : "overdue by " + clock(left);
        el.classList.toggle("verdict-hard", left < 0);
      }
    });
  }

  // A button or link with data-confirm asks first; cancelling stops the click (and so the form post).
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
    if (target && !window.confirm(target.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) return;
    if (event.target.closest("[data-print]")) { window.print(); return; }
    var copy = event.target.closest("[data-copy-from]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copyFrom);
      if (source && navigator.clipboard) navigator.clipboard.writeText(source.value);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // data-focus-on-load: the field keeps the keyboard, but the page opens at its top (the patient,
    // the state, a refusal) unless the address names an anchor.
    var first = document.querySelector("[data-focus-on-load]");
    if (first) {
      first.focus({preventScroll: true});
      if (!location.hash) window.scrollTo(0, 0);
    }
    renderCountdowns();
    setInterval(renderCountdowns, 1000);
  });
  document.addEventListener("htmx:afterSettle", renderCountdowns);
})();
