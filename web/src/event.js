// An event: when and where, who took part (and from which regions), the
// drafts discussed, the minutes; changed by those whose role allows it.
import { call } from "./api.js";
import { fill, h, say } from "./dom.js";

export async function eventView(app, ctx, id) {
  const { event: e, drafts, kinds, income_groups: groups, may } = await call("open_event", { id });
  const edit = async (change) => {
    try {
      await call("edit_event", { id, ...change });
      say("Saved");
      await eventView(app, ctx, id);
    } catch (err) {
      say(err.message, "error");
    }
  };
  const where = [e.place, e.online ? "online" : ""].filter(Boolean).join(" and ");
  const days = e.ends && e.ends !== e.starts ? `${e.starts} to ${e.ends}` : e.starts;
  const regions = new Set(e.participants.map((p) => p.region).filter(Boolean));
  fill(
    app,
    h("h1", e.title),
    h("p.muted", `${e.kind} · ${days}${where ? ` · ${where}` : ""} · ${e.space_name}`),
    h(
      "p",
      { "data-testid": "regions" },
      regions.size > 1 ? `Cross-regional: participants from ${regions.size} regions.` : `Participants from ${regions.size} region${regions.size === 1 ? "" : "s"}.`,
    ),
    may.edit ? null : h("p.muted", { "data-testid": "read-only" }, "You may read this event; your role in its working group does not let you change it."),
    may.edit ? detailsForm(e, kinds, edit) : null,
    h(
      "section.panel",
      { "aria-labelledby": "who-h" },
      h("h2", { id: "who-h" }, "Institutions"),
      e.participants.length
        ? h(
            "table",
            { "data-testid": "participants" },
            h("thead", h("tr", ["Institution", "Region", "Income group", "Role", may.edit ? "Change" : null].filter(Boolean).map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              e.participants.map((p) =>
                h(
                  "tr",
                  h("td", p.institution),
                  h("td", p.region),
                  h("td", p.income_group),
                  h("td", e.organisers.includes(p.institution) ? "organiser" : "participant"),
                  may.edit ? h("td", h("button.link", { type: "button", onclick: () => edit({ remove_institutions: [p.institution] }) }, `Remove ${p.institution}`)) : null,
                ),
              ),
            ),
          )
        : h("p.muted", "No institution yet."),
      may.edit ? participantForm(groups, edit) : null,
    ),
    h(
      "section.panel",
      { "aria-labelledby": "discussed-h" },
      h("h2", { id: "discussed-h" }, "Discussed"),
      e.discussed.length
        ? h(
            "ul",
            { "data-testid": "discussed" },
            e.discussed.map((d) =>
              h(
                "li",
                h("a", { href: `#/draft/${d.id}` }, d.title || d.id),
                h("span.muted", ` · ${d.status || "not on this node"}`),
                may.edit ? [" ", h("button.link", { type: "button", onclick: () => edit({ remove_discussed: [d.id] }) }, `Not discussed: ${d.title || d.id}`)] : null,
              ),
            ),
          )
        : h("p.muted", "No draft listed yet."),
      may.edit ? discussedForm(drafts.filter((d) => !e.discussed.some((x) => x.id === d.id)), edit) : null,
    ),
    h("section.panel", { "aria-labelledby": "minutes-h" }, h("h2", { id: "minutes-h" }, "Minutes"), minutes(e, may.edit, edit)),
  );
}

function detailsForm(e, kinds, edit) {
  const title = h("input", { value: e.title, required: true, maxlength: 300, "aria-label": "Title" });
  const kind = h("select", { "aria-label": "Kind" }, kinds.map((k) => h("option", { value: k, selected: k === e.kind }, k)));
  const starts = h("input", { type: "date", value: e.starts, required: true, "aria-label": "First day" });
  const ends = h("input", { type: "date", value: e.ends, "aria-label": "Last day" });
  const place = h("input", { value: e.place, maxlength: 300, "aria-label": "Place" });
  const online = h("input", { type: "checkbox", id: "online", checked: e.online });
  return h(
    "form.inline",
    {
      "aria-label": "The event",
      onsubmit: (ev) => {
        ev.preventDefault();
        // Only what was changed here: what others changed meanwhile stays.
        const now = { title: title.value, kind: kind.value, starts: starts.value, ends: ends.value || starts.value, place: place.value, online: online.checked };
        const changed = Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== (k === "ends" ? e.ends || e.starts : e[k])));
        if (Object.keys(changed).length) edit(changed);
        else say("Nothing changed");
      },
    },
    title,
    kind,
    starts,
    ends,
    place,
    h("label", { for: "online" }, online, " online"),
    h("button", { type: "submit" }, "Save"),
  );
}

function participantForm(groups, edit) {
  const name = h("input", { required: true, maxlength: 300, "aria-label": "Institution", placeholder: "Institution" });
  const region = h("input", { maxlength: 300, "aria-label": "Region", placeholder: "Region (such as South Asia)" });
  const income = h("select", { "aria-label": "Income group" }, h("option", { value: "" }, "income group: not given"), groups.map((g) => h("option", { value: g }, g)));
  const organiser = h("input", { type: "checkbox", id: "organiser" });
  return h(
    "form.inline",
    {
      "aria-label": "Add an institution",
      onsubmit: (ev) => {
        ev.preventDefault();
        const p = { institution: name.value, region: region.value, income_group: income.value };
        edit(organiser.checked ? { add_organisers: [p] } : { add_participants: [p] });
      },
    },
    name,
    region,
    income,
    h("label", { for: "organiser" }, organiser, " organiser"),
    h("button", { type: "submit" }, "Add"),
  );
}

function discussedForm(drafts, edit) {
  if (!drafts.length) return null;
  const pick = h("select", { "aria-label": "A draft of the working group" }, drafts.map((d) => h("option", { value: d.id }, `${d.title} (${d.status})`)));
  return h(
    "form.inline",
    { "aria-label": "Add a draft discussed", onsubmit: (ev) => (ev.preventDefault(), edit({ add_discussed: [pick.value] })) },
    pick,
    h("button", { type: "submit" }, "Add"),
  );
}

function minutes(e, mayEdit, edit) {
  if (!mayEdit) return e.minutes ? h("pre.minutes", { "data-testid": "minutes" }, e.minutes) : h("p.muted", "No minutes yet.");
  const text = h("textarea", { rows: 10, "aria-label": "Minutes (Markdown)", "data-testid": "minutes" });
  text.value = e.minutes;
  return h(
    "form.stack",
    // Made from the minutes as shown: what others wrote meanwhile is merged in.
    { onsubmit: (ev) => (ev.preventDefault(), edit({ minutes: text.value, base_heads: e.heads })) },
    text,
    h("button", { type: "submit" }, "Save the minutes"),
  );
}

/** The form that records a new event in `space`. */
export function newEventForm(space, kinds) {
  const title = h("input", { required: true, maxlength: 300, "aria-label": `Title of a new event of ${space.name}`, placeholder: "Title of a new event" });
  const kind = h("select", { "aria-label": "Kind of event" }, kinds.map((k) => h("option", { value: k }, k)));
  const starts = h("input", { type: "date", required: true, "aria-label": "First day of the event" });
  return h(
    "form.inline",
    {
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const e = await call("new_event", { space: space.id, title: title.value, kind: kind.value, starts: starts.value });
          location.hash = `#/event/${e.id}`;
        } catch (err) {
          say(err.message, "error");
        }
      },
    },
    title,
    kind,
    starts,
    h("button", { type: "submit" }, "New event"),
  );
}
