// The web workspace in a real browser (Debian's headless Chromium): people
// co-editing, offline work, anchored comments, the review story across two
// nodes, what a reader may do, escaping, and accessibility.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Node, draft, until } from "../kpd.js"
import { launch, personAt, shot, editorText, axeViolations } from "../browser.js"

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

/** Runs `f` with running nodes of these names, and cleans them up. */
async function withNodes(names, f) {
  const nodes = []
  try {
    for (const n of names) nodes.push(await new Node(n).start())
    return await f(...nodes)
  } finally {
    for (const n of nodes) await n.cleanup()
  }
}

const BODY = "# Sending money home\n\nRemittances to low- and middle-income countries grew.\n"

/** Opens draft `id` in `page` and waits for its editor. */
async function openDraft(page, node, id) {
  await page.goto(`${node.url}/#/draft/${id}`)
  await page.locator(".cm-content").waitFor()
}

/** Types `text` at the end of the editor's text (at its start with `start`). */
async function typeAt(page, text, start = false) {
  await page.locator(".cm-content").click()
  await page.keyboard.press(start ? "Control+Home" : "Control+End")
  await page.keyboard.type(text)
}

/** Waits until the editor of each of `pages` holds a text that passes
 * `check`; the error names the text it held. */
async function untilEditors(pages, what, check) {
  for (const page of pages) {
    let last
    await until(what, async () => check((last = await editorText(page)))).catch((e) => {
      throw new Error(`${e.message}; the editor holds ${JSON.stringify(last)}`)
    })
  }
}

/** A node with the draft; ana and ben (with `benRole`) in it, each in
 * their browser on the draft's page. */
async function twoOnADraft(a, benRole) {
  const d = draft(a, BODY)
  a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
  a.kp("space", "add-person", "Remittances WG", "ben", "--role", benRole)
  const ana = await personAt(browser, a, "ana")
  const ben = await personAt(browser, a, "ben")
  await openDraft(ana, a, d.id)
  await openDraft(ben, a, d.id)
  return { d, ana, ben }
}

test("two people co-edit one draft and see each other's words and cursors", () =>
  withNodes(["Institute A"], async (a) => {
    const { d, ana, ben } = await twoOnADraft(a, "editor")
    await typeAt(ana, "Ana adds a sentence.")
    await typeAt(ben, "Ben: ", true)
    await untilEditors([ana, ben], "both people's words in each editor", (t) =>
      t.includes("Ana adds a sentence.") && t.startsWith("Ben: # Sending"))
    // Each sees the other in the draft, and their caret with their name.
    await until("ben's caret at ana's", async () => (await ana.locator(".caret-name").allInnerTexts()).includes("ben"))
    await until("ana's caret at ben's", async () => (await ben.locator(".caret-name").allInnerTexts()).includes("ana"))
    assert.match(await ana.getByTestId("people").innerText(), /ben/)
    await shot(ana, "draft-co-editing")
    // Ben's browser loses its network: his page says so at once, he writes
    // on, Ana too, and back online both keep their words.
    await ben.context().setOffline(true)
    await until("ben's page to say it has no network", async () =>
      /offline \(no network\)/.test(await ben.getByTestId("connection").innerText()))
    await typeAt(ben, "Ben, offline.")
    await typeAt(ana, " Ana, meanwhile.")
    await ben.context().setOffline(false)
    await until("ben connected again", async () => (await ben.getByTestId("connection").innerText()) === "connected")
    await untilEditors([ana, ben], "the words of both, written apart, in each editor", (t) =>
      t.includes("Ben, offline.") && t.includes(" Ana, meanwhile."))
    // The node holds them all, and says who wrote them.
    await until("the node to hold every edit", () => {
      const body = a.kp("draft", "show", d.id).body
      return (
        body.includes("Ana adds a sentence.") &&
        body.startsWith("Ben: ") &&
        body.includes("Ben, offline.") &&
        body.includes(" Ana, meanwhile.")
      )
    })
    const blame = a.kp("doc", "blame", d.id).changes.map((c) => c.author)
    assert.ok(blame.includes("ana") && blame.includes("ben"), blame.join(","))
    assert.deepEqual([...ana.errors, ...ben.errors], [])
  }))

