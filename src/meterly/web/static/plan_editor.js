// The plan editor shows only the price fields of the chosen charge model. Without
// JavaScript every field shows, labelled, and the server reads those of the model.
(function () {
  "use strict";
  function apply(select) {
    var model = select.value;
    document.querySelectorAll(".price-model").forEach(function (el) {
      var models = (el.getAttribute("data-models") || "").split(" ");
      el.hidden = models.indexOf(model) < 0;
    });
  }
  document.querySelectorAll("select[data-price-model]").forEach(function (select) {
    select.addEventListener("change", function () { apply(select); });
    apply(select);
  });
})();
