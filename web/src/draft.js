// A draft: the live editor (CodeMirror on the draft's automerge document,
// synced through the node), who else is in it and where, its comments, its
// review and its versions.
import * as A from "@automerge/automerge/slim";
import { automergeSyncPlugin } from "@automerge/automerge-codemirror";
import { markdown } from "@codemirror/lang-markdown";
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import { Decoration, EditorView, WidgetType } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { call } from "./api.js";
import { colour, fill, h, say, when } from "./dom.js";
import { reviewPanel } from "./review.js";

const BODY = ["body"];
/** A person not heard from for this long has left the draft. */
const GONE_MS = 12_000;

export async function draftView(app, ctx, id) {
  const open = await call("open_draft", { id });
  const d = open.draft;
  const summary = d.summary;
  const may = open.may;

  const handle = await findDoc(ctx.repo, id);
  // Left before it came (another page is shown): set nothing up, or its
  // presence would go on telling the draft's others the person is there.
  if (!app.isConnected) return;
  let view = null;
  const editorBox = h("div.editor", { "data-testid": "editor" });
  const preview = h("div.preview", { hidden: true, "aria-live": "off", "data-testid": "preview" });
  const people = h("ul.people", { "data-testid": "people" });
  const comments = h("div.comments", { "data-testid": "comments" });
  const connection = h("span.conn", { "data-testid": "connection" }, "");
  const previewBtn = h("button", { type: "button", "aria-pressed": "false" }, "Preview");
  const commentBtn = may.comment
    ? h("button", { type: "button", disabled: true, "data-testid": "comment-selection" }, "Comment on selection")
    : null;

  fill(
    app,
    h(
      "div.draft-head",
      h("h1", summary.title || "(untitled)"),
      h(
        "p.muted",
        `${summary.draft_type} · ${summary.space_name} · `,
        h("span.badge", { "data-testid": "status" }, summary.status),
        d.authors.length ? ` · by ${d.authors.map((a) => (a.institution ? `${a.name} (${a.institution})` : a.name)).join(", ")}` : "",
        " · ",
        connection,
      ),
      h(
        "p.actions",
        previewBtn,
        commentBtn,
        h("a.button", { href: `#/draft/${id}/history` }, "History"),
        summary.status === "published" ? h("a.button", { href: `/published/${id}`, target: "_blank", rel: "noopener" }, "Published page") : null,
        may.edit ? null : h("span.muted", { "data-testid": "read-only" }, " You can read this draft; your role does not let you edit it."),
      ),
    ),
    h(
      "div.draft",
      h("div.text", editorBox, preview),
      h(
        "aside.side",
        { "aria-label": "About this draft" },
        h("section", h("h2", "In this draft"), people),
        h("section", h("h2", "Comments"), comments),
        reviewPanel(open, ctx, id, () => {
          const sel = view?.state.selection.main;
          return sel && !sel.empty ? view.state.sliceDoc(sel.from, sel.to) : "";
        }),
      ),
    ),
  );

  // The editor, live on the document.
  const peers = new Map();
  view = new EditorView({
    parent: editorBox,
    doc: textOf(handle.doc()),
    extensions: [
      EditorView.cspNonce.of(document.querySelector('meta[name="kp-style-nonce"]')?.content ?? ""),
      basicSetup,
      markdown(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": "Draft text" }),
      EditorState.readOnly.of(!may.edit),
      EditorView.editable.of(may.edit),
      automergeSyncPlugin({ handle, path: BODY }),
      peerCarets,
      EditorView.updateListener.of((u) => {
        if (u.selectionSet || u.docChanged) sendPresence();
        if (commentBtn && u.selectionSet) commentBtn.disabled = u.state.selection.main.empty;
      }),
    ],
  });

  // Presence: where this person is, sent to the others of the draft; theirs
  // drawn as carets with their names.
  let lastSent = 0;
  let pending = null;
  function sendPresence() {
    const now = Date.now();
    if (now - lastSent < 80) {
      pending ??= setTimeout(() => {
        pending = null;
        sendPresence();
      }, 80);
      return;
    }
    lastSent = now;
    const doc = handle.doc();
    const sel = view.state.selection.main;
    const len = textOf(doc).length;
    const at = (i) => (len === 0 ? null : A.getCursor(doc, BODY, Math.min(i, len)));
    try {
      handle.broadcast({ kp: "presence", name: ctx.me.person, head: at(sel.head), anchor: at(sel.anchor) });
    } catch {
      // Not connected: the others learn where we are when we are back.
    }
  }
  const heartbeat = setInterval(sendPresence, 4000);
  const onEphemeral = ({ message, senderId }) => {
    if (!message || message.kp !== "presence") return;
    // The node names the sender (`person@node/peer`): that, not what the
    // message says, is who it is.
    const name = String(senderId).split("@")[0]
    peers.set(senderId, { name, head: message.head, seen: Date.now() });
    onChange();
  };
  handle.on("ephemeral-message", onEphemeral);
  const sweep = setInterval(() => onChange(), 3000);

  function drawPeers() {
    const now = Date.now();
    for (const [k, p] of peers) if (now - p.seen > GONE_MS) peers.delete(k);
    const doc = handle.doc();
    const carets = [];
    for (const p of peers.values()) {
      if (typeof p.head !== "string") continue;
      try {
        const pos = A.getCursorPosition(doc, BODY, p.head);
        if (pos <= view.state.doc.length) carets.push({ pos, name: p.name });
      } catch {
        // A cursor from a change we do not have yet: drawn once it arrives.
      }
    }
    view.dispatch({ effects: setCarets.of(carets) });
    fill(
      people,
      h("li", h("span.dot", { "data-colour": ctx.me.person }), `${ctx.me.person} (you)`),
      [...new Map([...peers.values()].map((p) => [p.name, p])).values()].map((p) => h("li", h("span.dot", { "data-colour": p.name }), p.name)),
    );
    for (const dot of people.querySelectorAll(".dot")) dot.style.background = colour(dot.dataset.colour);
  }
  // A change may arrive inside the editor's own update (its edit made it):
  // carets are redrawn after it.
  let drawing = false;
  const onChange = () => {
    if (drawing) return;
    drawing = true;
    setTimeout(() => {
      drawing = false;
      drawPeers();
    }, 0);
  };
  handle.on("change", onChange);
  drawPeers();

  // Preview, rendered by the node.
  let previewTimer = null;
  async function renderPreview() {
    const r = await call("preview", { text: view.state.doc.toString(), id });
    preview.replaceChildren();
    preview.append(document.createRange().createContextualFragment(r.html));
  }
  previewBtn.addEventListener("click", async () => {
    const on = preview.hidden;
    preview.hidden = !on;
    editorBox.hidden = on;
    previewBtn.setAttribute("aria-pressed", String(on));
    previewBtn.textContent = on ? "Edit" : "Preview";
    if (on) await renderPreview();
  });
  handle.on("change", () => {
    if (!preview.hidden) {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(renderPreview, 300);
    }
  });

  // Comments.
  async function reloadComments() {
    const r = await call("list_comments", { id });
    drawComments(r.comments || []);
  }
  function drawComments(list) {
    fill(comments, list.length ? list.map((c) => commentCard(c)) : h("p.muted", "No comments yet."));
  }
  function commentCard(c) {
    const status =
      c.anchor === "deleted"
        ? h("span.warn", "its passage was deleted")
        : c.anchor === "changed"
          ? h("span.warn", "its passage changed")
          : null;
    const card = h(
      "article.comment",
      { class: c.resolved ? "comment resolved" : "comment", "data-testid": "comment" },
      h("blockquote", { title: "The passage as it was" }, c.quote),
      c.anchor === "changed" ? h("p.muted", "Now: ", h("q", c.passage)) : null,
      status,
      h("p", c.body),
      h("p.muted", `${c.author} · ${when(c.created_at)}${c.resolved ? " · resolved" : ""}`),
      (c.replies || []).map((r) => h("div.reply", h("p", r.body), h("p.muted", `${r.author} · ${when(r.created_at)}`))),
    );
    card.addEventListener("click", (e) => {
      if (e.target.closest("form,button")) return;
      const text = view.state.doc.toString();
      const at = c.passage ? text.indexOf(c.passage) : -1;
      if (at >= 0) view.dispatch({ selection: { anchor: at, head: at + c.passage.length }, scrollIntoView: true });
    });
    if (may.comment && !c.resolved) {
      const reply = h("textarea", { rows: 2, "aria-label": "Reply", maxlength: 20000 });
      card.append(
        h(
          "form.reply-form",
          {
            onsubmit: async (e) => {
              e.preventDefault();
              if (!reply.value.trim()) return;
              await act(() => call("reply_comment", { id, comment: c.id, body: reply.value }));
            },
          },
          reply,
          h("button", { type: "submit" }, "Reply"),
          h("button", { type: "button", onclick: () => act(() => call("resolve_comment", { id, comment: c.id })) }, "Resolve"),
        ),
      );
    }
    return card;
  }
  async function act(f) {
    try {
      await f();
      await reloadComments();
    } catch (e) {
      say(e.message, "error");
    }
  }
  if (commentBtn) {
    commentBtn.addEventListener("click", () => {
      const sel = view.state.selection.main;
      if (sel.empty) return;
      const quote = view.state.sliceDoc(sel.from, sel.to);
      const body = h("textarea", { rows: 3, required: true, "aria-label": "Your comment", maxlength: 20000 });
      const form = h(
        "form.new-comment",
        {
          onsubmit: async (e) => {
            e.preventDefault();
            await act(() => call("add_comment", { id, quote, body: body.value, near: sel.from }));
          },
        },
        h("blockquote", quote),
        body,
        h("button", { type: "submit" }, "Comment"),
        h("button", { type: "button", onclick: () => form.remove() }, "Cancel"),
      );
      comments.prepend(form);
      body.focus();
    });
  }
  drawComments(open.comments || []);

  // Whether the node is reachable: the browser's own word that it has no
  // network counts at once (a socket can look open for minutes after the
  // network went).
  const showConn = () => {
    const network = navigator.onLine;
    const online = network && ctx.repo.peers.length > 0;
    connection.textContent = online
      ? "connected"
      : network
        ? "offline: your edits are kept here and sent when the node is back"
        : "offline (no network): your edits are kept here and sent when you are back online";
    connection.className = online ? "conn ok" : "conn off";
  };
  ctx.repo.networkSubsystem.on("peer", showConn);
  ctx.repo.networkSubsystem.on("peer-disconnected", showConn);
  addEventListener("online", showConn);
  addEventListener("offline", showConn);
  showConn();

  ctx.leave = () => {
    clearInterval(heartbeat);
    clearInterval(sweep);
    handle.off("ephemeral-message", onEphemeral);
    handle.off("change", onChange);
    ctx.repo.networkSubsystem.off("peer", showConn);
    ctx.repo.networkSubsystem.off("peer-disconnected", showConn);
    removeEventListener("online", showConn);
    removeEventListener("offline", showConn);
    view.destroy();
  };
}

function textOf(doc) {
  const t = doc?.body;
  return typeof t === "string" ? t : t ? String(t) : "";
}

/** The draft's document: from this browser's copy at once when it has one,
 * else from the node. */
async function findDoc(repo, id) {
  const handle = await repo.find(`automerge:${id}`);
  await handle.whenReady();
  return handle;
}

// Other people's carets.
const setCarets = StateEffect.define();
class Caret extends WidgetType {
  constructor(name) {
    super();
    this.name = name;
  }
  eq(o) {
    return o.name === this.name;
  }
  toDOM() {
    const c = colour(this.name);
    const el = document.createElement("span");
    el.className = "caret";
    el.style.borderColor = c;
    el.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "caret-name";
    label.style.background = c;
    label.textContent = this.name;
    el.appendChild(label);
    return el;
  }
}
const peerCarets = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setCarets)) {
        deco = Decoration.set(
          e.value
            .filter((c) => c.pos <= tr.state.doc.length)
            .sort((a, b) => a.pos - b.pos)
            .map((c) => Decoration.widget({ widget: new Caret(c.name), side: 1 }).range(c.pos)),
        );
      }
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});