test("people on partner nodes see each other; one offline keeps typing, and back online both texts merge with no lost word", () =>
  withNodes(["Institute A", "Institute B"], async (a, b) => {
    const d = draft(a, BODY)
    a.kp("space", "add-member", "Remittances WG", b.id, "--role", "editor", "--institution", "Institute B")
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    a.kp("space", "add-person", "Remittances WG", "bo", "--role", "editor", "--node", b.id)
    await a.link(b)
    await until("the draft at B", () => b.kp("draft", "show", d.id))
    const ana = await personAt(browser, a, "ana")
    const bo = await personAt(browser, b, "bo")
    await openDraft(ana, a, d.id)
    await openDraft(bo, b, d.id)
    await until("ana connected", async () => (await ana.getByTestId("connection").innerText()) === "connected")
    // Each sees the other, across the two nodes.
    await until("bo's caret at ana's", async () => (await ana.locator(".caret-name").allInnerTexts()).includes("bo"))
    await until("ana's caret at bo's", async () => (await bo.locator(".caret-name").allInnerTexts()).includes("ana"))
    assert.match(await bo.getByTestId("people").innerText(), /ana/)
    await shot(bo, "draft-partner")

    // Ana's node goes away: she is offline, and writes on.
    const port = new URL(a.url).port
    await a.stop()
    await until("ana's page to see it is offline", async () => /offline/.test(await ana.getByTestId("connection").innerText()))
    await typeAt(ana, "Written on the train.")
    await typeAt(bo, "Written at B. ", true)
    await shot(ana, "draft-offline")
    // She closes the page while still offline; her words stay in the browser.
    await ana.evaluate(() => window.kp.flush())
    await ana.close()

    // Back on the same address; she opens the draft again.
    a.setWebPort(port)
    await a.start()
    const again = await ana.context().newPage()
    await openDraft(again, a, d.id)
    for (const [who, page] of [["ana", again], ["bo", bo]]) {
      await until(`both texts in ${who}'s editor`, async () => {
        const t = await editorText(page)
        return t.includes("Written on the train.") && t.startsWith("Written at B. ")
      }, 30000)
    }
    for (const n of [a, b]) {
      await until("both texts at both nodes", () => {
        const body = n.kp("draft", "show", d.id).body
        return body.includes("Written on the train.") && body.includes("Written at B.")
      }, 30000)
    }
  }))

/** Selects `text` (its first occurrence) in the page's editor. */
async function select(page, text) {
  const found = await page.locator(".cm-content").evaluate((el, t) => {
    for (const line of el.querySelectorAll(".cm-line")) {
      for (const node of line.childNodes) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT)
        let n
        while ((n = walker.nextNode())) {
          const i = n.data.indexOf(t)
          if (i >= 0) {
            const r = document.createRange()
            r.setStart(n, i)
            r.setEnd(n, i + t.length)
            const s = getSelection()
            s.removeAllRanges()
            s.addRange(r)
            return true
          }
        }
        break
      }
    }
    return false
  }, text)
  assert.ok(found, `"${text}" is not in the editor`)
  // The editor reads the browser's selection when it changes.
  await page.waitForFunction((t) => getSelection().toString() === t, text)
}

test("a comment anchored to a passage survives edits around it, and says when the passage changed", () =>
  withNodes(["Institute A"], async (a) => {
    const { d, ana, ben } = await twoOnADraft(a, "reviewer")
    // Ben, a reviewer, comments on a passage.
    await ben.locator(".cm-content").focus()
    await select(ben, "middle-income")
    await until("the comment button", () => ben.getByTestId("comment-selection").isEnabled())
    await ben.getByTestId("comment-selection").click()
    await ben.getByLabel("Your comment").fill("Which countries count as middle-income?")
    await ben.getByRole("button", { name: "Comment", exact: true }).click()
    await ben.getByTestId("comment").first().waitFor()
    // Ana writes before and after the passage.
    await typeAt(ana, "Summary first. ", true)
    await typeAt(ana, "A closing line.")
    await until("ana's edits at the node", () => a.kp("draft", "show", d.id).body.includes("A closing line."))
    let [c] = a.kp("comment", "list", d.id).comments
    assert.equal(c.anchor, "intact")
    assert.equal(c.passage, "middle-income")
    // The page shows it beside the text, and says so once the passage changes.
    await ana.reload()
    await ana.locator(".cm-content").waitFor()
    assert.match(await ana.getByTestId("comments").innerText(), /Which countries count as middle-income\?/)
    await shot(ana, "draft-comments")
    await ana.locator(".cm-content").focus()
    await select(ana, "middle")
    await ana.keyboard.type("upper-middle")
    await until("the changed passage", () => a.kp("comment", "list", d.id).comments[0].anchor === "changed")
    await ana.reload()
    await ana.getByTestId("comment").first().waitFor()
    assert.match(await ana.getByTestId("comments").innerText(), /its passage changed/)
    assert.deepEqual([...ana.errors, ...ben.errors], [])
  }))

