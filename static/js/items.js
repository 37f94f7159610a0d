// The items page: lists the user's items and adds one, through /api/graphql.
//
// When the session ends while a name is typed, nothing is lost: the name is kept in this
// tab's sessionStorage (the name only, under a key naming the user; never a token), the
// page says so and offers "Sign in again", and after signing in, back here, the name is put
// back in the field and the stored copy is removed.
import { graphql, setSessionExpiredHandler, signInUrl, subscribe } from "./api.js";

const ITEMS = "query Items { items { id name } }";
const ADD_ITEM = "mutation AddItem($name: String!) { addItem(name: $name) { id name } }";
const ITEM_ADDED = "subscription ItemAdded { itemAdded { id name } }";
const DRAFT_PREFIX = "bff:items:draft:";

const list = document.getElementById("items");
const form = document.getElementById("add-item");
const input = document.getElementById("item-name");
const status = document.getElementById("status");
const signInAgain = document.getElementById("sign-in-again");
const signInLink = signInAgain.querySelector("a");
const draftKey = DRAFT_PREFIX + (form.dataset.owner || "");

function say(message, isError = false) {
  status.textContent = message;
  status.classList.toggle("error", isError);
}

/** Keep the typed name for after sign-in; false when this browser refuses storage. */
function keepDraft(name) {
  try {
    sessionStorage.setItem(draftKey, name);
    return true;
  } catch {
    return false;
  }
}

/** The name kept before signing in again, if any (only this user's); every kept one is
 * removed. */
function takeDraft() {
  let draft = null;
  try {
    draft = sessionStorage.getItem(draftKey);
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(DRAFT_PREFIX)) sessionStorage.removeItem(key);
    }
  } catch {
    return null;
  }
  return draft;
}

setSessionExpiredHandler((error) => {
  const name = input.value.trim();
  if (!name) {
    say("Your session has ended. Sign in again.", true);
  } else if (keepDraft(name)) {
    say("Your session has ended. Sign in again to add it.", true);
  } else {
    say("Your session has ended. Copy your item, then sign in again to add it.", true);
  }
  signInLink.href = signInUrl(error.loginUrl, "/items");
  signInAgain.hidden = false;
});

function entryFor(item) {
  const entry = document.createElement("li");
  entry.textContent = item.name;
  entry.dataset.id = item.id;
  return entry;
}

function show(items) {
  list.replaceChildren(...items.map(entryFor));
  list.setAttribute("aria-busy", "false");
}

/** An item added elsewhere (another tab, another device), unless it is listed already. */
function arrived(item) {
  if (!item || list.querySelector(`li[data-id="${CSS.escape(String(item.id))}"]`)) return;
  list.append(entryFor(item));
}

async function load() {
  const data = await graphql(ITEMS);
  show(data.items || []);
  return data.items || [];
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = input.value.trim();
  if (!name) {
    say("Give the item a name.", true);
    input.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say("Adding…");
  let focusAfter = input;
  try {
    const data = await graphql(ADD_ITEM, { name });
    input.value = "";
    await load();
    say(`Added “${data.addItem.name}”.`);
  } catch (error) {
    if (error.sessionExpired) {
      focusAfter = signInLink; // the hook has said what happened
    } else {
      say(error.message, true);
    }
  } finally {
    button.disabled = false;
    focusAfter.focus();
  }
});

const draft = takeDraft();
if (draft && !input.value) {
  input.value = draft;
  say(`“${draft}” is back in the field. Press Add to add it.`);
  input.focus();
}
load()
  .then((items) => {
    if (!items.length && !draft) say("No items yet.");
    subscribe(ITEM_ADDED, {}, {
      url: list.dataset.websocketUrl || undefined,
      onData: (data) => arrived(data.itemAdded),
    });
  })
  .catch((error) => {
    if (!error.sessionExpired) say(error.message, true);
  });
