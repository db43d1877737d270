// Live updates: one EventSource on /api/v1/events per page. An element that wants them says which kinds
// (data-live="alert reading"), optionally for one session (data-live-session) or one day (data-live-day),
// and refetches itself when htmx sees the "live" event. While the stream is down the elements are polled
// instead (data-live-poll seconds, 4 by default), and every one refetches when the stream is back.
// data-live-hold keeps a refetch from wiping what is being typed: "typing" (a field has focus or text),
// "filled" (a field holds text); the refetch waits and is tried again.
(function () {
  "use strict";
  var KINDS = ["reading", "alert", "rate", "session", "appointment"];
  var RETRY_MS = 4000;
  var source = null;
  var pollTimer = null;
  var retryTimer = null;
  var everOpened = false;

  function elements() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function held(el) {
    var how = el.getAttribute("data-live-hold");
    if (!how) return false;
    var active = document.activeElement;
    if (how === "typing" && el.contains(active) && active.matches("input, select, textarea")) return true;
    return Array.prototype.some.call(
      el.querySelectorAll("input[type=text], input:not([type]), input[inputmode], textarea"),
      function (input) { return input.value.trim() !== ""; });
  }

  function refresh(el) {
    if (!window.htmx || !document.body.contains(el)) return;
    if (held(el)) { el.dataset.livePending = "1"; scheduleRetry(); return; }
    delete el.dataset.livePending;
    window.htmx.trigger(el, "live");
  }

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setTimeout(function () {
      retryTimer = null;
      document.querySelectorAll("[data-live-pending]").forEach(refresh);
    }, RETRY_MS);
  }

  function wants(el, kind, data) {
    var kinds = (el.getAttribute("data-live") || "").split(/\s+/);
    if (kinds.indexOf(kind) < 0) return false;
    var session = el.getAttribute("data-live-session");
    if (session && String(data.session_id) !== session) return false;
    var day = el.getAttribute("data-live-day");
    if (day && kind === "appointment") return data.day === day;
    // A board lists its sessions: a change to one of them (or a board change of its day) is its own.
    var sessions = el.getAttribute("data-live-sessions");
    if (sessions !== null) return sessions.split(/\s+/).indexOf(String(data.session_id)) >= 0;
    return true;
  }

  function onEvent(kind) {
    return function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      elements().forEach(function (el) { if (wants(el, kind, data)) refresh(el); });
      document.body.dispatchEvent(new CustomEvent("live-event", {detail: {kind: kind, data: data}}));
    };
  }

  function startPolling() {
    if (pollTimer || !elements().length) return;
    var seconds = Number(document.querySelector("[data-live-poll]")?.getAttribute("data-live-poll")) || 4;
    document.body.dataset.liveMode = "polling";
    pollTimer = setInterval(function () { elements().forEach(refresh); }, seconds * 1000);
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function open() {
    if (source || typeof EventSource === "undefined") { if (!source) startPolling(); return; }
    source = new EventSource("/api/v1/events");
    source.addEventListener("open", function () {
      document.body.dataset.liveMode = "stream";
      stopPolling();
      // Back after a gap (a reconnect, a network drop): what changed meanwhile is fetched once.
      if (everOpened) elements().forEach(refresh);
      everOpened = true;
    });
    source.addEventListener("error", function () {
      // The browser retries by itself; until it is back (or if it gave up) the elements are polled.
      startPolling();
      if (source && source.readyState === EventSource.CLOSED) source = null;
    });
    KINDS.forEach(function (kind) { source.addEventListener(kind, onEvent(kind)); });
    source.addEventListener("end", function () {
      // The login ended: stop (the login dialog opens); it reconnects once logged in again.
      close();
      document.dispatchEvent(new CustomEvent("session-expired"));
    });
  }

  function close() {
    if (source) { source.close(); source = null; }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data || event.data.kind !== "session-resumed") return;
    stopPolling();
    open();
  });
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", function (event) { if (event.persisted) open(); });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", open);
  else open();
})();
