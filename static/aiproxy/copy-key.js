// The one-time client key page: copy the key to the clipboard (falls back to selecting it).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("copy-key");
  if (!button) return;
  const field = document.getElementById(button.dataset.target);
  const status = document.getElementById("copy-status");
  button.addEventListener("click", async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = "Copied.";
    } catch (e) {
      status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  });
});
