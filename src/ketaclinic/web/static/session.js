// The login behind an open screen: warn before the idle logout, and when it has expired log in again in
// a dialog over the page, so nothing typed on the screen is lost. Asking the status is not activity.
(function () {
  "use strict";
  var CHECK_EVERY_MS = 15000;
  var body = document.body;
  var warnLeft = null;
  var tickTimer = null;

  function csrf() {
    try {
      return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function setCsrf(token) {
    body.setAttribute("hx-headers", JSON.stringify({"X-CSRF-Token": token}));
    document.querySelectorAll('input[name="csrf_token"]').forEach(function (input) { input.value = token; });
  }

  function dialog(id, html) {
    var el = document.createElement("dialog");
    el.id = id;
    el.className = "login-dialog";
    el.innerHTML = html;
    body.appendChild(el);
    return el;
  }

  var warning = dialog("login-warning",
    '<h2>Your login is about to end</h2>' +
    '<p>Without activity you will be logged out in <strong id="login-left"></strong>. ' +
    'Live updates on this screen do not keep you logged in.</p>' +
    '<button type="button" class="primary" id="stay-logged-in">Stay logged in</button>');
  var relogin = dialog("relogin",
    '<h2>Your login has expired</h2>' +
    '<p>Log in again to carry on. What you typed on this screen is kept; send it again after logging in.</p>' +
    '<iframe title="Log in again" id="relogin-frame"></iframe>');
  var frame = relogin.querySelector("iframe");
  // Escape must not leave a screen that cannot save anything.
  relogin.addEventListener("cancel", function (e) { e.preventDefault(); });

  function showRelogin() {
    if (warning.open) warning.close();
    if (relogin.open) return;
    frame.src = "/login?next=/session/resumed&why=" + encodeURIComponent("Your login expired: log in again.");
    relogin.showModal();
  }

  function showWarning(seconds) {
    warnLeft = seconds;
    if (!warning.open) warning.showModal();
    clearInterval(tickTimer);
    var render = function () {
      var a = Math.max(0, warnLeft);
      warning.querySelector("#login-left").textContent = Math.floor(a / 60) + ":" + String(a % 60).padStart(2, "0");
      if (warnLeft <= 0) { clearInterval(tickTimer); check(); }
      warnLeft -= 1;
    };
    render();
    tickTimer = setInterval(render, 1000);
  }

  function answer(response) {
    if (response.status === 401) { showRelogin(); return null; }
    return response.ok ? response.json() : null;
  }

  function react(status) {
    if (!status || status.seconds_left === null) return;
    if (status.seconds_left <= 0) { showRelogin(); }
    else if (status.seconds_left <= status.warn_seconds) { showWarning(status.seconds_left); }
    else if (warning.open) { clearInterval(tickTimer); warning.close(); }
  }

  function check() {
    return fetch("/session/status", {credentials: "same-origin", headers: {"Accept": "application/json", "X-KC-Background": "1"}})
      .then(answer).then(function (status) { react(status); return status; })
      .catch(function () { return null; });
  }

  warning.querySelector("#stay-logged-in").addEventListener("click", function () {
    fetch("/session/keepalive", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf()}})
      .then(answer).then(react);
  });

  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data || event.data.kind !== "session-resumed") return;
    setCsrf(event.data.csrf);
    relogin.close();
    frame.removeAttribute("src");
    check();
  });

  // A poll's own element is marked data-kc-background: its requests say so, and the server never counts
  // them as activity even where a route forgets to be declared passive. Only the element itself: a form
  // inside a polled panel (acknowledging an alert) is a person acting.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-kc-background")) event.detail.headers["X-KC-Background"] = "1";
  });

  // A fragment request answered 401 (the server never sends the login page into a fragment).
  document.addEventListener("session-expired", showRelogin);
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 401) showRelogin();
  });

  // A plain form post checks the login first: leaving for the login page would lose what was typed.
  // One post per form at a time, so a double click sends it once.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.hasAttribute("hx-post") || form.action.endsWith("/logout")) return;
    // The re-sent submit after the check goes through once; "pending" stays set, so a click while
    // that post is in flight is dropped instead of sending the form again.
    if (form.dataset.loginChecked === "1") { delete form.dataset.loginChecked; return; }
    event.preventDefault();
    if (form.dataset.pending === "1") return;
    form.dataset.pending = "1";
    var submitter = event.submitter;
    fetch("/session/status", {credentials: "same-origin", headers: {"Accept": "application/json", "X-KC-Background": "1"}})
      .then(function (response) {
        if (response.status === 401) { form.dataset.pending = ""; showRelogin(); return; }
        form.dataset.loginChecked = "1";
        if (submitter) { form.requestSubmit(submitter); } else { form.requestSubmit(); }
      })
      .catch(function () { form.dataset.pending = ""; });
  }, true);

  // Back to a page kept in the browser's cache: its forms can be sent again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-pending]").forEach(function (form) { form.dataset.pending = ""; });
  });

  check();
  setInterval(check, CHECK_EVERY_MS);
})();