test("the review story in the browser: author and chair on one node, the referee on a partner", () =>
  withNodes(["Institute A", "Institute B"], async (a, b) => {
    const d = draft(a, BODY, "Sending money home", "ana")
    a.kp("space", "add-member", "Remittances WG", b.id, "--role", "reviewer", "--institution", "Institute B")
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    a.kp("space", "add-person", "Remittances WG", "carla", "--role", "admin", "--title", "chair")
    a.kp("space", "add-person", "Remittances WG", "raj", "--role", "reviewer", "--node", b.id)
    await a.link(b)
    const ana = await personAt(browser, a, "ana")
    const carla = await personAt(browser, a, "carla")
    const raj = await personAt(browser, b, "raj")

    // The author submits.
    await openDraft(ana, a, d.id)
    await ana.getByRole("button", { name: "Submit for review" }).click()
    await until("in review", async () => (await ana.getByTestId("status").innerText()) === "in-review").catch(async (e) => {
      throw new Error(`${e.message}; the page says ${await ana.locator("#status").innerText()}`)
    })

    // The chair assigns the referee at the partner.
    await openDraft(carla, a, d.id)
    await carla.getByLabel("Referee").selectOption({ label: new RegExp(`^raj`) }).catch(async () => {
      const v = `raj@${b.id}`
      await carla.getByLabel("Referee").selectOption(v)
    })
    await carla.getByRole("button", { name: "Assign" }).click()
    await until("the assignment", async () => /raj/.test(await carla.getByTestId("review").innerText()))

    // The referee finds it in his inbox at B, and reports with an anchored comment.
    await until("the assignment at B", () =>
      b.kp("review", "list", d.id).assignments.some((x) => x.referee === "raj"),
    30000)
    await raj.goto(`${b.url}/#/`)
    await raj.reload()
    await until("raj's inbox", async () => /Write your referee report/.test(await raj.locator("main").innerText()))
    await shot(raj, "home-referee")
    await raj.getByRole("link", { name: "Sending money home" }).first().click()
    await raj.locator(".cm-content").waitFor()
    await raj.getByLabel("Recommendation").selectOption("minor")
    await raj.getByLabel("Your report").fill("A clear brief. Name the sources of the growth figure.")
    await raj.locator(".cm-content").focus()
    await select(raj, "countries grew")
    await raj.getByTestId("report-add-passage").click()
    await raj.getByLabel(/Your comment on/).fill("Grew by how much, and since when?")
    await shot(raj, "draft-report")
    await raj.getByRole("button", { name: "Send the report" }).click()
    await until("the report sent", async () => /report in/.test(await raj.getByTestId("review").innerText()))

    // The chair sees it (with its anchored comment), decides and publishes.
    await until("the report at A", () => a.kp("review", "list", d.id).reports.length === 1, 30000)
    await carla.reload()
    await carla.getByTestId("report").waitFor()
    const report = await carla.getByTestId("report").innerText()
    assert.match(report, /minor/)
    // Its anchored comment is beside the passage it is about.
    assert.match(await carla.getByTestId("comments").innerText(), /countries grew\s+Grew by how much, and since when\?/)
    await shot(carla, "draft-chair")
    await carla.getByLabel("Decision").selectOption("accept")
    await carla.getByRole("button", { name: "Decide" }).click()
    await until("accepted", async () => (await carla.getByTestId("status").innerText()) === "accepted")
    await carla.getByRole("button", { name: "Publish" }).click()
    await until("published", async () => (await carla.getByTestId("status").innerText()) === "published")
    const [published] = await Promise.all([
      carla.context().waitForEvent("page"),
      carla.getByRole("link", { name: "Published page" }).click(),
    ])
    await published.waitForLoadState()
    assert.match(await published.locator("body").innerText(), /Sending money home/)
    await shot(published, "published")
    // Every step is the node's record, in the people's names.
    const r = a.kp("review", "list", d.id)
    assert.equal(r.status, "published")
    assert.equal(r.submissions[0].by, "ana")
    assert.equal(r.assignments[0].by, "carla")
    assert.equal(r.decisions[0].by, "carla")
    assert.deepEqual([...ana.errors, ...carla.errors, ...raj.errors], [])
  }))

