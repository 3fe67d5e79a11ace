// Project form: show only the options of the chosen task kind (all stay in the form without JS).
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("id_task_kind");
  if (!kind) return;
  const sync = () => {
    document.querySelectorAll("fieldset[data-kind]").forEach((fs) => {
      fs.hidden = fs.dataset.kind !== kind.value;
    });
  };
  kind.addEventListener("change", sync);
  sync();
});
