// Follows an import running in the background: every two seconds the page is fetched again and
// its progress part replaced, so the progress bar moves without reloading the page; once the
// import is finished, the page is loaded once more to show the report.
(function () {
  "use strict";
  var PERIOD_MS = 2000;

  function part(doc) {
    return doc.getElementById("suivi-import");
  }

  function follow() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = part(new DOMParser().parseFromString(html, "text/html"));
        var current = part(document);
        if (!fresh || !current) return;
        if (fresh.dataset.termine === "oui") {
          window.location.reload();
          return;
        }
        current.replaceWith(fresh);
        window.setTimeout(follow, PERIOD_MS);
      })
      .catch(function () {
        window.setTimeout(follow, PERIOD_MS * 3);
      });
  }

  window.setTimeout(follow, PERIOD_MS);
})();
