/* The Reports page: a date typed in From or To means custom dates, whatever Range said. */
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    if (event.target.id === "report-from" || event.target.id === "report-to") {
      document.getElementById("report-range").value = "custom";
    }
  });
})();
