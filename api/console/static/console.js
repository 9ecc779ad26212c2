// Pulse console: progressive enhancement only; every page works without it.
"use strict";
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  // Filter forms (GET) apply as soon as a choice changes.
  var form = event.target.form;
  if (form && form.hasAttribute("data-autosubmit")) {
    form.submit();
  }
});
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) {
    window.print();
  }
});
