// Live page: shows a running session's terminal with the vendored asciinema-player, fed by
// the server's websocket (subprotocol v2.asciicast: a header, then event arrays), and says
// in #live-state what the connection is doing: Live, Session ended, Disconnected: <reason>
// (the player reconnects by itself) or Refused (then it stops trying).
//
// The player opens the socket itself and tells neither close reasons nor a refused
// upgrade, so this script watches the sockets that it opens to this page's stream URL
// (WebSocket is wrapped before the player runs; other sockets are left alone). Nothing is
// sent on them and no second connection is made.
'use strict';

(function () {
  var el = document.getElementById('live');
  var stateEl = document.getElementById('live-state');
  if (!el || !el.dataset.ws || typeof window.AsciinemaPlayer === 'undefined' ||
      typeof window.WebSocket !== 'function') {
    return;
  }
  var fallback = el.querySelector('.player-fallback');
  var url = new URL(el.dataset.ws, window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var streamUrl = url.href;
  var player = null;
  var finished = false; // ended or refused: the state no longer changes

  function setState(text) {
    if (stateEl) { stateEl.textContent = text; }
  }

  function count(text, otherwise) {
    var n = parseInt(text, 10);
    return n > 0 ? n : otherwise;
  }

  function closeReason(ev) {
    if (ev.reason) { return ev.reason; }
    if (ev.code === 1006) { return 'connection lost'; }
    return 'code ' + ev.code;
  }

  function ended() {
    finished = true;
    setState('Session ended');
  }

  // No upgrade: not live (any more), not allowed, or no server. Stop the player's retries;
  // disposing it empties the element, so the fallback text comes back.
  function refused() {
    finished = true;
    setState('Refused');
    if (player) { player.dispose(); player = null; }
    if (fallback) { el.appendChild(fallback); }
  }

  function watch(socket) {
    var opened = false;
    socket.addEventListener('open', function () {
      opened = true;
      if (!finished) { setState('Live'); }
      // A moderator's view: the open stream is the moderator's presence.
      var box = document.getElementById('moderation');
      var said = document.getElementById('moderation-state');
      if (box && said && box.dataset.moderating === '1') {
        said.textContent = 'You are moderating: the device connection is open, and the vendor\'s input reaches it while you watch. Leaving this page pauses it.';
      }
    });
    socket.addEventListener('close', function (ev) {
      if (finished) { return; }
      if (!opened) {
        refused();
      } else if (ev.code === 1000 || ev.code === 1005) {
        ended();
      } else {
        setState('Disconnected: ' + closeReason(ev));
      }
    });
  }

  var NativeWebSocket = window.WebSocket;
  function WatchedWebSocket(target, protocols) {
    var socket = protocols === undefined ? new NativeWebSocket(target) : new NativeWebSocket(target, protocols);
    if (String(target) === streamUrl) { watch(socket); }
    return socket;
  }
  WatchedWebSocket.prototype = NativeWebSocket.prototype;
  ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'].forEach(function (k) { WatchedWebSocket[k] = NativeWebSocket[k]; });
  window.WebSocket = WatchedWebSocket;

  if (fallback) { fallback.remove(); }
  player = window.AsciinemaPlayer.create({ driver: 'websocket', url: streamUrl }, el, {
    autoPlay: true,
    cols: count(el.dataset.cols, 80),
    rows: count(el.dataset.rows, 24),
    fit: 'width'
  });
  // The player's own verdicts: closed with 1000/1005 or after an "x" (exit) event; or the
  // socket opened but no header came within 5 s.
  player.addEventListener('ended', function () { if (!finished) { ended(); } });
  player.addEventListener('offline', function () {
    if (!finished) { setState('Disconnected: no stream from the server'); }
  });
})();

// Moderator controls (a moderated session joined as moderator): pause and resume the
// vendor's input through the API, with the sign-in's CSRF token; the answer is shown in
// #moderation-state. The page stays where it is, so the moderating view stays open.
(function () {
  var box = document.getElementById('moderation');
  var state = document.getElementById('moderation-state');
  if (!box || typeof window.fetch !== 'function') { return; }
  box.querySelectorAll('button[data-action]').forEach(function (button) {
    button.addEventListener('click', function () {
      var url = '/api/v1/sessions/' + box.dataset.session + '/moderation/' + button.dataset.action;
      fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': box.dataset.csrf } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!state) { return; }
          if (!res.ok) {
            state.textContent = 'Refused: ' + ((res.body.error && res.body.error.message) || 'error');
          } else if (res.body.input_open) {
            state.textContent = 'Vendor input resumed: it reaches the device (watched by ' + res.body.moderators.join(', ') + ').';
          } else {
            state.textContent = 'Vendor input paused' + (res.body.paused_by ? ' by ' + res.body.paused_by : '') + ': nothing the vendor types reaches the device.';
          }
        })
        .catch(function () { if (state) { state.textContent = 'Disconnected: the request did not reach the server'; } });
    });
  });
})();