test("the home page lists the most recent drafts of a status, with how many there are and how to see the rest", () =>
  withNodes(["Institute A"], async (a) => {
    draft(a, BODY, "Paper 0")
    for (let i = 1; i < 53; i++) a.kp("draft", "new", "--space", "Remittances WG", "--title", `Paper ${i}`)
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    const ana = await personAt(browser, a, "ana")
    await ana.goto(`${a.url}/#/`)
    const older = ana.getByTestId("older-draft")
    await older.waitFor()
    assert.equal(await older.innerText(), "and 3 older drafts: kp draft list --status draft --offset 50")
    const group = ana.locator("div.group").filter({ has: older })
    assert.equal(await group.locator("h3").innerText(), "draft (53)")
    assert.equal(await group.locator("ul.drafts > li").count(), 50)
    // The ones shown are the most recent, as `kp draft list` has them.
    const newest = a.kp("draft", "list", "--limit", "50").drafts.map((d) => d.title)
    const shown = await group.locator("ul.drafts > li > a").allInnerTexts()
    assert.deepEqual(shown, newest)
    assert.deepEqual(ana.errors, [])
  }))

/** Holds the workspace call `name` back, visits `url` (whose page makes that
 * call), goes on to the indicators before it answers, then lets it answer. */
async function leftBeforeItCame(page, name, url, node) {
  let released
  const held = new Promise((r) => (released = r))
  await page.route(`**/api/call/${name}`, async (route) => {
    await held
    await route.continue()
  })
  await page.goto(url)
  await page.goto(`${node.url}/#/indicators`)
  await page.getByRole("heading", { name: "The partnership's indicators" }).waitFor()
  const answered = page.waitForResponse(`**/api/call/${name}`)
  released()
  await answered
}

test("a page left before it came never replaces the page shown after it", () =>
  withNodes(["Institute A"], async (a) => {
    draft(a, BODY)
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    const ana = await personAt(browser, a, "ana")
    await ana.getByRole("heading", { name: "Welcome, ana" }).waitFor()
    await ana.goto(`${a.url}/#/indicators`)
    await ana.getByRole("heading", { name: "The partnership's indicators" }).waitFor()
    // Home is slow to come; the person goes on to the indicators before it does.
    await leftBeforeItCame(ana, "home", `${a.url}/#/`, a)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(await ana.locator("main h1").innerText(), "The partnership's indicators")
    assert.deepEqual(ana.errors, [])
  }))

test("a draft left before it came leaves no presence behind: the others never see the person in it", () =>
  withNodes(["Institute A"], async (a) => {
    const d = draft(a, BODY)
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    a.kp("space", "add-person", "Remittances WG", "ben", "--role", "editor")
    const ben = await personAt(browser, a, "ben")
    await openDraft(ben, a, d.id)
    const ana = await personAt(browser, a, "ana")
    await ana.getByRole("heading", { name: "Welcome, ana" }).waitFor()
    // The draft is slow to open; Ana goes on to the indicators before it does.
    await leftBeforeItCame(ana, "open_draft", `${a.url}/#/draft/${d.id}`, a)
    // Longer than a presence heartbeat (4 s): Ben never sees Ana in the draft.
    await new Promise((r) => setTimeout(r, 5000))
    assert.doesNotMatch(await ben.getByTestId("people").innerText(), /ana/)
    assert.equal(await ana.locator("main h1").innerText(), "The partnership's indicators")
    assert.deepEqual([...ana.errors, ...ben.errors], [])
  }))

