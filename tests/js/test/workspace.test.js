// The web workspace in a real browser (Debian's headless Chromium): people
// co-editing, offline work, anchored comments, the review story across two
// nodes, what a reader may do, escaping, and accessibility.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Node, draft, until } from "../kpd.js"
import { launch, personAt, shot, editorText } from "../browser.js"

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

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

test("two people co-edit one draft and see each other's words and cursors", async () => {
  const a = await new Node("Institute A").start()
  try {
    const d = draft(a, BODY)
    a.kp("space", "add-person", "Remittances WG", "ana", "--role", "editor")
    a.kp("space", "add-person", "Remittances WG", "ben", "--role", "editor")
    const ana = await personAt(browser, a, "ana")
    const ben = await personAt(browser, a, "ben")
    await openDraft(ana, a, d.id)
    await openDraft(ben, a, d.id)
    await typeAt(ana, "Ana adds a sentence.")
    await typeAt(ben, "Ben: ", true)
    for (const p of [ana, ben]) {
      await until("both people's words in each editor", async () => {
        const t = await editorText(p)
        p.lastText = t
        return t.includes("Ana adds a sentence.") && t.startsWith("Ben: # Sending")
      }).catch((e) => {
        throw new Error(`${e.message}; the editor holds ${JSON.stringify(p.lastText)}`)
      })
    }
    // Each sees the other in the draft, and their caret with their name.
    await until("ben's caret at ana's", async () => (await ana.locator(".caret-name").allInnerTexts()).includes("ben"))
    await until("ana's caret at ben's", async () => (await ben.locator(".caret-name").allInnerTexts()).includes("ana"))
    assert.match(await ana.getByTestId("people").innerText(), /ben/)
    await shot(ana, "draft-co-editing")
    // The node holds both, and says who wrote them.
    await until("the node to hold both edits", () => {
      const body = a.kp("draft", "show", d.id).body
      return body.includes("Ana adds a sentence.") && body.startsWith("Ben: ")
    })
    const blame = a.kp("doc", "blame", d.id).changes.map((c) => c.author)
    assert.ok(blame.includes("ana") && blame.includes("ben"), blame.join(","))
    assert.deepEqual([...ana.errors, ...ben.errors], [])
  } finally {
    await a.cleanup()
  }
})

test("a person offline keeps typing; back online, both texts merge with no lost word", async () => {
  const a = await new Node("Institute A").start()
  const b = await new Node("Institute B").start()
  try {
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
  } finally {
    await a.cleanup()
    await b.cleanup()
  }
})
