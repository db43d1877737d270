// Inside the re-login dialog's frame: tell the screen behind it the new CSRF token (same origin only).
(function () {
  "use strict";
  if (window.parent !== window) {
    window.parent.postMessage({kind: "session-resumed", csrf: document.body.dataset.csrf}, window.location.origin);
  }
})();