test("a reader sees no edit control, and a forged request from their session is refused", () =>
  withNodes(["Institute A"], async (a) => {
    const d = draft(a, BODY)
    a.kp("space", "add-person", "Remittances WG", "rita", "--role", "reader")
    const rita = await personAt(browser, a, "rita")
    await openDraft(rita, a, d.id)
    assert.equal(await rita.locator(".cm-content").getAttribute("contenteditable"), "false")
    assert.equal(await rita.getByTestId("comment-selection").count(), 0)
    assert.equal(await rita.getByRole("button", { name: "Submit for review" }).count(), 0)
    await rita.getByTestId("read-only").waitFor()
    await shot(rita, "draft-reader")
    const forged = await rita.evaluate(async (id) => {
      const send = (method, body, type = "application/json") =>
        fetch(`/api/call/${method}`, { method: "POST", headers: { "content-type": type }, body: JSON.stringify(body) }).then(
          async (r) => [r.status, (await r.json()).error],
        )
      return {
        comment: await send("add_comment", { id, quote: "grew", body: "forged" }),
        tag: await send("tag_version", { id, label: "forged" }),
        submit: await send("review", { id, action: { submit: {} } }),
        asSomeoneElse: await send("add_comment", { id, quote: "grew", body: "forged", author: "ana" }),
        form: await send("add_comment", { id, quote: "grew", body: "forged" }, "text/plain"),
        unknown: await send("remove_user", { name: "ana" }),
      }
    }, d.id)
    assert.equal(forged.comment[0], 403, forged.comment[1])
    assert.match(forged.comment[1], /rita is a reader of this space/)
    assert.equal(forged.tag[0], 403)
    assert.equal(forged.submit[0], 403)
    assert.equal(forged.asSomeoneElse[0], 403)
    assert.equal(forged.form[0], 415)
    assert.equal(forged.unknown[0], 404)
    // Nothing changed.
    assert.equal(a.kp("comment", "list", d.id).comments.length, 0)
    assert.equal(a.kp("review", "list", d.id).status, "draft")
    assert.equal(a.kp("draft", "show", d.id).versions.length, 0)
  }))

