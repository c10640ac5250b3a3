// The researchers' workspace: one page that routes itself by its URL's
// fragment (#/, #/draft/ID, #/draft/ID/history, #/dataset/ID, #/event/ID,
// #/indicators).
import { initializeWasm } from "@automerge/automerge/slim";
import { Repo } from "@automerge/automerge-repo/slim";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { IndexedDBStorageAdapter } from "@automerge/automerge-repo-storage-indexeddb";
import { call, CallError } from "./api.js";
import { fill, h, say } from "./dom.js";
import { homeView } from "./home.js";
import { draftView } from "./draft.js";
import { historyView } from "./history.js";
import { datasetView, indicatorsView } from "./data.js";
import { eventView } from "./event.js";

const app = document.getElementById("app");
const top = document.getElementById("top");

/** What every view is given. */
const ctx = { me: null, repo: null, leave: null };

async function boot() {
  let me;
  try {
    me = await call("home");
  } catch (e) {
    if (e instanceof CallError && e.status === 401) {
      fill(
        app,
        h("h1", "kp workspace"),
        h(
          "p",
          "You are not logged in. Open the login link your node's operator gave you " +
            "(they make one with `kp user add NAME` or `kp user login NAME`).",
        ),
      );
      return;
    }
    fill(app, h("h1", "kp workspace"), h("p.error", e.message));
    return;
  }
  ctx.me = me;
  fill(
    top,
    h("a.brand", { href: "#/" }, "kp"),
    h("span.where", me.institution || `node ${me.node_id.slice(0, 8)}`),
    h("nav", { "aria-label": "Workspace" }, h("a", { href: "#/" }, "Home"), h("a", { href: "#/indicators" }, "Indicators")),
    h("span.me", { "data-testid": "me" }, me.person),
    h("button.link", { type: "button", onclick: logout }, "Log out"),
  );
  await initializeWasm(fetch("/assets/automerge.wasm"));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ctx.repo = new Repo({
    network: [new WebSocketClientAdapter(`${scheme}://${location.host}/sync`)],
    // The documents this person opened stay in the browser, so what they
    // write while the node is out of reach is kept until it is back.
    storage: new IndexedDBStorageAdapter(`kp-${me.node_id}-${me.person}`),
  });
  // Whatever is still held in memory goes to the browser's storage when the
  // page is left; programs that drive the page (and the browser's developer
  // tools) reach its repository and can ask for that too.
  window.addEventListener("pagehide", () => ctx.repo.flush());
  window.kp = { repo: ctx.repo, flush: () => ctx.repo.flush() };
  window.addEventListener("hashchange", route);
  await route();
}

async function logout() {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  location.href = "/";
}

/** Shows the page the address names. Each visit renders into a container of
 * its own: one that finishes after a later visit began (a slow page left for
 * a quick one before it came) writes into a container no longer on the page,
 * never over the page now shown. */
async function route() {
  if (ctx.leave) {
    ctx.leave();
    ctx.leave = null;
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = h("div");
  fill(app, view);
  fill(view, h("p", "Loading…"));
  try {
    if (parts[0] === "draft" && parts[1] && parts[2] === "history") await historyView(view, ctx, parts[1]);
    else if (parts[0] === "draft" && parts[1]) await draftView(view, ctx, parts[1]);
    else if (parts[0] === "dataset" && parts[1]) await datasetView(view, ctx, parts[1]);
    else if (parts[0] === "event" && parts[1]) await eventView(view, ctx, parts[1]);
    else if (parts[0] === "indicators") await indicatorsView(view, ctx);
    else await homeView(view, ctx);
  } catch (e) {
    if (!view.isConnected) return;
    fill(view, h("h1", "Something went wrong"), h("p.error", e.message), h("p", h("a", { href: "#/" }, "Back home")));
    say(e.message, "error");
  }
  if (view.isConnected) app.focus();
}

boot();
