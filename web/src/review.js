// The review panel of a draft: where it stands, and the steps the person may
// take (the node refuses any other).
import { call } from "./api.js";
import { fill, h, say, when } from "./dom.js";

/** A labelled choice among [value, text] pairs. */
const choice = (label, pairs) => h("select", { "aria-label": label }, pairs.map(([v, t]) => h("option", { value: v }, t)));

/** `selection()` gives the passage selected in the editor ("" for none). */
export function reviewPanel(open, ctx, id, selection = () => "") {
  const r = open.review;
  const may = open.may;
  const box = h("section.review", { "aria-labelledby": "review-h", "data-testid": "review" });
  const step = async (action, done) => {
    try {
      await call("review", { id, action });
      say(done);
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (e) {
      say(e.message, "error");
    }
  };
  const current = (r.assignments || []).filter((a) => a.round === r.round && !a.void);
  const reports = (r.reports || []).filter((x) => x.round === r.round);
  const decision = (r.decisions || []).filter((x) => x.round === r.round).at(-1);

  const parts = [
    h("h2", { id: "review-h" }, "Review"),
    h("p", r.round ? `Round ${r.round}: ${r.status}` : `Not submitted (${r.status})`),
  ];
  if (current.length) {
    parts.push(
      h("h3", "Referees"),
      h(
        "ul",
        current.map((a) =>
          h(
            "li",
            `${a.referee} (${a.institution || a.node_id.slice(0, 8)})`,
            a.due ? ` · due ${a.due}` : "",
            a.overdue ? h("span.warn", " · late") : "",
            a.report_id ? " · report in" : " · report awaited",
          ),
        ),
      ),
    );
  }
  if (reports.length) {
    parts.push(
      h("h3", "Reports"),
      reports.map((rep) =>
        h(
          "article.report",
          { "data-testid": "report" },
          h("p", h("strong", rep.recommendation), ` — ${rep.referee} (${rep.institution || rep.node_id.slice(0, 8)}), ${when(rep.submitted_at || rep.updated_at)}`),
          h("p.pre", rep.text),
          (rep.comments || []).map((c) => h("div.comment", h("blockquote", c.quote), h("p", c.body), c.anchor && c.anchor !== "intact" ? h("span.warn", `its passage ${c.anchor}`) : null)),
        ),
      ),
    );
  }
  if (decision) parts.push(h("p", `The chair decided: ${decision.decision}${decision.note ? ` — ${decision.note}` : ""}`));

  if (may.submit) parts.push(h("button", { type: "button", onclick: () => step({ submit: {} }, "Submitted for review") }, "Submit for review"));
  if (may.assign) {
    // Not a reader, not an author, not a referee of this round already.
    const authors = new Set((open.draft.authors || []).map((a) => a.name));
    const candidates = (open.space.people || []).filter(
      (p) => p.role !== "reader" && !authors.has(p.name) && !current.some((a) => a.referee === p.name && a.node_id === p.node_id),
    );
    const who = choice(
      "Referee",
      candidates.map((p) => [`${p.name}@${p.node_id}`, `${p.name}${p.title ? `, ${p.title}` : ""} (${p.role}, node ${p.node_id.slice(0, 8)})`]),
    );
    const due = h("input", { type: "date", "aria-label": "Due" });
    parts.push(
      h(
        "form.step",
        { onsubmit: (e) => (e.preventDefault(), step({ assign: { referee: who.value, due: due.value } }, "Referee assigned")) },
        h("h3", "Assign a referee"),
        who,
        due,
        h("button", { type: "submit" }, "Assign"),
      ),
    );
  }
  if (may.report) {
    const rec = choice("Recommendation", [
      ["accept", "Accept"],
      ["minor", "Minor revision"],
      ["major", "Major revision"],
      ["reject", "Reject"],
    ]);
    const text = h("textarea", { rows: 6, "aria-label": "Your report", required: true });
    const anchored = h("div.anchored", { "data-testid": "report-comments" });
    const addPassage = () => {
      const quote = selection();
      if (!quote) return say("Select a passage of the draft first", "error");
      const body = h("textarea", { rows: 2, "aria-label": `Your comment on “${quote.slice(0, 40)}”`, required: true });
      const row = h("div.comment", { dataset: { quote } }, h("blockquote", quote), body, h("button.quiet", { type: "button", onclick: () => row.remove() }, "Remove"));
      row.body = body;
      anchored.append(row);
      body.focus();
    };
    parts.push(
      h(
        "form.step",
        {
          onsubmit: (e) => {
            e.preventDefault();
            const comments = [...anchored.children].map((r) => ({ quote: r.dataset.quote, body: r.body.value }));
            step({ report: { recommendation: rec.value, text: text.value, comments } }, "Report sent");
          },
        },
        h("h3", "Your referee report"),
        h("p.muted", "On the version pinned for this round. Select a passage in the text to comment on it in the report."),
        rec,
        text,
        anchored,
        h("button.quiet", { type: "button", onclick: addPassage, "data-testid": "report-add-passage" }, "Comment on the selected passage"),
        h("button", { type: "submit" }, "Send the report"),
      ),
    );
  }
  if (may.decide) {
    const verdict = choice("Decision", [
      ["accept", "Accept"],
      ["revise", "Ask for a revision"],
      ["reject", "Reject"],
    ]);
    const note = h("textarea", { rows: 2, "aria-label": "Note to the authors" });
    parts.push(
      h(
        "form.step",
        { onsubmit: (e) => (e.preventDefault(), step({ decide: { decision: verdict.value, note: note.value } }, "Decided")) },
        h("h3", "Decide"),
        verdict,
        note,
        h("button", { type: "submit" }, "Decide"),
      ),
    );
  }
  if (may.publish) parts.push(h("button", { type: "button", onclick: () => step({ publish: {} }, "Published") }, "Publish"));
  if (may.withdraw) parts.push(h("button.quiet", { type: "button", onclick: () => confirm("Withdraw this draft from review?") && step({ withdraw: {} }, "Withdrawn") }, "Withdraw from review"));
  return fill(box, parts);
}