test("an event is recorded and changed in the page, counted as cross-regional, and only read by a reader", () =>
  withNodes(["Institute A"], async (a) => {
    const d = draft(a, BODY)
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    a.kp("space", "add-person", "Remittances WG", "rita", "--role", "reader")
    const ana = await personAt(browser, a, "ana")
    await ana.getByLabel("Title of a new event of Remittances WG").fill("Remittance costs in East Africa")
    await ana.getByLabel("Kind of event").selectOption("workshop")
    await ana.getByLabel("First day of the event").fill("2026-03-02")
    await ana.getByRole("button", { name: "New event" }).click()
    await ana.getByRole("heading", { name: "Remittance costs in East Africa" }).waitFor()
    const id = decodeURIComponent(new URL(ana.url()).hash.split("/")[2])
    const add = async (name, region, organiser = false) => {
      await ana.getByLabel("Institution", { exact: true }).fill(name)
      await ana.getByLabel("Region", { exact: true }).fill(region)
      if (organiser) await ana.getByLabel("organiser").check()
      await ana.getByRole("button", { name: "Add" }).first().click()
      await until(`${name} listed`, async () => (await ana.getByTestId("participants").innerText()).includes(name))
    }
    await add("University of Nairobi", "Sub-Saharan Africa", true)
    assert.match(await ana.getByTestId("regions").innerText(), /from 1 region\./)
    await add("KNOMAD", "Global")
    await until("cross-regional", async () => /Cross-regional/.test(await ana.getByTestId("regions").innerText()))
    await ana.getByLabel("A draft of the working group").selectOption(d.id)
    await ana.getByRole("button", { name: "Add" }).nth(1).click()
    await until("the draft discussed", async () => /Sending money home/.test(await ana.getByTestId("discussed").innerText()))
    await ana.getByTestId("minutes").fill("Costs fell to 6.2%.")
    await ana.getByRole("button", { name: "Save the minutes" }).click()
    await until("the minutes kept", () => a.kp("event", "show", id).minutes === "Costs fell to 6.2%.")
    // Ben opens the event too. Each writes in the minutes and saves, Ben from
    // the page he opened before Ana saved: both lines are kept. The same with
    // the event's details: Ana names the place, then Ben, on the page as he
    // opened it, changes the kind; the place stays.
    a.kp("space", "add-person", "Remittances WG", "ben", "--role", "editor")
    const ben = await personAt(browser, a, "ben")
    await ben.goto(`${a.url}/#/event/${id}`)
    await ben.getByTestId("minutes").waitFor()
    await ana.getByTestId("minutes").fill("Costs fell to 6.2%.\nAna: fees fell in 2025.")
    await ana.getByRole("button", { name: "Save the minutes" }).click()
    await until("Ana's line kept", () => a.kp("event", "show", id).minutes.includes("Ana:"))
    await ben.getByTestId("minutes").fill("Costs fell to 6.2%.\nBen: the 3% target is far.")
    await ben.getByRole("button", { name: "Save the minutes" }).click()
    await until("both lines kept", () => /Ana:[^]*Ben:|Ben:[^]*Ana:/.test(a.kp("event", "show", id).minutes))
    await ana.getByTestId("minutes").waitFor()
    await ana.getByLabel("Place", { exact: true }).fill("Nairobi")
    await ana.getByRole("button", { name: "Save", exact: true }).click()
    await until("the place kept", () => a.kp("event", "show", id).place === "Nairobi")
    await ben.getByLabel("Kind", { exact: true }).selectOption("conference")
    await ben.getByRole("button", { name: "Save", exact: true }).click()
    await until("the kind kept", () => a.kp("event", "show", id).kind === "conference")
    assert.equal(a.kp("event", "show", id).place, "Nairobi")
    assert.match(a.kp("event", "show", id).minutes, /Ana: fees fell in 2025\.[^]*Ben|Ben[^]*Ana: fees fell in 2025\./)
    // A bad day is refused, with the node's reason, and changes nothing.
    await ana.getByLabel("Last day").fill("2026-03-01")
    await ana.getByRole("button", { name: "Save", exact: true }).click()
    await until("the refusal", async () => /ends \(2026-03-01\) before it starts/.test(await ana.locator("#status").innerText()))
    await shot(ana, "event")
    const e = a.kp("event", "show", id)
    assert.equal(e.ends, "2026-03-02")
    assert.equal(e.cross_regional, true)
    assert.deepEqual(e.organisers, ["University of Nairobi"])
    assert.equal(e.discussed[0].id, d.id)
    const ind = a.kp("report", "indicators", "--from", "2026-01-01", "--to", "2026-12-31").indicators
    assert.equal(ind.find((i) => i.id === "3.2").value, 1)
    // The reader sees it and no control; a forged change is refused.
    const rita = await personAt(browser, a, "rita")
    await rita.goto(`${a.url}/#/event/${id}`)
    await rita.getByTestId("read-only").waitFor()
    assert.equal(await rita.getByRole("button").filter({ hasText: /Add|Save|Remove/ }).count(), 0)
    const forged = await rita.evaluate(
      (id) => fetch("/api/call/edit_event", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, title: "forged" }) }).then((r) => r.status),
      id,
    )
    assert.equal(forged, 403)
    assert.equal(a.kp("event", "show", id).title, "Remittance costs in East Africa")
    assert.deepEqual([...ana.errors, ...ben.errors, ...rita.errors].filter((x) => !/status of 4\d\d/.test(x)), [])
  }))

