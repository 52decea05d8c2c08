// The transcript page's Print button: the browser's print dialog (which also saves a PDF).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
