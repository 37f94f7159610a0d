// The items page: lists the user's items and adds one, through /api/graphql.
import { graphql } from "./api.js";

const ITEMS = "query Items { items { id name } }";
const ADD_ITEM = "mutation AddItem($name: String!) { addItem(name: $name) { id name } }";

const list = document.getElementById("items");
const form = document.getElementById("add-item");
const input = document.getElementById("item-name");
const status = document.getElementById("status");

function say(message, isError = false) {
  status.textContent = message;
  status.classList.toggle("error", isError);
}

function show(items) {
  list.replaceChildren(
    ...items.map((item) => {
      const entry = document.createElement("li");
      entry.textContent = item.name;
      entry.dataset.id = item.id;
      return entry;
    }),
  );
  list.setAttribute("aria-busy", "false");
}

async function load() {
  const data = await graphql(ITEMS);
  show(data.items || []);
  if (!data.items || !data.items.length) say("No items yet.");
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
  try {
    const data = await graphql(ADD_ITEM, { name });
    input.value = "";
    await load();
    say(`Added “${data.addItem.name}”.`);
  } catch (error) {
    say(error.message, true);
  } finally {
    button.disabled = false;
    input.focus();
  }
});

load().catch((error) => say(error.message, true));
