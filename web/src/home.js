// Home: the person's spaces, the drafts by status, and what awaits them.
import { call } from "./api.js";
import { fill, h, when } from "./dom.js";
import { newEventForm } from "./event.js";

const TASKS = {
  report: "Write your referee report",
  decide: "All reports are in: decide",
  assign: "Assign referees",
  revise: "Revise: the chair asked for a revision",
};
const ORDER = ["draft", "in-review", "revision", "accepted", "published", "rejected", "withdrawn"];

/** A titled section of the page. */
function panel(key, title, ...content) {
  return h("section.panel", { "aria-labelledby": `${key}-h` }, h("h2", { id: `${key}-h` }, title), ...content);
}

export async function homeView(app, ctx) {
  const home = await call("home");
  ctx.me = home;
  const mine = home.spaces.filter((s) => s.my_role);
  const inbox = home.inbox.items || [];
  const bySpace = new Map(home.spaces.map((s) => [s.id, s]));
  fill(
    app,
    h("h1", `Welcome, ${home.person}`),
    panel("inbox", "Awaiting you",
      inbox.length
        ? h(
            "ul.inbox",
            inbox.map((i) =>
              h(
                "li",
                { class: i.overdue ? "late" : "" },
                h("a", { href: `#/draft/${i.draft_id}` }, i.title),
                " — ",
                TASKS[i.task] || i.task,
                i.due ? ` (due ${i.due}${i.overdue ? ", late" : ""})` : "",
                h("span.muted", ` · ${i.space_name}, round ${i.round}`),
              ),
            ),
          )
        : h("p.muted", "Nothing awaits you."),
    ),
    panel("spaces", "Your working groups",
      mine.length
        ? h(
            "ul.spaces",
            mine.map((s) =>
              h(
                "li",
                h("strong", s.name),
                s.theme_name ? h("span.tag", s.theme_name) : null,
                h("span.muted", ` · you are ${s.my_role}`),
                s.description ? h("p.muted", s.description) : null,
                s.my_role === "admin" || s.my_role === "editor" ? [newDraftForm(s), newEventForm(s, home.event_kinds)] : null,
              ),
            ),
          )
        : h(
            "p.muted",
            "No working group names you yet: ask its admin to add you (kp space add-person). " +
              "You can read every draft this node holds.",
          ),
    ),
    panel("drafts", "Drafts",
      draftsByStatus(home.drafts, home.draft_counts || {}, bySpace),
    ),
    home.datasets.length
      ? panel("data", "Datasets",
          h(
            "ul",
            home.datasets.map((d) =>
              h(
                "li",
                h("a", { href: `#/dataset/${d.id}` }, d.title),
                h("span.muted", ` · ${bySpace.get(d.space_id)?.name || "space not held here"}`),
              ),
            ),
          ),
        )
      : null,
    panel("events", "Events",
      (home.events || []).length
        ? h(
            "ul",
            { "data-testid": "events" },
            home.events.map((e) =>
              h(
                "li",
                h("a", { href: `#/event/${e.id}` }, e.title),
                h("span.muted", ` · ${e.kind} · ${e.starts} · ${e.space_name}${e.cross_regional ? " · cross-regional" : ""}`),
              ),
            ),
          )
        : h("p.muted", "No event recorded yet."),
    ),
  );
}

/** The drafts of each status, the most recent first; `counts` says how many
 * each status has in all (the node sends the most recent of each). */
function draftsByStatus(drafts, counts, bySpace) {
  if (!drafts.length) return h("p.muted", "No drafts yet.");
  const groups = new Map();
  for (const d of drafts) {
    if (!groups.has(d.status)) groups.set(d.status, []);
    groups.get(d.status).push(d);
  }
  const order = [...ORDER, ...[...groups.keys()].filter((k) => !ORDER.includes(k))];
  return order
    .filter((s) => groups.has(s))
    .map((s) =>
      h(
        "div.group",
        h("h3", `${s} (${counts[s] ?? groups.get(s).length})`),
        h(
          "ul.drafts",
          groups.get(s).map((d) =>
            h(
              "li",
              h("a", { href: `#/draft/${d.id}` }, d.title || "(untitled)"),
              h("span.muted", ` · ${d.draft_type} · ${d.space_name || bySpace.get(d.space_id)?.name || ""} · ${when(d.updated_at)}`),
            ),
          ),
        ),
        olderLine(s, groups.get(s).length, counts[s]),
      ),
    );
}

/** How many older drafts of status `s` the list leaves out, and how to see them. */
function olderLine(s, shown, total) {
  if (!(total > shown)) return null;
  const n = total - shown;
  return h("p.muted", { "data-testid": `older-${s}` }, `and ${n} older ${n === 1 ? "draft" : "drafts"}: kp draft list --status ${s} --offset ${shown}`);
}

function newDraftForm(space) {
  const title = h("input", { name: "title", required: true, maxlength: 300, "aria-label": `Title of a new draft in ${space.name}`, placeholder: "Title of a new draft" });
  const type = h(
    "select",
    { name: "type", "aria-label": "Type" },
    ["working-paper", "policy-brief", "commissioned-paper", "synthesis"].map((t) => h("option", { value: t }, t)),
  );
  const form = h(
    "form.inline",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const d = await call("new_draft", { space: space.id, title: title.value, draft_type: type.value });
        location.hash = `#/draft/${d.id}`;
      },
    },
    title,
    type,
    h("button", { type: "submit" }, "New draft"),
  );
  return form;
}
