// Portcullis pages: small conveniences on top of pages that work without this script.
// - Keeps the pending-request badge current by asking /api/v1/requests/pending-count
//   (same-origin, with the sign-in cookie) every few seconds.
// - Tells the approval forms the browser's time zone, so a scheduled start typed in local
//   time is meant as local time (without this script it is read as UTC).
'use strict';

(function () {
  var POLL_MS = 5000;
  var badge = document.getElementById('pending-badge');

  function refresh() {
    fetch('/api/v1/requests/pending-count', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
      cache: 'no-store'
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || typeof body.count !== 'number') { return; }
        var n = String(body.count);
        if (badge.textContent !== n) {
          badge.textContent = n;
          badge.setAttribute('data-count', n);
          badge.setAttribute('aria-label', n + ' pending');
          badge.classList.add('changed');
        }
      })
      .catch(function () { /* offline or signed out: leave the badge as it is */ });
  }

  if (badge) {
    window.setInterval(function () {
      if (!document.hidden) { refresh(); }
    }, POLL_MS);
  }

  var offset = String(new Date().getTimezoneOffset());
  document.querySelectorAll('input[name="tz_offset"]').forEach(function (el) { el.value = offset; });
  document.querySelectorAll('.tz-hint').forEach(function (el) { el.textContent = '(your local time)'; });
})();
