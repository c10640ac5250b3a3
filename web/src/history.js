// A draft's history: named versions, a word-level diff between two, and who
// wrote what, with each change's signature checked.
import { call } from "./api.js";
import { fill, h, say, when } from "./dom.js";

export async function historyView(app, ctx, id) {
  const open = await call("open_draft", { id });
  const versions = open.draft.versions || [];
  const labels = ["current", ...versions.map((v) => v.label)];
  const pick = (name, value) =>
    h("select", { "aria-label": name }, labels.map((l) => h("option", { value: l, selected: l === value }, l)));
  const from = pick("From version", versions.at(-1)?.label || "current");
  const to = pick("To version", "current");
  const diff = h("div.diff", { "data-testid": "diff" });
  const blame = h("div.blame", { "data-testid": "blame" });
  const showDiff = async () => {
    const r = await call("diff_draft", { id, from: from.value, to: to.value });
    fill(
      diff,
      (r.hunks || []).length
        ? r.hunks.map((x) => (x.tag === "insert" ? h("ins", x.text) : x.tag === "delete" ? h("del", x.text) : h("span", x.text)))
        : h("p.muted", "No difference."),
    );
  };
  const label = h("input", { "aria-label": "Version label", placeholder: "sent-to-chair", required: true, maxlength: 100 });
  fill(
    app,
    h("h1", `History: ${open.draft.summary.title}`),
    h("p", h("a", { href: `#/draft/${id}` }, "Back to the draft")),
    h(
      "section.panel",
      h("h2", "Versions"),
      versions.length
        ? h("ul", versions.map((v) => h("li", h("strong", v.label), ` · ${v.author} · ${when(v.created_at)}`, v.note ? h("span.muted", ` · ${v.note}`) : "")))
        : h("p.muted", "No named version yet."),
      open.may.tag
        ? h(
            "form.inline",
            {
              onsubmit: async (e) => {
                e.preventDefault();
                try {
                  await call("tag_version", { id, label: label.value });
                  say(`Version ${label.value} named`);
                  await historyView(app, ctx, id);
                } catch (err) {
                  say(err.message, "error");
                }
              },
            },
            label,
            h("button", { type: "submit" }, "Name this version"),
          )
        : null,
    ),
    h(
      "section.panel",
      h("h2", "Compare"),
      h("form.inline", { onsubmit: (e) => (e.preventDefault(), showDiff()) }, from, " → ", to, h("button", { type: "submit" }, "Show the changes")),
      diff,
    ),
    h("section.panel", h("h2", "Who wrote what"), blame),
  );
  await showDiff();
  const log = await call("blame", { id, limit: 200 });
  fill(
    blame,
    h(
      "table",
      h("thead", h("tr", ["When", "Who", "Node", "What", "Signature"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        (log.changes || []).map((c) =>
          h(
            "tr",
            h("td", when(c.time)),
            h("td", c.author),
            h("td", c.institution || (c.node_id || "").slice(0, 8)),
            h("td", c.message || ""),
            h("td", { class: c.signature === "verified" ? "ok" : "warn" }, c.signature || ""),
          ),
        ),
      ),
    ),
  );
}
