// Replay page: plays a session's terminal recording (asciicast v2 or v3) with the vendored
// asciinema-player, and ties the speed and idle-limit selects and the marker buttons to it.
// - The recording is fetched once (same-origin, with the sign-in cookie) and handed to the
//   player as data, so changing speed or idle limit re-creates the player without a new
//   download, at the same point of the recording and in the same play/pause state.
// - The player's timeline is the recording's with idle gaps cut to the idle limit; times in
//   the page (data-time of a marker) are recording time and are mapped onto that timeline.
// Without this script, or when the recording cannot be shown, the fallback text with the
// download link stays in place.
'use strict';

(function () {
  var el = document.getElementById('player');
  if (!el || !el.dataset.cast || typeof window.AsciinemaPlayer === 'undefined') { return; }
  var fallback = el.querySelector('.player-fallback');
  var speedSelect = document.getElementById('player-speed');
  var idleSelect = document.getElementById('player-idle');
  var markerList = document.getElementById('player-markers');

  var speed = positive(el.dataset.speed, 1);
  var idle = positive(el.dataset.idle, 0); // seconds; 0 = no limit
  var cast = null; // { data, times, markers }, see parseCast
  var player = null;
  var playing = false;

  function positive(text, otherwise) {
    var n = Number(text);
    return isFinite(n) && n >= 0 ? n : otherwise;
  }

  function idleMs() { return idle > 0 ? idle * 1000 : Infinity; }

  // The cast as the player's parser takes it (an array: header, then events), the time of
  // each event in milliseconds of the recording, and the recording time of each "m" event
  // in seconds, in the order the player numbers its markers. A last line cut short (a
  // recording whose writer died mid-line) is left out rather than failing the whole replay.
  function parseCast(text) {
    var lines = text.split('\n');
    var header = JSON.parse(lines[0]);
    if (header.version !== 2 && header.version !== 3) {
      throw new Error('asciicast v' + header.version + ' is not supported');
    }
    var data = [header];
    var times = [];
    var markers = [];
    var time = 0;
    for (var i = 1; i < lines.length; i++) {
      if (lines[i].charAt(0) !== '[') { continue; }
      var event;
      try {
        event = JSON.parse(lines[i]);
      } catch (e) {
        if (i >= lines.length - 2) { break; }
        throw e;
      }
      // Same arithmetic as the player, so times compare equal.
      time = header.version === 2 ? event[0] * 1000 : time + event[0] * 1000;
      data.push(event);
      times.push(time);
      if (event[1] === 'm') { markers.push(time / 1000); }
    }
    return { data: data, times: times, markers: markers };
  }

  // Player time of each event (ms) under an idle limit: every gap between events, and the
  // one before the first, is cut to the limit, exactly as the player does.
  function playerTimes(limitMs) {
    var out = [];
    var previous = 0;
    var shift = 0;
    cast.times.forEach(function (t) {
      var cut = (t - previous) - limitMs;
      previous = t;
      if (cut > 0) { shift += cut; }
      out.push(t - shift);
    });
    return out;
  }

  // Index of the last element of the ascending array `xs` that is <= x, or -1.
  function lastAtOrBefore(xs, x) {
    var lo = 0;
    var hi = xs.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] <= x) { lo = mid + 1; } else { hi = mid; }
    }
    return lo - 1;
  }

  function toPlayerMs(recordingMs, limitMs) {
    var played = playerTimes(limitMs);
    var k = lastAtOrBefore(cast.times, recordingMs);
    var base = k < 0 ? 0 : cast.times[k];
    var at = k < 0 ? 0 : played[k];
    return at + Math.min(recordingMs - base, limitMs);
  }

  function toRecordingMs(playerMs, limitMs) {
    var played = playerTimes(limitMs);
    var k = lastAtOrBefore(played, playerMs);
    return k < 0 ? playerMs : cast.times[k] + (playerMs - played[k]);
  }

  function showFallback() {
    if (player) { player.dispose(); player = null; }
    if (fallback && !fallback.parentNode) { el.appendChild(fallback); }
  }

  function create(autoPlay) {
    // The player empties the element when disposed: keep the fallback aside.
    if (fallback && fallback.parentNode) { fallback.remove(); }
    var p = window.AsciinemaPlayer.create({ data: cast.data }, el, {
      autoPlay: autoPlay,
      preload: true,
      speed: speed,
      idleTimeLimit: idle > 0 ? idle : Infinity,
      fit: 'width',
      controls: true
    });
    p.addEventListener('play', function () { playing = true; });
    p.addEventListener('playing', function () { playing = true; });
    p.addEventListener('pause', function () { playing = false; });
    p.addEventListener('ended', function () { playing = false; });
    p.addEventListener('error', function () { if (player === p) { showFallback(); } });
    return p;
  }

  // The player takes its speed and idle limit only when created: dispose it and create a
  // new one at the same point of the recording.
  function recreate(newSpeed, newIdle) {
    if (!player) { return; }
    var wasPlaying = playing;
    var recordingMs = toRecordingMs((player.getCurrentTime() || 0) * 1000, idleMs());
    player.dispose();
    speed = newSpeed;
    idle = newIdle;
    playing = false;
    var p = player = create(false);
    p.seek(toPlayerMs(recordingMs, idleMs()) / 1000)
      .then(function () { return wasPlaying ? p.play() : null; })
      .catch(function () { /* disposed meanwhile by a newer change */ });
  }

  // A marker of the recording is sought by its index (exact); any other time is mapped
  // onto the player's timeline.
  function seekTo(seconds) {
    if (!player) { return; }
    var best = -1;
    cast.markers.forEach(function (t, i) {
      if (Math.abs(t - seconds) < 0.01 && (best < 0 || Math.abs(t - seconds) < Math.abs(cast.markers[best] - seconds))) {
        best = i;
      }
    });
    var target = best >= 0 ? { marker: best } : toPlayerMs(seconds * 1000, idleMs()) / 1000;
    player.seek(target).catch(function () { /* player failed or disposed */ });
  }

  function selectValue(select, value) {
    if (!select) { return; }
    var wanted = String(value);
    for (var i = 0; i < select.options.length; i++) {
      if (Number(select.options[i].value) === value) { wanted = select.options[i].value; }
    }
    select.value = wanted;
  }

  function wire() {
    selectValue(speedSelect, speed);
    selectValue(idleSelect, idle);
    if (speedSelect) {
      speedSelect.addEventListener('change', function () {
        var s = Number(speedSelect.value);
        if (isFinite(s) && s > 0) { recreate(s, idle); }
      });
    }
    if (idleSelect) {
      idleSelect.addEventListener('change', function () {
        var i = Number(idleSelect.value);
        if (isFinite(i) && i >= 0) { recreate(speed, i); }
      });
    }
    if (markerList) {
      markerList.addEventListener('click', function (ev) {
        var button = ev.target.closest('button.marker');
        if (!button || !markerList.contains(button)) { return; }
        var t = Number(button.dataset.time);
        if (isFinite(t) && t >= 0) { seekTo(t); }
      });
    }
  }

  el.setAttribute('aria-busy', 'true');
  fetch(el.dataset.cast, { credentials: 'same-origin' })
    .then(function (r) {
      if (!r.ok) { throw new Error('recording: HTTP ' + r.status); }
      return r.text();
    })
    .then(function (text) {
      cast = parseCast(text);
      if (cast.times.length === 0) { throw new Error('recording has no events'); }
      player = create(true);
      wire();
    })
    .catch(function (e) {
      showFallback();
      if (window.console) { window.console.warn('replay:', e); }
    })
    .then(function () { el.removeAttribute('aria-busy'); });
})();