const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>`
const plugins = join(process.env.KP_BIN_DIR ?? new URL("../../../target/debug", import.meta.url).pathname, "../wasm32-wasip2/plugin")

/** A node with one of everything a person can write, each holding `text`:
 * a space, a draft (title and body), a comment and its reply, a version, a
 * referee's report, and a dataset (title, column and cell) with an analysis. */
async function everything(text) {
  const a = await new Node("Institute A").start()
  try {
    return made(a, text)
  } catch (e) {
    await a.cleanup()
    throw e
  }
}

function made(a, text) {
  a.kp("space", "create", "Remittances WG", "--theme", "7", "--description", `About ${text}`)
  const body = `# Findings ${text}\n\nRemittances grew ${text} in 2011.\n\n| country | ${text} |\n|---|---|\n| India | 58 |\n`
  const file = join(a.root, "body.md")
  writeFileSync(file, body)
  const d = a.kp("draft", "new", "--space", "Remittances WG", "--title", `Brief ${text}`, "--file", file, "--author", "ana")
  a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor", "--title", `author ${text}`)
  a.kp("space", "add-person", "Remittances WG", "carla", "--role", "admin", "--title", "chair")
  a.kp("space", "add-person", "Remittances WG", "ben", "--role", "reviewer")
  a.kp("comment", "add", d.id, "--quote", "Remittances grew", "--body", `Source? ${text}`)
  const c = a.kp("comment", "list", d.id).comments[0]
  a.kp("comment", "reply", d.id, c.id, "--body", `Reply ${text}`)
  a.kp("draft", "version", d.id, "sent-to-chair")
  a.kp("review", "submit-draft", d.id, "--author", "ana")
  a.kp("review", "assign", d.id, "--referee", `ben@${a.id}`, "--author", "carla")
  const report = join(a.root, "report.md")
  writeFileSync(report, `Report ${text}`)
  a.kp("review", "report", d.id, "--recommendation", "minor", "--file", report, "--author", "ben")
  const csv = join(a.root, "data.csv")
  writeFileSync(csv, `country,year,remittances_usd_bn,note\nIndia,2011,58,"${text.replace(/"/g, '""')}"\nChina,2011,57,plain\n"Mexico ${text.replace(/"/g, '""')}",2011,24,plain\n`)
  const ds = a.kp("dataset", "import", "--space", "Remittances WG", "--title", `Top recipients ${text}`, csv)
  a.kp("plugin", "install", join(plugins, "remittance_indicators.wasm"))
  const minutes = join(a.root, "minutes.md")
  writeFileSync(minutes, `Minutes ${text}`)
  const ev = a.kp("event", "new", "--space", "Remittances WG", "--title", `Workshop ${text}`, "--kind", "workshop",
    "--starts", "2026-03-02", "--place", `Nairobi ${text}`, "--participant", `Institute ${text} | Region ${text}`,
    "--participant", "KNOMAD | Global", "--discussed", d.id, "--minutes", minutes)
  return { a, d, ds, ev }
}

/** Opens each page of the workspace in turn (running an analysis on the
 * dataset's), and calls `visit(NAME)` on it. */
async function everyPage(page, { a, d, ds, ev }, visit) {
  const pages = {
    home: "#/",
    draft: `#/draft/${d.id}`,
    history: `#/draft/${d.id}/history`,
    dataset: `#/dataset/${ds.id}`,
    event: `#/event/${ev.id}`,
    indicators: "#/indicators",
  }
  for (const [name, hash] of Object.entries(pages)) {
    await page.goto(`${a.url}/${hash}`)
    await page.reload()
    await page.locator("main h1").first().waitFor()
    await page.waitForLoadState("networkidle")
    if (name === "dataset") {
      await page.getByRole("button", { name: "Run" }).click()
      await page.getByTestId("analysis").first().waitFor()
    }
    await visit(name)
  }
}

test("a <script> in every user field stays text, and runs nothing", async () => {
  const made = await everything(XSS)
  const { a } = made
  try {
    const ana = await personAt(browser, a, "ana")
    let dialogs = 0
    ana.on("dialog", (dl) => (dialogs++, dl.dismiss()))
    await everyPage(ana, made, async (name) => {
      if (name === "draft") {
        await ana.getByRole("button", { name: "Preview" }).click()
        await until("the preview", async () => /Findings/.test(await ana.getByTestId("preview").innerText()))
        assert.equal(await ana.getByTestId("preview").locator("img, script").count(), 0)
        assert.match(await ana.getByTestId("preview").innerText(), /<script>window.__xss=1<\/script>/)
        assert.match(await ana.getByTestId("comments").innerText(), /Reply <img src=x/)
        assert.match(await ana.getByTestId("review").innerText(), /Report <img src=x/)
      }
      if (name === "event") {
        assert.equal(await ana.getByTestId("minutes").inputValue(), `Minutes ${XSS}`)
        assert.match(await ana.getByTestId("participants").innerText(), /Institute <img src=x/)
      }
      if (name === "dataset") {
        // The report's figure, as the node drew it: the name is a label.
        const figure = ana.getByTestId("figure").first()
        assert.equal(await figure.locator("svg rect").count() > 0, true, "a drawn figure")
        assert.ok((await figure.locator("svg").textContent()).includes("Mexico <img src=x"))
        assert.equal(await figure.locator("script, foreignObject").count(), 0)
      }
      assert.ok((await ana.locator("main").innerText()).includes("<script>window.__xss=1</script>") || name === "indicators", name)
      assert.equal(await ana.evaluate(() => window.__xss), undefined, `${name} ran a script`)
      assert.equal(await ana.locator("main img, main script").count(), 0, name)
      await shot(ana, `xss-${name}`)
    })
    assert.equal(dialogs, 0)
    assert.deepEqual(ana.errors.filter((e) => !/Content Security Policy/.test(e)), [])
  } finally {
    await a.cleanup()
  }
})

