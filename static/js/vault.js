// The vault on the items page: an API call that needs a stronger sign-in (step-up).
//
// The first click may answer step_up_required: api.js's default sends the person to sign in
// with what the API asked for, and back to this page. A flag in this tab's sessionStorage
// (no token, no data) says a vault call was under way; on the way back the page makes it
// again, once, with its own hook: a sign-in that still falls short is said, not retried.
import { api } from "./api.js";

const PENDING = "bff:vault:pending";
const button = document.getElementById("open-vault");
const result = document.getElementById("vault-result");

function say(message, isError = false) {
  result.textContent = message;
  result.classList.toggle("error", isError);
}

function setPending(on) {
  try {
    if (on) sessionStorage.setItem(PENDING, "1");
    else sessionStorage.removeItem(PENDING);
  } catch {
    // Storage refused: the person clicks once more after signing in.
  }
}

function takePending() {
  try {
    const pending = sessionStorage.getItem(PENDING) === "1";
    sessionStorage.removeItem(PENDING);
    return pending;
  } catch {
    return false;
  }
}

async function openVault(afterStepUp) {
  button.disabled = true;
  say("Opening the vault…");
  const options = afterStepUp
    ? { onStepUp: () => say("The sign-in did not reach the level the vault asks for.", true) }
    : {};
  if (!afterStepUp) setPending(true);
  try {
    const vault = await api("/api/demo/vault", options);
    setPending(false);
    const level = vault.acr ? ` (sign-in level: ${vault.acr})` : "";
    say(`${vault.message}${level}`);
  } catch (error) {
    if (error.stepUpRequired && !afterStepUp) {
      say("The vault asks for a stronger sign-in. Taking you there…");
      return; // api.js is on its way to the sign-in; the flag brings the call back here
    }
    setPending(false);
    if (!error.stepUpRequired) say(`The vault could not be opened: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

button.addEventListener("click", () => openVault(false));
if (takePending()) openVault(true);
