// Shows UTC times in the reader's own time zone on hover. Without it the
// hover text is the UTC time in ISO 8601, which is still right.
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, {
    weekday: "short", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  function local(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : "Local time: " + fmt.format(d);
  }
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var text = local(el.getAttribute("datetime"));
    if (text) el.title = text;
  });
  // An SVG bar's hover text is its <title> element.
  document.querySelectorAll("rect[data-utc]").forEach(function (el) {
    var title = el.querySelector("title"), text = local(el.getAttribute("data-utc"));
    if (title && text) title.textContent += " (" + text.replace("Local time: ", "local ") + ")";
  });
})();