test("every page of the workspace passes an accessibility check (axe-core)", async () => {
  const made = await everything("(2011)")
  const { a } = made
  try {
    const ana = await personAt(browser, a, "ana", { bypassCSP: true })
    const found = {}
    await everyPage(ana, made, async (name) => {
      await shot(ana, name)
      const v = await axeViolations(ana)
      if (v.length) found[name] = v
    })
    assert.deepEqual(found, {})
  } finally {
    await a.cleanup()
  }
})

test("the page and its files come from the node, compressed, under a policy with a fresh nonce", () =>
  withNodes(["Institute A"], async (a) => {
    const page = async () => {
      const r = await fetch(`${a.url}/`)
      assert.equal(r.status, 200)
      const html = await r.text()
      const csp = r.headers.get("content-security-policy")
      const nonce = html.match(/name="kp-style-nonce" content="([^"]+)"/)[1]
      assert.ok(csp.includes(`'nonce-${nonce}'`), csp)
      assert.ok(!/script-src[^;]*unsafe-inline/.test(csp), csp)
      assert.ok(!/<script>/.test(html), "no inline script")
      return nonce
    }
    assert.notEqual(await page(), await page(), "a nonce is fresh for each load")
    const gz = await fetch(`${a.url}/assets/app.js`, { headers: { "accept-encoding": "gzip" } })
    assert.equal(gz.headers.get("content-encoding"), "gzip")
    const js = await gz.text()
    const plain = await fetch(`${a.url}/assets/app.js`, { headers: { "accept-encoding": "identity" } })
    assert.equal(plain.headers.get("content-encoding"), null)
    assert.equal(await plain.text(), js)
    // Browsers keep the files, and ask again each time.
    const tag = plain.headers.get("etag")
    assert.equal(plain.headers.get("cache-control"), "no-cache")
    assert.equal((await fetch(`${a.url}/assets/app.js`, { headers: { "if-none-match": tag } })).status, 304)
    assert.equal((await fetch(`${a.url}/assets/app.js`, { headers: { "if-none-match": '"other"' } })).status, 200)
    const wasm = await fetch(`${a.url}/assets/automerge.wasm`)
    assert.equal(wasm.headers.get("content-type"), "application/wasm")
    assert.equal((await fetch(`${a.url}/assets/nothing.js`)).status, 404)
    assert.equal((await fetch(`${a.url}/assets/..%2Fkpd.toml`)).status, 404)

    // The calls: JSON only, from a logged-in person, named methods only.
    const session = await a.login("ana")
    const call = (method, body, type = "application/json", auth = `Bearer ${session}`) =>
      fetch(`${a.url}/api/call/${method}`, { method: "POST", headers: { "content-type": type, authorization: auth }, body })
    assert.equal((await call("home", "{}", "application/json", "")).status, 401)
    assert.equal((await call("home", "{}", "text/plain")).status, 415)
    assert.equal((await call("drop_everything", "{}")).status, 404)
    const bad = await call("get_draft", "{not json")
    assert.equal(bad.status, 400)
    assert.match((await bad.json()).error, /not a valid `get_draft` call/)
    const missing = await call("get_draft", JSON.stringify({ id: "nonsense" }))
    assert.equal(missing.status, 400)
    const huge = await call("preview", JSON.stringify({ text: "x".repeat(5 * 1024 * 1024) }))
    assert.equal(huge.status, 413)
    assert.match((await huge.json()).error, /max_text_kib/)
    const home = await (await call("home", "")).json()
    assert.equal(home.person, "ana")
  }))
