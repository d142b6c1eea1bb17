// The scheme builder: add a metric row from the formset's empty form, and keep the weight total in view.
(function () {
  const table = document.querySelector("[data-line-table]");
  if (!table) return;
  const body = table.querySelector("tbody");
  const template = document.getElementById("line-template");
  const totalForms = document.getElementById("id_lines-TOTAL_FORMS");
  const sum = document.querySelector("[data-weight-sum]");

  function refreshSum() {
    let total = 0;
    body.querySelectorAll("tr").forEach(function (row) {
      const removed = row.querySelector('input[name$="-DELETE"]');
      const weight = row.querySelector('input[name$="-weight"]');
      if (weight && !(removed && removed.checked)) total += parseInt(weight.value || "0", 10) || 0;
    });
    sum.textContent = total;
    sum.classList.toggle("is-right", total === 100);
    sum.classList.toggle("is-wrong", total !== 100);
  }

  document.querySelector("[data-add-line]").addEventListener("click", function () {
    const index = parseInt(totalForms.value, 10);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    totalForms.value = String(index + 1);
    refreshSum();
  });
  table.addEventListener("input", refreshSum);
  table.addEventListener("change", refreshSum);
  refreshSum();
})();
